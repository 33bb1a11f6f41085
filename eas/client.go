package eas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/eas/wbxml"
	"github.com/modernauth/mailauth/internal/core/audience"
	"github.com/modernauth/mailauth/internal/core/bearer"
	"github.com/modernauth/mailauth/internal/core/httpx"
)

// Protocol versions this client speaks. [MS-ASHTTP] 2.2.1.1.2.6 lists them
// all; the client implements the 14.1 and 16.1 request shapes.
const (
	Version141 = "14.1"
	Version161 = "16.1"
)

// Defaults used when the corresponding [Options] field is empty.
const (
	DefaultDeviceType       = "MailAuth"
	DefaultUserAgent        = "mailauth-eas/1"
	DefaultMaxResponseBytes = 64 << 20
	contentTypeWBXML        = "application/vnd.ms-sync.wbxml"
	maxRedirects            = 3
)

// Options configures a [Client]. Token, User and DeviceID are required.
type Options struct {
	// URL is the ActiveSync endpoint, such as
	// "https://outlook.office365.com/Microsoft-Server-ActiveSync" (the
	// default, cloud.Global.EASURL). A URL stored in State (after an HTTP
	// 451 redirect) wins over it.
	URL string

	// Mailbox is the mailbox to open (the ActiveSync User parameter),
	// normally the user's UPN. Exchange Online takes the identity from the
	// token and requires Mailbox to match it.
	Mailbox string

	// DeviceID identifies this device partnership: up to 32 letters and
	// digits, stable across runs (the server keeps sync state and policy
	// per device).
	DeviceID string

	// DeviceType is the device class the server sees. Empty means
	// [DefaultDeviceType].
	DeviceType string

	// ProtocolVersion is the MS-ASProtocolVersion to send: [Version141] or
	// [Version161]. Empty means the highest version both this client and
	// the server support once [Client.ServerOptions] has run, and 16.1
	// before that.
	ProtocolVersion string

	// Base64Query sends the command, user and device in the base64-encoded
	// query form ([MS-ASHTTP] 2.2.1.1.1.1) instead of the plain form; the
	// protocol version and policy key then travel inside it instead of in
	// headers.
	Base64Query bool

	// Token supplies bearer tokens for the Exchange resource with the
	// EAS.AccessAsUser.All scope. See internal/core/bearer for how TokenContext
	// and Invalidate are used when the source has them.
	Token oauth2.TokenSource

	// AllowedHosts lists the hosts trusted with the token (and so the only
	// hosts an HTTP 451 redirect is followed to). Empty means the host of
	// URL plus the Exchange hosts of the cloud whose EASURL equals URL, and
	// then only while the token's audience names the host (an Exchange
	// Online token goes to Exchange Online's hosts, a token for
	// https://mail.contoso.com to that host; loopback is always allowed), so
	// a URL that Autodiscover or a configuration file pointed elsewhere
	// gets no token: the request fails with [*HostNotAllowedError]. List a
	// host here only if it is your server.
	AllowedHosts []string

	// Transport is the RoundTripper under the bearer transport. Nil means
	// http.DefaultTransport.
	Transport http.RoundTripper

	// InsecureAllowHTTP allows plain http (tests on loopback only).
	InsecureAllowHTTP bool

	// MaxRetries caps the retries after HTTP 503 (and 429), which honour
	// Retry-After. Zero means 3; negative disables them.
	MaxRetries int

	// MaxBackoff caps one wait between retries; a Retry-After above it is
	// returned to the caller as an [*HTTPError]. Zero means 30 seconds.
	MaxBackoff time.Duration

	// MaxResponseBytes caps a response body. Zero means
	// [DefaultMaxResponseBytes].
	MaxResponseBytes int64

	// UserAgent is sent as User-Agent. Empty means [DefaultUserAgent].
	UserAgent string

	// Device describes this device in the initial Provision request
	// (settings:DeviceInformation, required from 14.1 on). Empty fields
	// get defaults.
	Device DeviceInfo

	// State resumes a previous run: the URL after a redirect (used only if
	// its host is allowed), the policy key and the sync keys. Nil starts
	// afresh. The Client copies it.
	State *State

	// Logger receives debug records (command, HTTP status, redirects,
	// re-provisioning). They never contain tokens. Nil means silent.
	Logger *slog.Logger
}

// DeviceInfo is what the client tells the server about itself during
// Provision ([MS-ASCMD] 2.2.3.47 DeviceInformation).
type DeviceInfo struct {
	Model        string // default "mailauth"
	FriendlyName string // default "mailauth"
	OS           string // default "Go"
	UserAgent    string // default Options.UserAgent
}

