package autodiscover

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/core/httpx"
)

// Protocol names the service whose URL a lookup returns.
type Protocol string

// Protocols a lookup can ask for. The values are the ones Autodiscover v2
// uses in its Protocol query parameter.
const (
	EWS        Protocol = "EWS"        // Exchange Web Services (…/EWS/Exchange.asmx)
	ActiveSync Protocol = "ActiveSync" // Exchange ActiveSync (…/Microsoft-Server-ActiveSync)
)

func (p Protocol) v2Name() string { return string(p) }

func (p Protocol) valid() bool { return p == EWS || p == ActiveSync }

// ParseProtocol maps "ews", "activesync" or "eas" (any case) to a
// [Protocol].
func ParseProtocol(s string) (Protocol, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "ews":
		return EWS, nil
	case "activesync", "eas":
		return ActiveSync, nil
	}
	return "", fmt.Errorf("autodiscover: unknown protocol %q (want ews or activesync)", s)
}

// Method is one of the three autodiscover flavours.
type Method string

// Methods, in the order a lookup tries them by default.
const (
	// MethodV2 is Autodiscover v2: an anonymous GET of
	// /autodiscover/autodiscover.json/v1.0/{email}?Protocol=… on the
	// cloud's autodiscover host. It knows the mailboxes of Exchange Online.
	MethodV2 Method = "v2"
	// MethodPOX is the plain-old-XML POST to /autodiscover/autodiscover.xml
	// (the Outlook schema for EWS, the MobileSync schema for ActiveSync).
	MethodPOX Method = "pox"
	// MethodSOAP is the SOAP GetUserSettings POST to
	// /autodiscover/autodiscover.svc (EWS only).
	MethodSOAP Method = "soap"
)

// Resolver looks up SRV records. [*net.Resolver] implements it.
type Resolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (cname string, addrs []*net.SRV, err error)
}

// Defaults for the zero values of [Options].
const (
	DefaultMaxRedirects   = 10
	DefaultCacheTTL       = time.Hour
	DefaultRequestTimeout = 20 * time.Second
	// DefaultLookupTimeout bounds one lookup; see Options.LookupTimeout.
	DefaultLookupTimeout = 2 * time.Minute
	// maxBody bounds how much of an autodiscover answer is read.
	maxBody = 1 << 20
)

