package graph

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/core/audience"
	"github.com/modernauth/mailauth/internal/core/bearer"
	"github.com/modernauth/mailauth/internal/core/httpx"
	"github.com/modernauth/mailauth/internal/core/tlsconf"
)

// Defaults and limits of the client and of Graph.
const (
	// DefaultMaxConcurrent is Outlook's limit of concurrent requests per app per mailbox,
	// which the client keeps to by itself.
	DefaultMaxConcurrent = 4
	// DefaultMaxRetries caps the retries of one request after 429, 503 or 504.
	DefaultMaxRetries = 5
	// DefaultMaxResponseBytes caps a JSON response the client reads whole.
	DefaultMaxResponseBytes = 64 << 20
	// MaxRequestBytes is Graph's limit on a request body (4 MB). Larger MIME messages are
	// sent through a draft and upload sessions (see [Client.SendMIME]).
	MaxRequestBytes = 4 << 20
	// MaxAttachmentSize is the largest attachment an upload session takes (150 MB).
	MaxAttachmentSize = 150 << 20
	// ChunkUnit is the unit upload chunks are a multiple of (320 KiB).
	ChunkUnit = 320 << 10
	// DefaultChunkSize is 12 × 320 KiB = 3.75 MiB, the largest multiple under Graph's 4 MB
	// per PUT.
	DefaultChunkSize = 12 * ChunkUnit

	// firstBackoff is the first wait after a 429/503/504 without Retry-After; it doubles.
	firstBackoff = time.Second
	maxBackoff   = time.Minute
	apiVersion   = "/v1.0"
)

// Options configures a [Client]. Token is required; a nil *Options is the zero value (and
// fails for the want of a Token).
type Options struct {
	// Token supplies Microsoft Graph access tokens (audience https://graph.microsoft.com, or
	// the cloud's GraphURL): app-only with scope Cloud.GraphAppOnlyScope(), delegated with
	// Cloud.GraphDelegatedScopes(). It is asked for a token on every request, through
	// TokenContext when it has one; a source with Invalidate gets one retry after a 401.
	// A token for Exchange Online is refused before it is sent, with a hint.
	Token oauth2.TokenSource

	// Mailbox is the mailbox to open: empty means /me (the signed-in user of a delegated
	// token); otherwise /users/{Mailbox}, a user principal name, SMTP address or object id
	// (a shared mailbox, another user's with a delegated *.Shared permission, or any mailbox
	// with an app-only token).
	Mailbox string

	// URL is the Graph endpoint, scheme and host with no version; the client adds /v1.0.
	// Empty means Cloud.GraphURL.
	URL string

	// Cloud is the Microsoft cloud; its zero value means cloud.Global. It names the default
	// URL and the host that may receive the token.
	Cloud cloud.Cloud

	// Transport sends the requests (under the bearer layer, and alone for the
	// pre-authorised upload URLs, which get no token). Nil means a clone of
	// http.DefaultTransport.
	Transport http.RoundTripper

	// AllowedHosts lists more hosts ("host" or "host:port") that may receive the token,
	// besides Cloud.GraphURL's and URL's. An @odata.nextLink on any other host is refused
	// without being requested.
	AllowedHosts []string

	// InsecureAllowHTTP allows an http:// URL on a loopback address (tests). It never
	// applies to other hosts: New fails with an error wrapping mailauth.ErrInsecure.
	InsecureAllowHTTP bool

	// ImmutableIDs asks Graph for immutable ids (Prefer: IdType="ImmutableId") on every
	// request: ids that survive a move to another folder. Ids of both kinds are accepted on
	// input either way; see [Client.TranslateExchangeIDs] for EWS ids.
	ImmutableIDs bool

	// MaxConcurrent caps the requests in flight for one mailbox. Zero means
	// [DefaultMaxConcurrent] (Outlook's limit); a higher value only earns 429s.
	MaxConcurrent int

	// MaxRetries caps the retries of one request after 429, 503 or 504. Zero means
	// [DefaultMaxRetries]; negative disables them. Every wait (Retry-After, else a doubling
	// back-off from 1 s) is cut short by the request's context: when the context would end
	// first, the *Error is returned at once with its RetryAfter.
	MaxRetries int

	// ChunkSize is the size of one upload-session PUT: a multiple of 320 KiB of at most
	// 4 MB. Zero means [DefaultChunkSize].
	ChunkSize int

	// Logger receives debug records (method, path, status, waits); never a token, a query
	// string or an upload URL. Nil means no logging.
	Logger *slog.Logger
}