// Client speaks Exchange ActiveSync to one mailbox as one device. It is
// safe for concurrent use; commands that change sync state (FolderSync,
// Sync) should not run concurrently for the same folder.
//
// Every command method does network I/O, blocks until the response is read,
// and honours its context. A Client provisions itself when the server asks
// (HTTP 449, or status 140, 142, 143 or 144), once per call.
type Client struct {
	http       *http.Client
	bt         *bearer.Transport
	user       string
	deviceID   string
	deviceType string
	userAgent  string
	pinned     string // version chosen by the caller, "" if none
	base64     bool
	insecure   bool
	maxBody    int64
	device     DeviceInfo
	log        *slog.Logger

	provMu sync.Mutex // serializes Provision

	mu    sync.Mutex // guards the fields below
	url   string
	ver   string
	state State
}

// String describes the options without the token source.
func (o Options) String() string {
	return fmt.Sprintf("eas.Options{URL:%q Mailbox:%q DeviceID:%q DeviceType:%q ProtocolVersion:%q Base64Query:%t Token:[redacted] AllowedHosts:%q}",
		o.URL, o.Mailbox, o.DeviceID, o.DeviceType, o.ProtocolVersion, o.Base64Query, o.AllowedHosts)
}

// GoString is like String, so %#v redacts the token source too.
func (o Options) GoString() string { return o.String() }

// String names the mailbox, device and endpoint; it holds nothing secret.
func (c *Client) String() string {
	return fmt.Sprintf("eas.Client{User:%q DeviceID:%q URL:%q}", c.user, c.deviceID, c.URL())
}

// GoString is like String.
func (c *Client) GoString() string { return c.String() }

// New returns a Client configured by opts. It does no I/O.
func New(o *Options) (*Client, error) {
	var opts Options
	if o != nil {
		opts = *o
	}
	if opts.Token == nil {
		return nil, errors.New("eas: Options.Token must be set")
	}
	if opts.Mailbox == "" {
		return nil, errors.New("eas: Options.Mailbox must be set (the mailbox, normally the user's UPN)")
	}
	if err := checkDeviceID(opts.DeviceID); err != nil {
		return nil, err
	}
	c := &Client{
		user:       opts.Mailbox,
		deviceID:   opts.DeviceID,
		deviceType: opts.DeviceType,
		userAgent:  opts.UserAgent,
		pinned:     opts.ProtocolVersion,
		base64:     opts.Base64Query,
		insecure:   opts.InsecureAllowHTTP,
		maxBody:    opts.MaxResponseBytes,
		device:     opts.Device,
		log:        opts.Logger,
		url:        opts.URL,
	}
	if c.deviceType == "" {
		c.deviceType = DefaultDeviceType
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxResponseBytes
	}
	if c.url == "" {
		c.url = cloud.Global.EASURL
	}
	switch c.pinned {
	case "", Version141, Version161:
	default:
		return nil, fmt.Errorf("eas: ProtocolVersion %q is not supported; use %q or %q", c.pinned, Version141, Version161)
	}
	c.ver = c.pinned
	if c.ver == "" {
		c.ver = Version161
	}
	u, err := url.Parse(c.url)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("eas: URL %q is not an absolute URL", c.url)
	}
	hosts := opts.AllowedHosts
	if len(hosts) == 0 {
		hosts = []string{u.Hostname()}
		for _, cl := range cloud.All() {
			if strings.EqualFold(cl.EASURL, strings.TrimRight(c.url, "/")) {
				hosts = append(hosts, cl.Hosts()...)
			}
		}
	}
	c.bt, err = bearer.New(bearer.Options{
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
		return nil, fmt.Errorf("eas: %w", err)
	}
	if opts.State != nil {
		c.state = opts.State.clone()
		// A URL from an earlier 451 is used only if its host may still
		// receive the token; otherwise start again from Options.URL.
		if su, err := url.Parse(c.state.URL); err == nil && su.Host != "" && (su.Scheme == "https" || c.insecure) && c.bt.Allowed(su.Host) {
			c.url = c.state.URL
		} else {
			c.state.URL = ""
		}
		if c.pinned == "" && (c.state.ProtocolVersion == Version141 || c.state.ProtocolVersion == Version161) {
			c.ver = c.state.ProtocolVersion
		}
	}
	// ActiveSync answers with 451 and X-MS-Location, never with an HTTP
	// redirect to follow with a POST body: do not follow any.
	c.http = &http.Client{
		Transport:     c.bt,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

func checkDeviceID(id string) error {
	if id == "" || len(id) > 32 {
		return errors.New("eas: Options.DeviceID must be 1 to 32 letters and digits")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return fmt.Errorf("eas: Options.DeviceID %q must be letters and digits only", id)
		}
	}
	return nil
}

// URL returns the endpoint the client currently sends to (it changes after
// an HTTP 451 redirect).
func (c *Client) URL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.url
}