// Options configures a [Client]. A nil *Options is the same as a zero
// Options: Exchange Online global cloud, anonymous only, system DNS.
type Options struct {
	// Cloud gives the host asked first with Autodiscover v2 (its
	// AutodiscoverHost) and the hosts that may receive a token (its
	// Hosts()). The zero value means [cloud.Global].
	Cloud cloud.Cloud

	// Token, if set, supplies the bearer token sent to a POX or SOAP
	// endpoint that answers 401 with "WWW-Authenticate: Bearer", and only
	// if its host is a cloud host or in AllowedDomains. Requests always go
	// out anonymous first. Nil means anonymous only.
	Token oauth2.TokenSource

	// AllowedDomains names the domains whose hosts (the domain itself and
	// every name under it) may receive the token, besides the cloud's
	// hosts (by exact name). A lookup may also contact them through a
	// redirect or an SRV record. The domain of the address passed to
	// Lookup may always be asked anonymously, but gets the token only if
	// named here: an Exchange Online token is good for every mailbox the
	// app may read, so it is not handed to whatever server answers for a
	// (possibly mistyped) domain.
	AllowedDomains []string

	// CheckRedirect, if set, is asked about every redirect target (HTTP
	// 3xx, redirectUrl, the http probe's Location, an SRV host) that
	// passed the built-in checks, before anything is sent there; an error
	// refuses it (it is recorded inside a [*RedirectError]). Microsoft's
	// guidance is to let the user approve such redirects. Nil accepts
	// them.
	CheckRedirect func(from, to string) error

	// Methods lists the methods to use, in order. Nil means MethodV2,
	// MethodPOX, MethodSOAP. MethodV2 is always tried first when listed;
	// the order of POX and SOAP is the order per candidate host.
	Methods []Method

	// Resolver looks up the _autodiscover._tcp SRV record. Nil means
	// [net.DefaultResolver].
	Resolver Resolver

	// DialContext, if set, opens every connection (tests map host names
	// to loopback listeners with it). Ignored when Transport is set.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// TLSConfig, if set, is used for https (for example RootCAs for a
	// private CA). Ignored when Transport is set.
	TLSConfig *tls.Config

	// Transport, if set, sends every request; it must not follow
	// redirects itself (an http.RoundTripper never does). Nil means a
	// clone of [http.DefaultTransport] (Go's defaults when a program replaced
	// it) with DialContext and TLSConfig.
	Transport http.RoundTripper

	// MaxRedirects caps the redirects (HTTP 3xx, redirectUrl,
	// redirectAddr) followed in one lookup. Zero means
	// [DefaultMaxRedirects]; larger values are lowered to it.
	MaxRedirects int

	// CacheTTL is how long a found URL is remembered per (address,
	// protocol). Zero means [DefaultCacheTTL]; negative disables the cache.
	CacheTTL time.Duration

	// RequestTimeout bounds each HTTP request, inside the lookup's
	// context. Zero means [DefaultRequestTimeout].
	RequestTimeout time.Duration

	// LookupTimeout bounds one lookup (all candidates and redirects).
	// Concurrent Lookup calls for the same address and protocol share one
	// lookup; each caller still leaves when its own ctx ends, and the
	// lookup stops when no caller waits any more. Zero means
	// [DefaultLookupTimeout].
	LookupTimeout time.Duration

	// UserAgent is sent with every request. Empty means
	// "mailauth-autodiscover".
	UserAgent string

	// Logger receives a debug record per attempt (method, URL, outcome).
	// Records never contain tokens. Nil means no logging.
	Logger *slog.Logger
}

// Result is what a successful lookup found.
type Result struct {
	// Email is the address the URL belongs to; it differs from the
	// address asked for after a redirectAddr.
	Email    string   `json:"email"`
	Protocol Protocol `json:"protocol"`
	// URL is the EWS or ActiveSync endpoint, always https and on a host the
	// lookup was allowed to contact. That is not the same as a host that may
	// receive the token: see TokenAllowed.
	URL string `json:"url"`
	// TokenAllowed reports whether URL's host may receive the token: a host
	// of the cloud, or one under Options.AllowedDomains. A URL on the
	// address's own domain that nobody allowed is returned with
	// TokenAllowed false; do not hand such a URL to ews or eas with an
	// Exchange Online token (that token opens every mailbox the app may
	// read) unless you trust the host: then name its domain in
	// AllowedDomains.
	TokenAllowed bool `json:"token_allowed"`
	// Method and Endpoint say which autodiscover request answered.
	Method   Method `json:"method"`
	Endpoint string `json:"endpoint"`
	// Redirects counts the redirects followed.
	Redirects int `json:"redirects"`
	// Cached is true when the result came from the client's cache.
	Cached bool `json:"cached"`
}

// otherCloud names the built-in cloud that host belongs to, for hints.
func otherCloud(host string) string {
	host = strings.ToLower(host)
	for _, c := range cloud.All() {
		for _, h := range c.Hosts() {
			if h == host {
				return c.Name
			}
		}
	}
	return ""
}

// Client finds EWS and ActiveSync URLs. It is safe for concurrent use; its
// cache is shared by all calls. Create it with [New].
type Client struct {
	cloud      cloud.Cloud
	token      oauth2.TokenSource
	checkRedir func(from, to string) error
	hosts      map[string]bool // cloud hosts, exact
	domains    []string        // AllowedDomains, lower-case, no dots at the ends
	methods    []Method
	resolver   Resolver
	base       http.RoundTripper
	anon       *http.Client
	maxHops    int
	ttl        time.Duration
	timeout    time.Duration
	lookupTO   time.Duration
	userAgent  string
	log        *slog.Logger
	now        func() time.Time // time source for the cache (tests swap it)

	mu       sync.Mutex // guards cache, inflight
	cache    map[cacheKey]cacheEntry
	inflight map[cacheKey]*flight
}

