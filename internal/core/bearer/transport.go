package bearer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/internal/core/audience"
	"github.com/modernauth/mailauth/internal/core/httpx"
	"github.com/modernauth/mailauth/internal/core/tlsconf"
)

// Defaults used when the corresponding [Options] field is zero.
const (
	DefaultMaxRetries = 3
	DefaultMaxBackoff = 30 * time.Second
	// firstBackoff is the wait before the first retry of a 429/503 that
	// carries no Retry-After; it doubles on each retry, up to MaxBackoff.
	firstBackoff = 500 * time.Millisecond
)

// Options configures a [Transport]. Token and AllowedHosts are required.
type Options struct {
	// Token supplies access tokens; it is called for every request (a
	// caching source makes that cheap). If it has a method
	// TokenContext(context.Context) (*oauth2.Token, error), that is called
	// with the request's context instead of Token. If it has a method
	// Invalidate(*oauth2.Token), a 401 invalidates the token and the request
	// is retried once with a fresh one.
	Token oauth2.TokenSource

	// AllowedHosts lists the hosts that may receive the token, as "host" (any
	// port) or "host:port" (that port only), compared without regard to
	// case. Requests for other hosts fail with [*HostNotAllowedError]
	// without being sent.
	AllowedHosts []string

	// AudienceBound additionally lets the token go only to a host its
	// audience names ([audience.HostAllowed]): an Exchange Online token to
	// Exchange Online's hosts, a token for https://mail.contoso.com to that
	// host. Clients set it when their caller did not list the hosts it
	// trusts. A refused request fails with [*HostNotAllowedError] carrying
	// the audience, without being sent.
	AudienceBound bool

	// Base is the RoundTripper that sends the requests. Nil means
	// [http.DefaultTransport].
	Base http.RoundTripper

	// InsecureAllowHTTP allows sending the token over plain http. Use it
	// only for tests on loopback.
	InsecureAllowHTTP bool

	// MaxRetries caps the retries after 429 Too Many Requests and 503
	// Service Unavailable. Zero means [DefaultMaxRetries]; a negative value
	// disables them. The single retry after a 401 is not counted.
	MaxRetries int

	// MaxBackoff caps one wait between retries. When the server's
	// Retry-After asks for more, or the request context's deadline would
	// pass first, the response is returned to the caller instead of
	// waiting. Zero means [DefaultMaxBackoff].
	MaxBackoff time.Duration

	// Logger receives debug records about retries (host, status, wait).
	// They never contain tokens. Nil means no logging.
	Logger *slog.Logger
}

// Transport is an [http.RoundTripper] that adds a bearer token to each
// request; see the package documentation for its rules. It is safe for
// concurrent use. Create it with [New].
type Transport struct {
	src        oauth2.TokenSource
	hosts      map[string]bool // lower-cased "host" or "host:port"
	base       http.RoundTripper
	insecure   bool
	bound      bool // Options.AudienceBound
	maxRetries int
	maxBackoff time.Duration
	log        *slog.Logger

	// hdr caches the Authorization value of the last token seen, so that
	// a cached token (1-2 KB for Entra) is not copied into a new string on
	// every request. Atomic: RoundTrip runs concurrently.
	hdr atomic.Pointer[authHeader]
}

type authHeader struct {
	tok   *oauth2.Token
	value string
	aud   []string // the token's aud claim, decoded once when AudienceBound
}

// authHeaderFor returns "Bearer " + tok.AccessToken (and, when the
// transport is audience-bound, the token's audience), reusing the last
// result when tok is the same token as last time.
func (t *Transport) authHeaderFor(tok *oauth2.Token) *authHeader {
	if h := t.hdr.Load(); h != nil && h.tok == tok && tok.AccessToken == h.value[len("Bearer "):] {
		return h
	}
	h := &authHeader{tok: tok, value: "Bearer " + tok.AccessToken}
	if t.bound {
		h.aud = mailauth.ParseIdentity(tok.AccessToken).Audience
	}
	t.hdr.Store(h)
	return h
}

var _ http.RoundTripper = (*Transport)(nil)

