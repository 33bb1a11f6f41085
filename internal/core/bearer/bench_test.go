package bearer

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// hitSource is a cache hit: an atomic load, as tokencache's hit path.
type hitSource struct{ p atomic.Pointer[oauth2.Token] }

func (s *hitSource) Token() (*oauth2.Token, error) { return s.p.Load(), nil }

func (s *hitSource) TokenContext(context.Context) (*oauth2.Token, error) { return s.p.Load(), nil }

func (s *hitSource) Invalidate(*oauth2.Token) {}

func benchClients(b *testing.B, tlsOn bool) (plain, withBearer *http.Client, target, auth string) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<ok/>") })
	var srv *httptest.Server
	if tlsOn {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	b.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	src := &hitSource{}
	tok := &oauth2.Token{AccessToken: "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + strings.Repeat("x", 1200), Expiry: time.Now().Add(time.Hour)}
	src.p.Store(tok)
	// Two separate connection pools of the same configuration.
	newBase := func() http.RoundTripper {
		if tlsOn {
			return srv.Client().Transport.(*http.Transport).Clone()
		}
		return http.DefaultTransport.(*http.Transport).Clone()
	}
	tr, err := New(Options{Token: src, AllowedHosts: []string{u.Hostname()}, Base: newBase(), InsecureAllowHTTP: !tlsOn})
	if err != nil {
		b.Fatal(err)
	}
	return &http.Client{Transport: newBase()}, tr.Client(), srv.URL, "Bearer " + tok.AccessToken
}

func get(b *testing.B, c *http.Client, target, auth string) {
	req, _ := http.NewRequest("GET", target, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// BenchmarkOverhead measures one GET over a kept-alive loopback connection
// through a plain http.Client that sets the same Authorization header by
// hand (the anchor) and through the bearer Transport, alternating the two
// (and their order) in the same loop so that machine noise hits both
// alike. It reports each path's ns/req and the Transport's overhead in
// percent of the anchor.
func BenchmarkOverhead(b *testing.B) {
	for _, mode := range []struct {
		name string
		tls  bool
	}{{"tls", true}, {"http", false}} {
		b.Run(mode.name, func(b *testing.B) {
			plain, bearerClient, target, auth := benchClients(b, mode.tls)
			get(b, plain, target, auth)
			get(b, bearerClient, target, "")
			var tPlain, tBearer time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%2 == 0 {
					t0 := time.Now()
					get(b, plain, target, auth)
					t1 := time.Now()
					get(b, bearerClient, target, "")
					tBearer += time.Since(t1)
					tPlain += t1.Sub(t0)
				} else {
					t0 := time.Now()
					get(b, bearerClient, target, "")
					t1 := time.Now()
					get(b, plain, target, auth)
					tPlain += time.Since(t1)
					tBearer += t1.Sub(t0)
				}
			}
			b.ReportMetric(float64(tPlain.Nanoseconds())/float64(b.N), "plain-ns/req")
			b.ReportMetric(float64(tBearer.Nanoseconds())/float64(b.N), "bearer-ns/req")
			b.ReportMetric(100*(float64(tBearer)-float64(tPlain))/float64(tPlain), "overhead-%")
		})
	}
}

// BenchmarkRoundTripOnly is the transport's own cost: RoundTrip over a base
// that answers at once, without any network.
func BenchmarkRoundTripOnly(b *testing.B) {
	src := &hitSource{}
	src.p.Store(&oauth2.Token{AccessToken: "tok", Expiry: time.Now().Add(time.Hour)})
	resp := &http.Response{StatusCode: 200, Body: http.NoBody}
	base := roundTripFunc(func(*http.Request) (*http.Response, error) { return resp, nil })
	tr, err := New(Options{Token: src, AllowedHosts: []string{"outlook.office365.com"}, Base: base})
	if err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "https://outlook.office365.com/EWS/Exchange.asmx", nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.RoundTrip(req); err != nil {
			b.Fatal(err)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
