package bearer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modernauth/mailauth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// countingSource hands out "tok-1", "tok-2", ... ; a token stays current
// until Invalidate drops it.
type countingSource struct {
	mu          sync.Mutex
	n           int
	cur         *oauth2.Token
	fetches     int
	invalidated int
	ctxCalls    int
	lastCtx     context.Context
	err         error
}

func (s *countingSource) Token() (*oauth2.Token, error) { return s.TokenContext(context.Background()) }

func (s *countingSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ctxCalls++
	s.lastCtx = ctx
	if s.err != nil {
		return nil, s.err
	}
	if s.cur == nil {
		s.n++
		s.fetches++
		s.cur = &oauth2.Token{AccessToken: fmt.Sprintf("tok-%d", s.n), TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}
	}
	return s.cur, nil
}

func (s *countingSource) Invalidate(tok *oauth2.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == tok {
		s.cur = nil
		s.invalidated++
	}
}

type seen struct {
	mu     sync.Mutex
	auths  []string
	bodies []string
}

func (s *seen) add(r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auths = append(s.auths, r.Header.Get("Authorization"))
	s.bodies = append(s.bodies, string(b))
}

func (s *seen) get() ([]string, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auths...), append([]string(nil), s.bodies...)
}

func newServer(t *testing.T, h func(n int, w http.ResponseWriter, r *http.Request)) (*httptest.Server, *seen) {
	t.Helper()
	var n atomic.Int64
	s := &seen{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.add(r)
		h(int(n.Add(1)), w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

func newTransport(t *testing.T, srv *httptest.Server, src oauth2.TokenSource, mod func(*Options)) *Transport {
	t.Helper()
	u, _ := url.Parse(srv.URL)
	o := Options{Token: src, AllowedHosts: []string{u.Hostname()}, Base: srv.Client().Transport}
	if mod != nil {
		mod(&o)
	}
	tr, err := New(o)
	require.NoError(t, err, "New")
	return tr
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	_, err := New(Options{AllowedHosts: []string{"a"}})
	assert.ErrorContains(t, err, "Token")
	_, err = New(Options{Token: &countingSource{}})
	assert.ErrorContains(t, err, "AllowedHosts")
	_, err = New(Options{Token: &countingSource{}, AllowedHosts: []string{"https://a/"}})
	assert.Error(t, err)
}

func TestSetsBearerWithRequestContext(t *testing.T) {
	t.Parallel()
	srv, s := newServer(t, func(int, http.ResponseWriter, *http.Request) {})
	src := &countingSource{}
	tr := newTransport(t, srv, src, nil)
	type key struct{}
	ctx := context.WithValue(t.Context(), key{}, "marker")
	for range 3 {
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/x", nil)
		req.Header.Set("Authorization", "Basic c2VjcmV0")
		resp, err := tr.RoundTrip(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, "Basic c2VjcmV0", req.Header.Get("Authorization"), "the caller's request must not be modified")
	}
	auths, _ := s.get()
	assert.Equal(t, []string{"Bearer tok-1", "Bearer tok-1", "Bearer tok-1"}, auths)
	assert.Equal(t, 3, src.ctxCalls, "TokenContext once per request")
	assert.Equal(t, "marker", src.lastCtx.Value(key{}), "TokenContext gets the request's context")
}

func TestRefusesHostNotAllowed(t *testing.T) {
	t.Parallel()
	srv, s := newServer(t, func(int, http.ResponseWriter, *http.Request) {})
	src := &countingSource{}
	tr, err := New(Options{Token: src, AllowedHosts: []string{"outlook.office365.com"}, Base: srv.Client().Transport})
	require.NoError(t, err)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	_, err = tr.RoundTrip(req)
	var he *HostNotAllowedError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, strings.TrimPrefix(srv.URL, "https://"), he.Host)
	auths, _ := s.get()
	assert.Empty(t, auths, "nothing may be sent")
	assert.Equal(t, 0, src.ctxCalls, "no token fetched for a refused host")
}

func TestAllowedHostPort(t *testing.T) {
	t.Parallel()
	tr, err := New(Options{Token: &countingSource{}, AllowedHosts: []string{"A.example", "b.example:8443", "::1"}})
	require.NoError(t, err)
	assert.True(t, tr.Allowed("a.example"))
	assert.True(t, tr.Allowed("a.example:444"))
	assert.True(t, tr.Allowed("b.example:8443"))
	assert.False(t, tr.Allowed("b.example:443"))
	assert.False(t, tr.Allowed("b.example"))
	assert.True(t, tr.Allowed("[::1]:99"))
	assert.False(t, tr.Allowed("a.example.evil"))
}

func TestRefusesPlainHTTP(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("Authorization") != "Bearer tok-1" {
			w.WriteHeader(400)
		}
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	tr, err := New(Options{Token: &countingSource{}, AllowedHosts: []string{u.Hostname()}})
	require.NoError(t, err)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	_, err = tr.RoundTrip(req)
	require.ErrorIs(t, err, mailauth.ErrInsecure)
	assert.EqualValues(t, 0, hits.Load())

	// InsecureAllowHTTP holds on loopback only.
	tr, err = New(Options{Token: &countingSource{}, AllowedHosts: []string{"mail.contoso.test"}, InsecureAllowHTTP: true})
	require.NoError(t, err)
	far, _ := http.NewRequest("GET", "http://mail.contoso.test/EWS/Exchange.asmx", nil)
	_, err = tr.RoundTrip(far)
	require.ErrorIs(t, err, mailauth.ErrInsecure)
	assert.ErrorContains(t, err, "mail.contoso.test")

	tr, err = New(Options{Token: &countingSource{}, AllowedHosts: []string{u.Hostname()}, InsecureAllowHTTP: true})
	require.NoError(t, err)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
}

func TestRedirectToOtherHostGetsNoToken(t *testing.T) {
	t.Parallel()
	other, otherSeen := newServer(t, func(int, http.ResponseWriter, *http.Request) {})
	srv, s := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/final", http.StatusFound)
		case "/cross":
			http.Redirect(w, r, other.URL+"/landing", http.StatusTemporaryRedirect)
		}
	})
	// Both servers are on 127.0.0.1 and the host is allowed: only the
	// origin (port) differs, which is enough to withhold the token.
	tr := newTransport(t, srv, &countingSource{}, nil)
	c := tr.Client()

	resp, err := c.Get(srv.URL + "/same")
	require.NoError(t, err)
	resp.Body.Close()
	auths, _ := s.get()
	assert.Equal(t, []string{"Bearer tok-1", "Bearer tok-1"}, auths, "same-origin redirect keeps the token")

	req, _ := http.NewRequest("POST", srv.URL+"/cross", strings.NewReader("payload"))
	req.Header.Set("Authorization", "Bearer caller-set")
	resp, err = c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	otherAuths, otherBodies := otherSeen.get()
	require.Len(t, otherAuths, 1)
	assert.Empty(t, otherAuths[0], "a cross-host redirect must carry no token")
	assert.Equal(t, "payload", otherBodies[0])
}

