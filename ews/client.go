package ews

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/internal/core/audience"
	"github.com/modernauth/mailauth/internal/core/bearer"
	"github.com/modernauth/mailauth/internal/core/redact"
	"github.com/modernauth/mailauth/internal/core/tlsconf"
	"golang.org/x/oauth2"
)

// Defaults for zero [Options] fields.
const (
	DefaultServerVersion    = "Exchange2013_SP1"
	DefaultMaxBusyRetries   = 3
	DefaultMaxBusyWait      = time.Minute
	DefaultMaxResponseBytes = 256 << 20
	// busyFallback is the first wait after an ErrorServerBusy without
	// BackOffMilliseconds; it doubles on each retry.
	busyFallback = time.Second
)

// Options configures a [Client]. URL, Token and Mailbox are required.
type Options struct {
	// URL is the EWS endpoint, such as
	// "https://outlook.office365.com/EWS/Exchange.asmx" (cloud.Global.EWSURL)
	// or an on-premises "https://mail.contoso.com/EWS/Exchange.asmx".
	URL string

	// Token supplies access tokens, one call per request; see the package
	// documentation for the scopes.
	Token oauth2.TokenSource

	// Mailbox is the SMTP address of the mailbox to open. It is sent as
	// X-AnchorMailbox on every request; with AppOnly it is the impersonated
	// mailbox, otherwise it names the owner of distinguished folders
	// (so a user's token can open a shared mailbox it has rights on).
	Mailbox string

	// AllowedHosts lists the hosts trusted with the token, as "host" or
	// "host:port"; URL's host must be one of them. Empty means URL's host,
	// and then only while the token's audience names that host (an
	// Exchange Online token goes to Exchange Online's hosts, a token for
	// https://mail.contoso.com to that host; loopback is always allowed), so
	// a URL that Autodiscover or a configuration file pointed elsewhere
	// gets no token: the request fails with [*HostNotAllowedError]. List a
	// host here only if it is your server.
	AllowedHosts []string

	// AppOnly says Token yields app-only (client credentials) tokens: every
	// request then impersonates Mailbox with the ExchangeImpersonation SOAP
	// header, which Exchange requires for such tokens.
	AppOnly bool

	// ServerVersion is the RequestServerVersion sent with each request.
	// Empty means [DefaultServerVersion].
	ServerVersion string

	// PreferServerAffinity sends X-PreferServerAffinity: true, for callers
	// that keep notification subscriptions on one backend server.
	PreferServerAffinity bool

	// Transport sends the HTTP requests. Nil means http.DefaultTransport.
	Transport http.RoundTripper

	// InsecureAllowHTTP allows an http:// URL (tests on loopback only).
	InsecureAllowHTTP bool

	// MaxRetries and MaxBackoff bound the retries after HTTP 429 and 503;
	// zero means the defaults of 3 retries and 30 s per wait, a negative
	// MaxRetries disables them.
	MaxRetries int
	MaxBackoff time.Duration

	// MaxBusyRetries caps the retries after ErrorServerBusy. Zero means
	// [DefaultMaxBusyRetries]; negative disables them.
	MaxBusyRetries int

	// MaxBusyWait caps one wait after ErrorServerBusy. When the server asks
	// for more (BackOffMilliseconds), or the context's deadline would pass
	// first, the *Error is returned at once with its BackOff so the caller
	// can reschedule. Zero means [DefaultMaxBusyWait].
	MaxBusyWait time.Duration

	// MaxResponseBytes caps the size of one response. Zero means
	// [DefaultMaxResponseBytes].
	MaxResponseBytes int64

	// Logger receives debug records (operation, status, waits); never a
	// token. Nil means no logging.
	Logger *slog.Logger
}

// Client is an EWS client for one mailbox. It is safe for concurrent use.
// Create it with [New].
type Client struct {
	url       string
	host      string
	http      *http.Client
	mailbox   string
	appOnly   bool
	version   string
	affinity  bool
	busyTries int
	busyWait  time.Duration
	maxBody   int64
	log       *slog.Logger
	cookieMu  sync.Mutex
	backendCk string // guarded by cookieMu: X-BackEndOverrideCookie value to echo
}