// ProtocolVersion returns the MS-ASProtocolVersion the client sends.
func (c *Client) ProtocolVersion() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ver
}

// PolicyKey returns the current policy key ("" before provisioning).
func (c *Client) PolicyKey() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.PolicyKey
}

// State returns a copy of the state to persist between runs (see
// [State]). It does no I/O.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.state.clone()
	if c.url != "" {
		s.URL = c.url
	}
	s.ProtocolVersion = c.ver
	return s
}

// ServerInfo is what the server announces in its OPTIONS response
// ([MS-ASHTTP] 2.2.4.1.2).
type ServerInfo struct {
	// Versions lists MS-ASProtocolVersions, such as "14.1", "16.1".
	Versions []string
	// Commands lists MS-ASProtocolCommands, such as "Sync", "FolderSync".
	Commands []string
	// Server is the MS-Server-ActiveSync build, such as "15.20".
	Server string
}

// Supports reports whether the server lists version v.
func (s *ServerInfo) Supports(v string) bool { return slices.Contains(s.Versions, v) }

// SupportsCommand reports whether the server lists command cmd.
func (s *ServerInfo) SupportsCommand(cmd string) bool { return slices.Contains(s.Commands, cmd) }

// ServerOptions sends OPTIONS to the endpoint and returns the protocol
// versions and commands the server supports. When Options.ProtocolVersion
// was empty, the client then uses the highest of 16.1 and 14.1 that the
// server lists; if it lists neither, ServerOptions returns the info with an
// error.
func (c *Client) ServerOptions(ctx context.Context) (*ServerInfo, error) {
	for redirects := 0; ; redirects++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodOptions, c.URL(), nil)
		if err != nil {
			return nil, fmt.Errorf("eas: %w", err)
		}
		req.Header.Set("User-Agent", c.userAgent)
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, fmt.Errorf("eas: OPTIONS: %w", err)
		}
		drain(resp)
		switch resp.StatusCode {
		case http.StatusOK:
		case 451:
			if err := c.followRedirect(resp, redirects); err != nil {
				return nil, err
			}
			continue
		default:
			return nil, newHTTPError("OPTIONS", resp)
		}
		info := &ServerInfo{
			Versions: splitList(resp.Header.Get("MS-ASProtocolVersions")),
			Commands: splitList(resp.Header.Get("MS-ASProtocolCommands")),
			Server:   resp.Header.Get("MS-Server-ActiveSync"),
		}
		if c.pinned == "" {
			switch {
			case info.Supports(Version161):
				c.setVersion(Version161)
			case info.Supports(Version141):
				c.setVersion(Version141)
			default:
				return info, fmt.Errorf("eas: the server supports protocol versions %v, none of which this client speaks (%s, %s)", info.Versions, Version141, Version161)
			}
		}
		return info, nil
	}
}

func (c *Client) setVersion(v string) {
	c.mu.Lock()
	c.ver = v
	c.mu.Unlock()
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// roundTrip sends one command and returns the decoded response body (nil
// when the server answered 200 with an empty body). It follows 451 to an
// allowed host, and provisions once on 449 or a provisioning status.
func (c *Client) roundTrip(ctx context.Context, cmd string, body *wbxml.Node) (*wbxml.Node, error) {
	return c.exchange(ctx, cmd, body, false, "")
}

// exchange is roundTrip with, when fixedKey is set, the given policy key
// instead of the client's and no re-provisioning (for Provision itself).
func (c *Client) exchange(ctx context.Context, cmd string, body *wbxml.Node, fixedKey bool, key string) (*wbxml.Node, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = wbxml.Marshal(body); err != nil {
			return nil, fmt.Errorf("eas: encoding %s request: %w", cmd, err)
		}
	}
	provisioned := fixedKey // Provision never re-provisions itself
	for redirects := 0; ; {
		if !fixedKey {
			key = c.PolicyKey()
		}
		resp, err := c.post(ctx, cmd, raw, key)
		if err != nil {
			return nil, err
		}
		switch resp.StatusCode {
		case http.StatusOK:
			n, err := c.readWBXML(cmd, resp)
			if err != nil {
				return nil, err
			}
			if n != nil && !provisioned {
				if st, err := strconv.Atoi(n.ChildText("Status")); err == nil && needsProvision(st) {
					provisioned = true
					c.debug(ctx, "eas: server asks to provision again", cmd, resp.StatusCode)
					if err := c.reprovision(ctx, key); err != nil {
						return nil, err
					}
					continue
				}
			}
			return n, nil
		case 449:
			drain(resp)
			if provisioned {
				return nil, newHTTPError(cmd, resp)
			}
			provisioned = true
			c.debug(ctx, "eas: HTTP 449, provisioning again", cmd, resp.StatusCode)
			if err := c.reprovision(ctx, key); err != nil {
				return nil, err
			}
		case 451:
			drain(resp)
			if err := c.followRedirect(resp, redirects); err != nil {
				return nil, err
			}
			redirects++
			c.debug(ctx, "eas: HTTP 451, following X-MS-Location", cmd, resp.StatusCode)
		default:
			drain(resp)
			return nil, newHTTPError(cmd, resp)
		}
	}
}