// New returns a Transport configured by opts. It does no I/O.
func New(opts Options) (*Transport, error) {
	if opts.Token == nil {
		return nil, errors.New("bearer: Options.Token must be set")
	}
	if len(opts.AllowedHosts) == 0 {
		return nil, errors.New("bearer: Options.AllowedHosts must name at least one host")
	}
	t := &Transport{
		src:        opts.Token,
		hosts:      make(map[string]bool, len(opts.AllowedHosts)),
		base:       opts.Base,
		insecure:   opts.InsecureAllowHTTP,
		bound:      opts.AudienceBound,
		maxRetries: opts.MaxRetries,
		maxBackoff: opts.MaxBackoff,
		log:        opts.Logger,
	}
	for _, h := range opts.AllowedHosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" || strings.Contains(h, "/") {
			return nil, fmt.Errorf("bearer: AllowedHosts entry %q is not a host or host:port", h)
		}
		t.hosts[h] = true
	}
	if t.base == nil {
		t.base = http.DefaultTransport
	}
	if t.maxRetries == 0 {
		t.maxRetries = DefaultMaxRetries
	} else if t.maxRetries < 0 {
		t.maxRetries = 0
	}
	if t.maxBackoff <= 0 {
		t.maxBackoff = DefaultMaxBackoff
	}
	return t, nil
}

// String describes t by its allow-list; it never shows a token.
func (t *Transport) String() string {
	hosts := make([]string, 0, len(t.hosts))
	for h := range t.hosts {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	return "bearer.Transport{AllowedHosts: " + strings.Join(hosts, ",") + "}"
}

// GoString is like String.
func (t *Transport) GoString() string { return t.String() }

// Format prints the String form for every verb, so that no formatting
// reaches the token source.
func (t *Transport) Format(f fmt.State, _ rune) { io.WriteString(f, t.String()) }

// Client returns an http.Client that sends requests through t and uses
// [CheckRedirect]. It does no I/O.
func (t *Transport) Client() *http.Client {
	return &http.Client{Transport: t, CheckRedirect: CheckRedirect}
}

// Allowed reports whether a token may be sent to host ("host" or
// "host:port", as in URL.Host).
func (t *Transport) Allowed(host string) bool {
	host = strings.ToLower(host)
	if t.hosts[host] {
		return true
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		return t.hosts[h]
	}
	return t.hosts[strings.Trim(host, "[]")]
}

// CheckRedirect is an [http.Client] CheckRedirect policy for clients that
// carry bearer tokens. It stops after 10 redirects, refuses a redirect from
// https to http, and removes the Authorization header (for example one a
// caller set by hand) from a redirect to another host. A [Transport] never
// adds a token to a hop whose host differs from the first request's.
func CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("bearer: stopped after 10 redirects")
	}
	if len(via) == 0 {
		return nil
	}
	first := via[0]
	if first.URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("bearer: refusing a redirect from https to %s://%s", req.URL.Scheme, req.URL.Host)
	}
	if !sameOrigin(first, req) {
		req.Header.Del("Authorization")
	}
	return nil
}

func sameOrigin(a, b *http.Request) bool {
	return strings.EqualFold(a.URL.Scheme, b.URL.Scheme) && strings.EqualFold(canonicalHost(a.URL), canonicalHost(b.URL))
}

// canonicalHost returns host:port with the scheme's default port filled in.
func canonicalHost(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return strings.ToLower(u.Hostname()) + ":" + port
}

// firstRequest follows Request.Response back to the request that started a
// redirect chain.
func firstRequest(req *http.Request) *http.Request {
	for i := 0; i < 100 && req.Response != nil && req.Response.Request != nil; i++ {
		req = req.Response.Request
	}
	return req
}

func (t *Transport) token(ctx context.Context) (*oauth2.Token, error) {
	tok, err := mailauth.TokenContext(ctx, t.src)
	if errors.Is(err, mailauth.ErrNoToken) {
		return nil, fmt.Errorf("bearer: %w", err)
	}
	if err != nil {
		return nil, &TokenError{Err: err}
	}
	return tok, nil
}