func TestCheckRedirectRefusesDowngrade(t *testing.T) {
	t.Parallel()
	first, _ := http.NewRequest("GET", "https://a.example/", nil)
	next, _ := http.NewRequest("GET", "http://a.example/", nil)
	assert.Error(t, CheckRedirect(next, []*http.Request{first}))
	cross, _ := http.NewRequest("GET", "https://b.example/", nil)
	cross.Header.Set("Authorization", "Bearer x")
	assert.NoError(t, CheckRedirect(cross, []*http.Request{first}))
	assert.Empty(t, cross.Header.Get("Authorization"))
	same, _ := http.NewRequest("GET", "https://a.example:443/p", nil)
	same.Header.Set("Authorization", "Bearer x")
	assert.NoError(t, CheckRedirect(same, []*http.Request{first}))
	assert.Equal(t, "Bearer x", same.Header.Get("Authorization"))
	assert.Error(t, CheckRedirect(same, make([]*http.Request, 10)))
}

func Test401InvalidatesAndRetriesOnceWithBody(t *testing.T) {
	t.Parallel()
	srv, s := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("WWW-Authenticate", `Bearer client_id="00000002-0000-0ff1-ce00-000000000000", error="invalid_token"`)
			w.WriteHeader(401)
		}
	})
	src := &countingSource{}
	tr := newTransport(t, srv, src, nil)
	req, _ := http.NewRequest("POST", srv.URL, bytes.NewReader([]byte("<soap/>")))
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	auths, bodies := s.get()
	assert.Equal(t, []string{"Bearer tok-1", "Bearer tok-2"}, auths)
	assert.Equal(t, []string{"<soap/>", "<soap/>"}, bodies, "body replayed")
	assert.Equal(t, 2, src.fetches, "exactly two token fetches")
	assert.Equal(t, 1, src.invalidated)
}