// post sends one POST with the given policy key ("" for none).
func (c *Client) post(ctx context.Context, cmd string, body []byte, policyKey string) (*http.Response, error) {
	c.mu.Lock()
	endpoint, ver := c.url, c.ver
	c.mu.Unlock()
	id := queryIdentity{user: c.user, deviceID: c.deviceID, deviceType: c.deviceType, version: ver, policyKey: policyKey, locale: 0x0409}
	var q string
	if c.base64 {
		var err error
		if q, err = base64Query(cmd, id); err != nil {
			return nil, err
		}
	} else {
		q = plainQuery(cmd, id)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"?"+q, rd)
	if err != nil {
		return nil, fmt.Errorf("eas: %w", err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", contentTypeWBXML)
	}
	if !c.base64 {
		req.Header.Set("MS-ASProtocolVersion", ver)
		if policyKey != "" {
			req.Header.Set("X-MS-PolicyKey", policyKey)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("eas: %s: %w", cmd, err)
	}
	return resp, nil
}

func (c *Client) readWBXML(cmd string, resp *http.Response) (*wbxml.Node, error) {
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("eas: %s: reading the response: %w", cmd, err)
	}
	if int64(len(data)) > c.maxBody {
		return nil, &ProtocolError{Command: cmd, Reason: fmt.Sprintf("response larger than %d bytes (raise Options.MaxResponseBytes)", c.maxBody)}
	}
	if len(data) == 0 {
		return nil, nil
	}
	n, err := wbxml.Unmarshal(data)
	if err != nil {
		return nil, &ProtocolError{Command: cmd, Reason: "not valid WBXML", Err: err}
	}
	return n, nil
}

// followRedirect applies an HTTP 451 ([MS-ASHTTP] 3.1.5.2.2): with an
// X-MS-Location naming an https URL on an allowed host, later requests go
// there; otherwise the caller needs Autodiscover.
func (c *Client) followRedirect(resp *http.Response, redirects int) error {
	loc := resp.Header.Get("X-MS-Location")
	if loc == "" {
		return &RedirectError{Reason: "the server gave no new location"}
	}
	if redirects >= maxRedirects {
		return &RedirectError{Location: loc, Reason: fmt.Sprintf("more than %d redirects in one call", maxRedirects)}
	}
	u, err := url.Parse(loc)
	if err != nil || u.Host == "" {
		return &RedirectError{Location: loc, Reason: "not an absolute URL"}
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && c.insecure) {
		return &RedirectError{Location: loc, Reason: "not https"}
	}
	if !c.bt.Allowed(u.Host) {
		return &RedirectError{Location: loc, Reason: "host " + strconv.Quote(u.Host) + " is not allowed to receive the token"}
	}
	u.RawQuery, u.Fragment = "", ""
	c.mu.Lock()
	c.url = u.String()
	c.state.URL = c.url
	c.mu.Unlock()
	return nil
}

func (c *Client) debug(ctx context.Context, msg, cmd string, status int) {
	if c.log == nil {
		return
	}
	c.log.DebugContext(ctx, msg, slog.String("cmd", cmd), slog.Int("status", status))
}

func newHTTPError(cmd string, resp *http.Response) *HTTPError {
	e := &HTTPError{Command: cmd, StatusCode: resp.StatusCode, Hint: httpHint(resp.StatusCode)}
	if d, ok := httpx.RetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		e.RetryAfter = d
	}
	for _, ch := range bearer.ParseChallenges(resp.Header.Values("WWW-Authenticate")) {
		if ch.Error != "" {
			e.BearerError = ch.Error
			break
		}
	}
	return e
}

// drain reads a little of a body we do not use and closes it, so the
// connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