// Client is a Microsoft Graph mail client for one mailbox. It is safe for concurrent use;
// requests for one mailbox wait for one of its MaxConcurrent slots. Create it with [New].
type Client struct {
	base      *url.URL // scheme://host
	api       string   // base + "/v1.0"
	root      string   // "/me" or "/users/{escaped mailbox}"
	mailbox   string
	src       oauth2.TokenSource // guarded
	bearer    *bearer.Transport
	http      *http.Client // token-bearing
	plain     *http.Client // no token: upload URLs
	nofollow  *http.Client // token-bearing, returns redirects instead of following them
	insecure  bool
	immutable bool
	retries   int
	chunk     int
	maxBody   int64
	log       *slog.Logger
	slots     *slots
}

// New returns a client for opts. It does no I/O.
func New(opts *Options) (*Client, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Token == nil {
		return nil, errors.New("graph: Options.Token must be set (a source of Microsoft Graph tokens, e.g. scope https://graph.microsoft.com/.default)")
	}
	if o.Cloud.Name == "" && o.Cloud.GraphURL == "" {
		o.Cloud = cloud.Global
	}
	raw := o.URL
	if raw == "" {
		raw = o.Cloud.GraphURL
	}
	if raw == "" {
		return nil, errors.New("graph: Options.URL must be set (the cloud has no GraphURL)")
	}
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("graph: Options.URL %q is not an https URL of a Graph endpoint", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, apiVersion)
	if u.Scheme == "http" {
		if !o.InsecureAllowHTTP {
			return nil, fmt.Errorf("%w: graph: Options.URL %s is plain http (set InsecureAllowHTTP for a loopback test server)", mailauth.ErrInsecure, raw)
		}
		if err := tlsconf.CheckInsecure("graph: InsecureAllowHTTP", u.Host); err != nil {
			return nil, err
		}
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = DefaultChunkSize
	}
	if o.ChunkSize < 0 || o.ChunkSize%ChunkUnit != 0 || o.ChunkSize > MaxRequestBytes {
		return nil, fmt.Errorf("graph: Options.ChunkSize %d is not a multiple of 320 KiB of at most 4 MB", o.ChunkSize)
	}
	base := o.Transport
	if base == nil {
		base = httpx.Transport()
	}
	hosts := []string{strings.ToLower(u.Host)}
	if h := o.Cloud.GraphHost(); h != "" {
		hosts = append(hosts, h)
	}
	hosts = append(hosts, o.AllowedHosts...)
	src := audience.Guard(o.Token, audience.Graph)
	bt, err := bearer.New(bearer.Options{
		Token:             src,
		AllowedHosts:      hosts,
		Base:              base,
		InsecureAllowHTTP: u.Scheme == "http",
		MaxRetries:        -1, // the client retries 429/503/504 itself, within the mailbox's slots
		Logger:            o.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("graph: %w", err)
	}
	c := &Client{
		base:      u,
		api:       u.String() + apiVersion,
		mailbox:   strings.TrimSpace(o.Mailbox),
		src:       src,
		bearer:    bt,
		http:      &http.Client{Transport: bt, CheckRedirect: bearer.CheckRedirect},
		plain:     &http.Client{Transport: base, CheckRedirect: useLastResponse},
		nofollow:  &http.Client{Transport: bt, CheckRedirect: useLastResponse},
		insecure:  o.InsecureAllowHTTP,
		immutable: o.ImmutableIDs,
		retries:   o.MaxRetries,
		chunk:     o.ChunkSize,
		maxBody:   DefaultMaxResponseBytes,
		log:       o.Logger,
		slots:     &slots{limit: o.MaxConcurrent, byBox: map[string]chan struct{}{}},
	}
	if c.retries == 0 {
		c.retries = DefaultMaxRetries
	} else if c.retries < 0 {
		c.retries = 0
	}
	if c.slots.limit <= 0 {
		c.slots.limit = DefaultMaxConcurrent
	}
	c.root = rootFor(c.mailbox)
	return c, nil
}

func useLastResponse(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func rootFor(mailbox string) string {
	if mailbox == "" || strings.EqualFold(mailbox, "me") {
		return "/me"
	}
	return "/users/" + url.PathEscape(mailbox)
}

// ForMailbox returns a client for another mailbox that shares c's token, transport and
// per-mailbox request slots (so many clients made this way still keep to MaxConcurrent
// per mailbox). Empty means /me. It does no I/O.
func (c *Client) ForMailbox(mailbox string) *Client {
	c2 := *c
	c2.mailbox = strings.TrimSpace(mailbox)
	c2.root = rootFor(c2.mailbox)
	return &c2
}

// Mailbox returns the mailbox the client opens; "" means /me.
func (c *Client) Mailbox() string { return c.mailbox }

// URL returns the API root the client sends to, such as "https://graph.microsoft.com/v1.0".
func (c *Client) URL() string { return c.api }

// String describes the client without secrets.
func (c *Client) String() string {
	return fmt.Sprintf("graph.Client{URL:%q Mailbox:%q}", c.api, c.root[1:])
}

// GoString is like String.
func (c *Client) GoString() string { return c.String() }

// slots caps the requests in flight per mailbox.
type slots struct {
	limit int
	mu    sync.Mutex
	byBox map[string]chan struct{} // guarded by mu
}

func (s *slots) acquire(ctx context.Context, box string) (release func(), err error) {
	s.mu.Lock()
	ch := s.byBox[box]
	if ch == nil {
		ch = make(chan struct{}, s.limit)
		s.byBox[box] = ch
	}
	s.mu.Unlock()
	select {
	case ch <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var once sync.Once
	return func() { once.Do(func() { <-ch }) }, nil
}

// slotKey names the mailbox a request counts against.
func (c *Client) slotKey() string { return strings.ToLower(c.root) }

// call is one logical request; it may be sent several times.
type call struct {
	method string
	url    string // absolute
	body   []byte
	ctype  string
	accept string
	prefer []string
	header http.Header
	plain  bool // a pre-authorised URL: sent without a token, through the plain client
	stream bool // the caller reads the body; its slot is held until Close
	// redirect returns a 3xx with a Location to the caller instead of following it.
	redirect bool
	// secretURL marks a URL whose path is a credential (a report download): it is never
	// logged nor shown in an error beyond its scheme and host.
	secretURL bool
	op        string
}

// path returns the absolute URL of a path under the mailbox root ("/mailFolders/inbox").
func (c *Client) path(p string) string { return c.api + c.root + p }

// do sends k, retrying 429/503/504, and returns a 2xx response or an error (*Error for
// Graph's refusals). The response body must be closed; for non-stream calls the slot is
// released when do returns.
func (c *Client) do(ctx context.Context, k *call) (*http.Response, error) {
	crid := newRequestID()
	backoff := firstBackoff
	for attempt := 0; ; attempt++ {
		release, err := c.slots.acquire(ctx, c.slotKey())
		if err != nil {
			return nil, err
		}
		resp, err := c.send(ctx, k, crid)
		if err != nil {
			release()
			return nil, err
		}
		if resp.StatusCode < 300 || (k.redirect && isRedirect(resp)) {
			if k.stream {
				resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
			} else {
				release()
			}
			return resp, nil
		}
		e := c.errorFrom(ctx, k, resp)
		release()
		if !retryable(resp.StatusCode) || attempt >= c.retries {
			return nil, e
		}
		wait, ok := e.RetryAfter, e.RetryAfter > 0
		if !ok {
			wait = backoff
			backoff = min(backoff*2, maxBackoff)
		}
		if dl, has := ctx.Deadline(); has && time.Until(dl) < wait {
			return nil, e
		}
		if c.log != nil {
			c.log.DebugContext(ctx, "graph: throttled, waiting before retry", slog.String("op", k.op),
				slog.Int("status", resp.StatusCode), slog.Duration("wait", wait), slog.String("request-id", e.RequestID))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

func isRedirect(resp *http.Response) bool {
	return resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.Header.Get("Location") != ""
}

func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

// send makes one HTTP exchange.
func (c *Client) send(ctx context.Context, k *call, crid string) (*http.Response, error) {
	var body io.Reader
	if k.body != nil {
		body = bytes.NewReader(k.body)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, k.url, body)
	if err != nil {
		return nil, fmt.Errorf("graph: %s: %w", k.op, err)
	}
	for name, v := range k.header {
		req.Header[name] = v
	}
	if k.ctype != "" {
		req.Header.Set("Content-Type", k.ctype)
	}
	if k.plain {
		req.Header.Del("Authorization")
	} else {
		req.Header.Set("client-request-id", crid)
		req.Header.Set("return-client-request-id", "true")
		accept := k.accept
		if accept == "" {
			accept = "application/json"
		}
		req.Header.Set("Accept", accept)
		prefer := k.prefer
		if c.immutable {
			prefer = append(prefer[:len(prefer):len(prefer)], `IdType="ImmutableId"`)
		}
		if len(prefer) > 0 {
			req.Header.Set("Prefer", strings.Join(prefer, ", "))
		}
	}
	hc := c.http
	switch {
	case k.plain:
		hc = c.plain
	case k.redirect:
		hc = c.nofollow
	}
	resp, err := hc.Do(req)
	if c.log != nil {
		st := 0
		if resp != nil {
			st = resp.StatusCode
		}
		path := req.URL.Path
		if k.secretURL {
			path = "(pre-authorised URL)"
		}
		c.log.DebugContext(ctx, "graph: request", slog.String("op", k.op), slog.String("method", k.method),
			slog.String("path", path), slog.Int("status", st))
	}
	if err != nil {
		return nil, c.transportError(k, err)
	}
	return resp, nil
}

// transportError wraps err; it never shows a query string (an upload URL's authtoken) and
// turns the token checks into the package's errors.
func (c *Client) transportError(k *call, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery, u.Fragment = "", ""
			if k.secretURL {
				u.Path, u.RawPath = "", ""
			}
			err = &url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}
		}
	}
	var ae *audience.Error
	if errors.As(err, &ae) {
		return &wrongAudienceError{op: k.op, err: ae}
	}
	var ce *bearer.ChallengeError
	if errors.As(err, &ce) {
		return &Error{Op: k.op, StatusCode: ce.StatusCode, Code: "InvalidAuthenticationToken",
			Message: "the server asked for a token with more claims (" + ce.Challenge.Error + ")", Claims: ce.Challenge.Claims, Mailbox: c.mailbox}
	}
	var hn *bearer.HostNotAllowedError
	if errors.As(err, &hn) {
		return fmt.Errorf("%w: %s: %s", ErrUntrustedLink, k.op, hn.Host)
	}
	if errors.Is(err, mailauth.ErrInsecure) {
		return fmt.Errorf("graph: %s: %w", k.op, err)
	}
	return fmt.Errorf("graph: %s: %w", k.op, err)
}

// releasingBody releases a mailbox slot when the caller closes a streamed body.
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}

// newRequestID returns a random UUID (version 4) for client-request-id.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// readAll reads a response body whole, up to the client's cap, and closes it.
func (c *Client) readAll(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("graph: reading the response: %w", err)
	}
	if int64(len(b)) > c.maxBody {
		return nil, fmt.Errorf("graph: the response is larger than %d bytes", c.maxBody)
	}
	return b, nil
}

// checkLink checks that a link Graph returned (@odata.nextLink, @odata.deltaLink) may
// receive the token: the same scheme as the endpoint and a host on the allow-list.
func (c *Client) checkLink(link string) error {
	u, err := url.Parse(link)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("%w: %q is not an absolute URL", ErrUntrustedLink, redactQuery(link))
	}
	if !strings.EqualFold(u.Scheme, c.base.Scheme) {
		if u.Scheme == "http" {
			return fmt.Errorf("%w: graph: a link to http://%s would carry the token in clear; not followed", mailauth.ErrInsecure, u.Host)
		}
		return fmt.Errorf("%w: scheme %q", ErrUntrustedLink, u.Scheme)
	}
	if !c.bearer.Allowed(u.Host) {
		return fmt.Errorf("%w: host %s is not the Graph endpoint (add it to Options.AllowedHosts only if you trust it with the token)", ErrUntrustedLink, u.Host)
	}
	return nil
}

// redactQuery drops the query of a URL for messages.
func redactQuery(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return s[:i] + "?…"
	}
	return s
}