type cacheKey struct {
	email string
	proto Protocol
}

type cacheEntry struct {
	res     Result
	expires time.Time
}

// New returns a Client configured by opts (nil means defaults). It does no
// I/O.
func New(opts *Options) (*Client, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	c := &Client{
		cloud:      o.Cloud,
		token:      o.Token,
		checkRedir: o.CheckRedirect,
		hosts:      map[string]bool{},
		resolver:   o.Resolver,
		base:       o.Transport,
		maxHops:    o.MaxRedirects,
		ttl:        o.CacheTTL,
		timeout:    o.RequestTimeout,
		lookupTO:   o.LookupTimeout,
		userAgent:  o.UserAgent,
		log:        o.Logger,
		now:        time.Now,
		cache:      map[cacheKey]cacheEntry{},
		inflight:   map[cacheKey]*flight{},
	}
	if c.cloud == (cloud.Cloud{}) {
		c.cloud = cloud.Global
	}
	for _, h := range c.cloud.Hosts() {
		c.hosts[strings.ToLower(h)] = true
	}
	for _, d := range o.AllowedDomains {
		d = strings.Trim(strings.ToLower(strings.TrimSpace(d)), ".")
		if d == "" || !validHostname(d) {
			return nil, fmt.Errorf("autodiscover: AllowedDomains entry %q is not a domain name", d)
		}
		if !strings.Contains(d, ".") {
			return nil, fmt.Errorf("autodiscover: AllowedDomains entry %q is a top-level domain; name a registered domain", d)
		}
		c.domains = append(c.domains, d)
	}
	if o.Methods == nil {
		c.methods = []Method{MethodV2, MethodPOX, MethodSOAP}
	} else {
		for _, m := range o.Methods {
			switch m {
			case MethodV2, MethodPOX, MethodSOAP:
				c.methods = append(c.methods, m)
			default:
				return nil, fmt.Errorf("autodiscover: unknown method %q in Options.Methods", m)
			}
		}
	}
	if c.resolver == nil {
		c.resolver = net.DefaultResolver
	}
	if c.base == nil {
		t := httpx.Transport()
		if o.DialContext != nil {
			t.DialContext = o.DialContext
			t.Proxy = nil
		}
		if o.TLSConfig != nil {
			t.TLSClientConfig = o.TLSConfig.Clone()
		}
		c.base = t
	}
	c.anon = &http.Client{
		Transport: c.base,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // redirects are followed by hand, with checks
		},
	}
	if c.maxHops <= 0 || c.maxHops > DefaultMaxRedirects {
		c.maxHops = DefaultMaxRedirects
	}
	if c.ttl == 0 {
		c.ttl = DefaultCacheTTL
	}
	if c.timeout <= 0 {
		c.timeout = DefaultRequestTimeout
	}
	if c.lookupTO <= 0 {
		c.lookupTO = DefaultLookupTimeout
	}
	if c.userAgent == "" {
		c.userAgent = "mailauth-autodiscover"
	}
	return c, nil
}

func (c *Client) uses(m Method) bool {
	for _, x := range c.methods {
		if x == m {
			return true
		}
	}
	return false
}