func Test401TwiceReturnsResponse(t *testing.T) {
	t.Parallel()
	srv, s := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) })
	src := &countingSource{}
	tr := newTransport(t, srv, src, nil)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 401, resp.StatusCode)
	auths, _ := s.get()
	assert.Len(t, auths, 2, "retry once, never more")
	assert.Equal(t, 2, src.fetches)
}

func Test401WithoutInvalidateIsNotRetried(t *testing.T) {
	t.Parallel()
	srv, s := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) })
	tr := newTransport(t, srv, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "static"}), nil)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	auths, _ := s.get()
	assert.Equal(t, []string{"Bearer static"}, auths)
}

func Test401BodyWithoutGetBodyIsNotRetried(t *testing.T) {
	t.Parallel()
	srv, s := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) })
	tr := newTransport(t, srv, &countingSource{}, nil)
	req, _ := http.NewRequest("POST", srv.URL, io.NopCloser(strings.NewReader("once")))
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	auths, _ := s.get()
	assert.Len(t, auths, 1)
}

func TestClaimsChallengeIsTypedError(t *testing.T) {
	t.Parallel()
	claims := `{"access_token":{"nbf":{"essential":true,"value":"1602013000"}}}`
	srv, s := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="`+
			base64Std(claims)+`"`)
		w.WriteHeader(401)
	})
	src := &countingSource{}
	tr := newTransport(t, srv, src, nil)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	_, err := tr.RoundTrip(req)
	var ce *ChallengeError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 401, ce.StatusCode)
	assert.Equal(t, claims, ce.Challenge.Claims)
	assert.Equal(t, "insufficient_claims", ce.Challenge.Error)
	assert.Equal(t, "https://login.microsoftonline.com/common/oauth2/authorize", ce.Challenge.AuthorizationURI)
	auths, _ := s.get()
	assert.Len(t, auths, 1, "a claims challenge is not retried")
	assert.NotContains(t, err.Error(), "tok-1")
}

func TestRetryAfter429(t *testing.T) {
	t.Parallel()
	srv, s := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(429)
		}
	})
	tr := newTransport(t, srv, &countingSource{}, nil)
	req, _ := http.NewRequest("POST", srv.URL, strings.NewReader("b"))
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	_, bodies := s.get()
	assert.Equal(t, []string{"b", "b"}, bodies)
}

func TestBackoff503WithoutRetryAfter(t *testing.T) {
	t.Parallel()
	srv, s := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n <= 2 {
			w.WriteHeader(503)
		}
	})
	tr := newTransport(t, srv, &countingSource{}, func(o *Options) { o.MaxBackoff = 50 * time.Millisecond })
	req, _ := http.NewRequest("GET", srv.URL, nil)
	start := time.Now()
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond, "two capped waits of 50ms")
	auths, _ := s.get()
	assert.Len(t, auths, 3)
}

func TestRetriesCapped(t *testing.T) {
	t.Parallel()
	srv, s := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(503)
	})
	tr := newTransport(t, srv, &countingSource{}, func(o *Options) { o.MaxRetries = 2 })
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 503, resp.StatusCode)
	auths, _ := s.get()
	assert.Len(t, auths, 3, "first try + MaxRetries")
}