// RoundTrip implements [http.RoundTripper]. It sends req with a bearer
// token, retrying as described in the package documentation, and returns
// the last response. It blocks while waiting between retries, at most until
// req's context is done.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	hasBody := req.Body != nil && req.Body != http.NoBody
	bodyOwned := hasBody // until the base transport takes it
	defer func() {
		if bodyOwned {
			req.Body.Close()
		}
	}()
	ctx := req.Context()

	// A redirect hop to another origin goes out without a token.
	withToken := true
	if req.Response != nil && !sameOrigin(firstRequest(req), req) {
		withToken = false
	}
	if withToken {
		if req.URL.Scheme != "https" {
			if !t.insecure {
				return nil, fmt.Errorf("bearer: %w: refusing plain http to %s; use https (InsecureAllowHTTP is for tests on loopback)", mailauth.ErrInsecure, req.URL.Host)
			}
			if err := tlsconf.CheckInsecure("InsecureAllowHTTP", req.URL.Host); err != nil {
				return nil, err
			}
		}
		if !t.Allowed(req.URL.Host) {
			return nil, &HostNotAllowedError{Host: req.URL.Host}
		}
	}

	replayable := !hasBody || req.GetBody != nil
	retried401 := false
	retriedClaims := false
	var claimsTok *oauth2.Token // the token acquired for a claims challenge
	retries := 0
	backoff := firstBackoff
	first := true
	for {
		var tok *oauth2.Token
		if withToken && claimsTok != nil {
			tok, claimsTok = claimsTok, nil
		} else if withToken {
			var err error
			if tok, err = t.token(ctx); err != nil {
				return nil, err
			}
		}
		r2 := req.Clone(ctx)
		if !first && hasBody {
			body, err := req.GetBody()
			if err != nil {
				return nil, fmt.Errorf("bearer: replaying the request body: %w", err)
			}
			r2.Body = body
		}
		if tok != nil {
			h := t.authHeaderFor(tok)
			if t.bound && !audience.HostAllowed(h.aud, req.URL.Host) {
				return nil, &HostNotAllowedError{Host: req.URL.Host, Audience: strings.Join(h.aud, " ")}
			}
			r2.Header.Set("Authorization", h.value)
		} else {
			r2.Header.Del("Authorization")
		}
		if first {
			bodyOwned = false // the base transport closes it now
		}
		first = false
		resp, err := t.base.RoundTrip(r2)
		if err != nil {
			return nil, err
		}

		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			if !withToken {
				return resp, nil
			}
			for _, c := range ParseChallenges(resp.Header.Values("WWW-Authenticate")) {
				if c.Claims == "" {
					continue
				}
				httpx.Drain(resp)
				cs, ok := t.src.(mailauth.ClaimsTokenSource)
				if !ok || retriedClaims || !replayable {
					return nil, &ChallengeError{StatusCode: resp.StatusCode, Challenge: c}
				}
				retriedClaims = true
				t.debug(ctx, "bearer: claims challenge, acquiring a token with the claims and retrying once", req, resp.StatusCode, 0)
				nt, err := cs.TokenWithClaims(ctx, c.Claims)
				if err != nil {
					return nil, &TokenError{Err: err}
				}
				if nt == nil || nt.AccessToken == "" {
					return nil, &ChallengeError{StatusCode: resp.StatusCode, Challenge: c}
				}
				claimsTok = nt
				break
			}
			if claimsTok != nil {
				continue
			}
			if resp.StatusCode == http.StatusForbidden || retried401 || !replayable {
				return resp, nil
			}
			if !mailauth.Invalidate(t.src, tok) {
				return resp, nil
			}
			retried401 = true
			t.debug(ctx, "bearer: 401, retrying once with a fresh token", req, resp.StatusCode, 0)
			httpx.Drain(resp)
			continue

		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			if retries >= t.maxRetries || !replayable {
				return resp, nil
			}
			wait, ok := httpx.RetryAfter(resp.Header.Get("Retry-After"), time.Now())
			if !ok {
				wait = min(backoff, t.maxBackoff)
				backoff *= 2
			}
			if wait > t.maxBackoff {
				return resp, nil
			}
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
				return resp, nil
			}
			t.debug(ctx, "bearer: server busy, waiting before retry", req, resp.StatusCode, wait)
			httpx.Drain(resp)
			if err := sleep(ctx, wait); err != nil {
				return nil, err
			}
			retries++
			continue
		}
		return resp, nil
	}
}

func (t *Transport) debug(ctx context.Context, msg string, req *http.Request, status int, wait time.Duration) {
	if t.log == nil {
		return
	}
	t.log.DebugContext(ctx, msg, slog.String("host", req.URL.Host), slog.Int("status", status), slog.Duration("wait", wait))
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}