// Lookup finds the URL of protocol p for the mailbox email. It blocks
// until an answer is found, every candidate has failed, or ctx is done.
//
// The order: Autodiscover v2 on the cloud's host; then POX and SOAP on
// https://{domain}, then on https://autodiscover.{domain}; then an
// unauthenticated GET of http://autodiscover.{domain}/autodiscover/autodiscover.xml
// whose redirect is followed only to https; then the hosts of the
// _autodiscover._tcp.{domain} SRV record. A redirectAddr (or SOAP
// RedirectAddress) restarts the list with the new address; redirectUrl and
// HTTP redirects are followed after checks. Lookup never asks a parent
// domain of {domain}.
//
// Concurrent calls for the same address and protocol share one lookup;
// each returns when its own ctx ends. Found URLs are cached (see
// [Options.CacheTTL]).
//
// On failure the error is a [*LookupError]; the causes of the single
// attempts are reachable with errors.As ([*RedirectError],
// [*TokenNotAllowedError], [*HTTPError], [*ResponseError]).
func (c *Client) Lookup(ctx context.Context, email string, p Protocol) (*Result, error) {
	if !p.valid() {
		return nil, fmt.Errorf("autodiscover: unknown protocol %q (want EWS or ActiveSync)", p)
	}
	addr, domain, err := splitEmail(email)
	if err != nil {
		return nil, &LookupError{Email: email, Protocol: p, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return nil, &LookupError{Email: addr, Protocol: p, Err: err}
	}
	key := cacheKey{email: strings.ToLower(addr), proto: p}
	if r, ok := c.cached(key); ok {
		return c.withTokenPolicy(r), nil
	}
	f := c.join(ctx, key, func(fctx context.Context) (*Result, error) {
		return c.lookup(fctx, addr, domain, p, key)
	})
	select {
	case <-f.done:
		c.leave(key, f)
		if f.err != nil {
			return nil, f.err
		}
		res := *f.res
		return c.withTokenPolicy(&res), nil
	case <-ctx.Done():
		c.leave(key, f)
		return nil, &LookupError{Email: addr, Protocol: p, Err: ctx.Err()}
	}
}

// flight is one lookup shared by every concurrent caller asking for the
// same (address, protocol). It runs in its own goroutine on a context
// that keeps the first caller's values, ends after the lookup timeout,
// and is cancelled as soon as no caller waits for it any more.
type flight struct {
	done    chan struct{} // closed when res and err are set
	res     *Result
	err     error
	waiters int // guarded by Client.mu
	cancel  context.CancelFunc
}

func (c *Client) join(ctx context.Context, key cacheKey, run func(ctx context.Context) (*Result, error)) *flight {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.inflight[key]; f != nil {
		f.waiters++
		return f
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.lookupTO)
	f := &flight{done: make(chan struct{}), waiters: 1, cancel: cancel}
	c.inflight[key] = f
	go func() {
		res, err := run(fctx)
		cancel()
		c.mu.Lock()
		if c.inflight[key] == f {
			delete(c.inflight, key)
		}
		c.mu.Unlock()
		f.res, f.err = res, err
		close(f.done)
	}()
	return f
}

func (c *Client) leave(key cacheKey, f *flight) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f.waiters--
	if f.waiters == 0 {
		f.cancel()
		if c.inflight[key] == f {
			delete(c.inflight, key) // a later caller starts afresh
		}
	}
}

// lookup runs the candidate list for one flight.
func (c *Client) lookup(ctx context.Context, addr, domain string, p Protocol, key cacheKey) (*Result, error) {
	l := &lookup{
		c:        c,
		proto:    p,
		domain:   domain,
		seenAddr: map[string]bool{strings.ToLower(addr): true},
		visited:  map[string]bool{},
	}
	for {
		res, next, err := l.discover(ctx, addr)
		if err == nil && res == nil && next == "" {
			err = ErrNotFound
		}
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
				err = fmt.Errorf("%w (%w)", ErrNotFound, ctxErr)
			}
			return nil, &LookupError{Email: addr, Protocol: p, Attempts: l.attempts, Err: err}
		}
		if res != nil {
			res.Redirects = l.hops
			c.store(key, *res)
			return res, nil
		}
		addr = next
	}
}

// CloseIdleConnections closes the idle keep-alive connections of the
// client's transport. It does not interrupt lookups in progress.
func (c *Client) CloseIdleConnections() { c.anon.CloseIdleConnections() }

// Forget drops the cached result for (email, p), for example after the
// URL stopped working. It does no I/O.
func (c *Client) Forget(email string, p Protocol) {
	c.mu.Lock()
	delete(c.cache, cacheKey{email: strings.ToLower(strings.TrimSpace(email)), proto: p})
	c.mu.Unlock()
}