func TestRetryAfterBeyondCapReturnsResponse(t *testing.T) {
	t.Parallel()
	srv, s := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(429)
	})
	tr := newTransport(t, srv, &countingSource{}, nil)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	start := time.Now()
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 429, resp.StatusCode)
	assert.Less(t, time.Since(start), 60*time.Second, "did not wait 120 s")
	auths, _ := s.get()
	assert.Len(t, auths, 1)
}

func TestBackoffRespectsContext(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "25")
		w.WriteHeader(503)
	})
	tr := newTransport(t, srv, &countingSource{}, nil)

	// A deadline sooner than the wait: the response comes back at once.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	start := time.Now()
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 503, resp.StatusCode)
	assert.Less(t, time.Since(start), 9*time.Second, "did not wait for a Retry-After past the deadline")

	// Cancellation during the wait ends it with the context's error.
	ctx2, cancel2 := context.WithCancel(t.Context())
	defer cancel2()
	req, _ = http.NewRequestWithContext(ctx2, "GET", srv.URL, nil)
	done := make(chan error, 1)
	start = time.Now()
	go func() {
		_, err := tr.RoundTrip(req)
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	cancel2()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		assert.Less(t, time.Since(start), 20*time.Second)
	case <-time.After(20 * time.Second):
		t.Fatal("the wait did not end with the context")
	}
}

func TestTokenErrorWrapped(t *testing.T) {
	t.Parallel()
	srv, s := newServer(t, func(int, http.ResponseWriter, *http.Request) {})
	inner := &oauth2.RetrieveError{ErrorCode: "invalid_client"}
	tr := newTransport(t, srv, &countingSource{err: inner}, nil)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	_, err := tr.RoundTrip(req)
	var te *TokenError
	require.ErrorAs(t, err, &te)
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	auths, _ := s.get()
	assert.Empty(t, auths)

	tr = newTransport(t, srv, oauth2.StaticTokenSource(&oauth2.Token{}), nil)
	_, err = tr.RoundTrip(req)
	assert.ErrorIs(t, err, mailauth.ErrNoToken)
}

func TestNoTokenInLogs(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.WriteHeader(401)
			return
		}
		if n == 2 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(503)
		}
	})
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tr := newTransport(t, srv, &countingSource{}, func(o *Options) { o.Logger = log })
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Contains(t, buf.String(), "status=401")
	assert.Contains(t, buf.String(), "status=503")
	assert.NotContains(t, buf.String(), "tok-")
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", tr, tr, tr), "tok-")
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, func(int, http.ResponseWriter, *http.Request) {})
	tr := newTransport(t, srv, &countingSource{}, nil)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", srv.URL, strings.NewReader("x"))
			resp, err := tr.RoundTrip(req)
			if assert.NoError(t, err) {
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
}

var _ = errors.New

// onceBody fails a second read, so a retry that does not call GetBody
// cannot go unnoticed.
type onceBody struct {
	r   *strings.Reader
	eof bool
}

func (b *onceBody) Read(p []byte) (int, error) {
	if b.eof {
		return 0, errors.New("body read after EOF")
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *onceBody) Close() error { return nil }

func TestRetryReplaysBodyThroughGetBody(t *testing.T) {
	t.Parallel()
	srv, s := newServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 1:
			w.WriteHeader(401)
		case 2:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(503)
		}
	})
	tr := newTransport(t, srv, &countingSource{}, nil)
	const payload = "<soap:Envelope/>"
	req, _ := http.NewRequest("POST", srv.URL, &onceBody{r: strings.NewReader(payload)})
	req.ContentLength = int64(len(payload))
	var getBodies atomic.Int64
	req.GetBody = func() (io.ReadCloser, error) {
		getBodies.Add(1)
		return &onceBody{r: strings.NewReader(payload)}, nil
	}
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	_, bodies := s.get()
	assert.Equal(t, []string{payload, payload, payload}, bodies)
	assert.EqualValues(t, 2, getBodies.Load(), "one GetBody per retry")
}