// New returns a Client for opts (nil is the zero value, which lacks the
// required fields). It does no I/O.
func New(o *Options) (*Client, error) {
	var opts Options
	if o != nil {
		opts = *o
	}
	if opts.URL == "" {
		return nil, errors.New("ews: Options.URL must be set (for Exchange Online: https://outlook.office365.com/EWS/Exchange.asmx)")
	}
	u, err := url.Parse(opts.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("ews: Options.URL %q is not an http(s) URL", opts.URL)
	}
	if u.Scheme == "http" {
		if !opts.InsecureAllowHTTP {
			return nil, fmt.Errorf("ews: %w: refusing plain http to %s (Options.InsecureAllowHTTP is for tests on loopback)", mailauth.ErrInsecure, u.Host)
		}
		if err := tlsconf.CheckInsecure("ews: Options.InsecureAllowHTTP", u.Host); err != nil {
			return nil, err
		}
	}
	if opts.Token == nil {
		return nil, errors.New("ews: Options.Token must be set")
	}
	if strings.TrimSpace(opts.Mailbox) == "" || !strings.Contains(opts.Mailbox, "@") {
		return nil, errors.New("ews: Options.Mailbox must be the SMTP address of the mailbox to open (it routes every request via X-AnchorMailbox)")
	}
	hosts := opts.AllowedHosts
	if len(hosts) == 0 {
		hosts = []string{u.Host}
	}
	tr, err := bearer.New(bearer.Options{
		Token:             audience.Guard(opts.Token, audience.Exchange), // a Graph token is refused before it is sent
		AllowedHosts:      hosts,
		AudienceBound:     len(opts.AllowedHosts) == 0,
		Base:              opts.Transport,
		InsecureAllowHTTP: opts.InsecureAllowHTTP,
		MaxRetries:        opts.MaxRetries,
		MaxBackoff:        opts.MaxBackoff,
		Logger:            opts.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("ews: %w", err)
	}
	if !tr.Allowed(u.Host) {
		return nil, fmt.Errorf("ews: Options.AllowedHosts %q does not hold URL's host %q", opts.AllowedHosts, u.Host)
	}
	c := &Client{
		url:  u.String(),
		host: u.Host,
		http: &http.Client{
			Transport: tr,
			// Never follow redirects on EWS POSTs: a 3xx is an error.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		mailbox:   strings.TrimSpace(opts.Mailbox),
		appOnly:   opts.AppOnly,
		version:   opts.ServerVersion,
		affinity:  opts.PreferServerAffinity,
		busyTries: opts.MaxBusyRetries,
		busyWait:  opts.MaxBusyWait,
		maxBody:   opts.MaxResponseBytes,
		log:       opts.Logger,
	}
	if c.version == "" {
		c.version = DefaultServerVersion
	}
	if c.busyTries == 0 {
		c.busyTries = DefaultMaxBusyRetries
	} else if c.busyTries < 0 {
		c.busyTries = 0
	}
	if c.busyWait <= 0 {
		c.busyWait = DefaultMaxBusyWait
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxResponseBytes
	}
	return c, nil
}

// Mailbox returns the SMTP address of the mailbox the client opens.
func (c *Client) Mailbox() string { return c.mailbox }

// String describes the client without secrets.
func (c *Client) String() string {
	return fmt.Sprintf("ews.Client{URL:%q Mailbox:%q AppOnly:%t}", c.url, c.mailbox, c.appOnly)
}

// GoString is like String.
func (c *Client) GoString() string { return c.String() }

// call sends one request and parses the response as a stream. reset (may
// be nil) clears what payload collected, before each retry. It retries on
// ErrorServerBusy (fault, or every response message busy).
func (c *Client) call(ctx context.Context, op string, body []byte, payload payloadFunc, reset func()) ([]respMsg, error) {
	wait := busyFallback
	for attempt := 0; ; attempt++ {
		if reset != nil {
			reset()
		}
		msgs, err := c.post(ctx, op, body, payload)
		busy := busyError(msgs, err)
		if busy == nil {
			return msgs, err
		}
		busy.Op = op
		if attempt >= c.busyTries {
			return msgs, busy
		}
		d := busy.BackOff
		if d == 0 {
			d = min(wait, c.busyWait)
			wait *= 2
		}
		if d > c.busyWait {
			return msgs, busy
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			return msgs, busy
		}
		if c.log != nil {
			c.log.DebugContext(ctx, "ews: server busy, backing off", slog.String("op", op), slog.Duration("wait", d))
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return msgs, ctx.Err()
		case <-t.C:
		}
	}
}

// busyError returns the ErrorServerBusy to retry on, if the request as a
// whole was refused as busy.
func busyError(msgs []respMsg, err error) *Error {
	var e *Error
	if err != nil {
		if errors.As(err, &e) && e.Code == CodeServerBusy {
			return e
		}
		return nil
	}
	if len(msgs) == 0 {
		return nil
	}
	var first *Error
	for i := range msgs {
		if msgs[i].ok() {
			return nil
		}
		e := msgs[i].err("", http.StatusOK)
		if e.Code != CodeServerBusy {
			return nil
		}
		if first == nil {
			first = e
		}
	}
	return first
}

func (c *Client) post(ctx context.Context, op string, body []byte, payload payloadFunc) ([]respMsg, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("ews: %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("Accept", "text/xml")
	req.Header.Set("X-AnchorMailbox", c.mailbox)
	if c.affinity {
		req.Header.Set("X-PreferServerAffinity", "true")
	}
	c.cookieMu.Lock()
	if c.backendCk != "" {
		req.AddCookie(&http.Cookie{Name: "X-BackEndOverrideCookie", Value: c.backendCk})
	}
	c.cookieMu.Unlock()

	resp, err := c.http.Do(req)
	if err != nil {
		var ce *bearer.ChallengeError
		if errors.As(err, &ce) {
			return nil, &HTTPError{Op: op, StatusCode: ce.StatusCode, AuthError: ce.Challenge.Error,
				AuthErrorDescription: ce.Challenge.Description, Claims: ce.Challenge.Claims}
		}
		return nil, fmt.Errorf("ews: %s: %w", op, err)
	}
	defer resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "X-BackEndOverrideCookie" {
			c.cookieMu.Lock()
			c.backendCk = ck.Value
			c.cookieMu.Unlock()
		}
	}
	if c.log != nil {
		c.log.DebugContext(ctx, "ews: response", slog.String("op", op), slog.Int("status", resp.StatusCode))
	}
	body2 := io.LimitReader(resp.Body, c.maxBody)
	isXML := strings.Contains(strings.ToLower(resp.Header.Get("Content-Type")), "xml")
	if resp.StatusCode == http.StatusOK || (resp.StatusCode == http.StatusInternalServerError && isXML) {
		msgs, err := parseResponse(body2, op, payload)
		var e *Error
		if errors.As(err, &e) {
			e.HTTPStatus = resp.StatusCode
		}
		return msgs, err
	}
	he := &HTTPError{Op: op, StatusCode: resp.StatusCode, Location: resp.Header.Get("Location"), CASError: resp.Header.Get("X-CasErrorCode")}
	if ch := bearer.ParseChallenges(resp.Header.Values("WWW-Authenticate")); len(ch) > 0 {
		he.AuthError, he.AuthErrorDescription, he.Claims = ch[0].Error, ch[0].Description, ch[0].Claims
	}
	snippet, _ := io.ReadAll(io.LimitReader(body2, 512))
	he.Body = redact.String(strings.ToValidUTF8(string(snippet), "?"))
	return nil, he
}

// firstError returns nil when every message succeeded, else the errors of
// the failed messages, joined.
func firstError(op string, msgs []respMsg) error {
	var errs []error
	for i := range msgs {
		if !msgs[i].ok() {
			errs = append(errs, msgs[i].err(op, http.StatusOK))
		}
	}
	return errors.Join(errs...)
}