func (c *Client) cached(key cacheKey) (*Result, bool) {
	if c.ttl < 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.cache[key]
	if !ok {
		return nil, false
	}
	if !c.now().Before(e.expires) {
		delete(c.cache, key)
		return nil, false
	}
	r := e.res
	r.Cached = true
	return &r, true
}

func (c *Client) store(key cacheKey, r Result) {
	if c.ttl < 0 {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.cache { // evict expired entries so the map cannot grow without bound
		if !now.Before(e.expires) {
			delete(c.cache, k)
		}
	}
	c.cache[key] = cacheEntry{res: r, expires: now.Add(c.ttl)}
}

// withTokenPolicy sets r.TokenAllowed from the token allow-list.
func (c *Client) withTokenPolicy(r *Result) *Result {
	if u, err := url.Parse(r.URL); err == nil {
		r.TokenAllowed = u.Scheme == "https" && c.allowedHost(u.Hostname(), "")
	}
	return r
}

// allowedHost reports whether host (no port) is a cloud host, in an
// allowed domain, or in extra (the lookup's own domain; "" for the token
// allow-list).
func (c *Client) allowedHost(host, extra string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return false
	}
	if c.hosts[host] {
		return true
	}
	if extra != "" && inDomain(host, extra) {
		return true
	}
	for _, d := range c.domains {
		if inDomain(host, d) {
			return true
		}
	}
	return false
}

func inDomain(host, domain string) bool {
	return host == domain || strings.HasSuffix(host, "."+domain)
}

// splitEmail checks an address and returns it (trimmed) with its
// lower-case domain.
func splitEmail(email string) (addr, domain string, err error) {
	addr = strings.TrimSpace(email)
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 || len(addr) > 320 {
		return "", "", fmt.Errorf("%w: %q is not local@domain", ErrInvalidEmail, email)
	}
	local := addr[:at]
	for _, r := range local {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`/\?#%"<>()[],;:@`, r) {
			return "", "", fmt.Errorf("%w: %q has characters not allowed here", ErrInvalidEmail, email)
		}
	}
	domain = strings.ToLower(addr[at+1:])
	if !validHostname(domain) {
		return "", "", fmt.Errorf("%w: %q does not end in a host name", ErrInvalidEmail, email)
	}
	if !strings.Contains(domain, ".") {
		return "", "", fmt.Errorf("%w: the domain of %q has a single label; autodiscover would ask a top-level domain", ErrInvalidEmail, email)
	}
	return local + "@" + domain, domain, nil
}

// validHostname accepts LDH labels separated by dots (IDNs must be given
// in their A-label form).
func validHostname(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			ch := label[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
				return false
			}
		}
	}
	return true
}

// String describes o without the token source, which may hold a token.
func (o Options) String() string {
	return fmt.Sprintf("autodiscover.Options{Cloud:%q Token:%s AllowedDomains:%q Methods:%q}",
		o.Cloud.Name, tokenState(o.Token != nil), o.AllowedDomains, o.Methods)
}

// GoString is String, so %#v redacts too.
func (o Options) GoString() string { return o.String() }

// Format prints String for every verb.
func (o Options) Format(f fmt.State, _ rune) { io.WriteString(f, o.String()) }

// LogValue logs String.
func (o Options) LogValue() slog.Value { return slog.StringValue(o.String()) }

// String describes c without its token source.
func (c *Client) String() string {
	return fmt.Sprintf("autodiscover.Client{Cloud:%q Token:%s AllowedDomains:%q}", c.cloud.Name, tokenState(c.token != nil), c.domains)
}

// GoString is String, so %#v redacts too.
func (c *Client) GoString() string { return c.String() }

// Format prints String for every verb.
func (c *Client) Format(f fmt.State, _ rune) { io.WriteString(f, c.String()) }

// LogValue logs String.
func (c *Client) LogValue() slog.Value { return slog.StringValue(c.String()) }

func tokenState(set bool) string {
	if set {
		return "set(redacted)"
	}
	return "none"
}
