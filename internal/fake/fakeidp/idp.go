package fakeidp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults used when the matching [Options] field is zero.
const (
	DefaultTokenLifetime        = time.Hour
	DefaultRefreshTokenLifetime = 90 * 24 * time.Hour
	DefaultAudience             = "https://outlook.office365.com"
	DefaultDeviceCodeLifetime   = 15 * time.Minute
)

// Grant types, as sent in the grant_type form field; [IdP.Requests] is keyed by them.
const (
	GrantClientCredentials = "client_credentials"
	GrantRefreshToken      = "refresh_token"
	GrantAuthorizationCode = "authorization_code"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
)

// Options shape an [IdP]. The zero value is a working IdP with one-hour tokens.
type Options struct {
	// TokenLifetime is the lifetime of access and ID tokens (expires_in).
	// Zero means DefaultTokenLifetime (1h).
	TokenLifetime time.Duration

	// RefreshIn, when positive, is sent as refresh_in (whole seconds) in every
	// token response, as Entra does for long-lived tokens. Zero omits it.
	RefreshIn time.Duration

	// Latency is added to every token endpoint request before it is answered.
	// A request whose context ends during the wait gets no answer.
	Latency time.Duration

	// Audience, when set, is the aud claim of every access token. Empty means
	// the resource named by the requested scopes (the part before the last
	// "/" of "https://outlook.office365.com/IMAP.AccessAsUser.All"), or
	// DefaultAudience when the scopes name none.
	Audience string

	// Issuer is the template of the iss claim of access tokens; "{tenant}" is
	// replaced by the token's tenant ID. Empty means URL()+"/{tenant}/v2.0",
	// the issuer the openid-configuration document announces. Set it to
	// "https://sts.windows.net/{tenant}/" to mimic Exchange's v1 tokens.
	Issuer string

	// DovecotClaims also adds "email" (the user's UPN) and "scope" (the scp
	// value, space-separated) to delegated access tokens, as Dovecot's oauth2
	// passdb expects for local JWT validation.
	DovecotClaims bool

	// RefreshTokenLifetime is how long an unredeemed refresh token stays
	// valid. Zero means DefaultRefreshTokenLifetime (90 days). A refresh token
	// presented after it gets AADSTS700082.
	RefreshTokenLifetime time.Duration

	// DefaultUser is the UPN signed in by /authorize when the request has no
	// login_hint, and by device-code approval when AutoApproveDevice is set.
	// The user must be added with [IdP.AddUser].
	DefaultUser string

	// AutoApproveDevice approves every device code as DefaultUser as soon as it
	// is issued, so device-code flows finish without [IdP.ApproveDevice].
	AutoApproveDevice bool

	// DeviceCodeInterval is the polling interval announced by /devicecode,
	// rounded up to whole seconds. Zero means 5 seconds, as Entra announces.
	// MSAL Go ignores it and polls on its own schedule (from 50 ms upwards).
	DeviceCodeInterval time.Duration

	// Now is the IdP's clock, for claims and expiry checks. Nil means time.Now.
	Now func() time.Time

	// SigningKey signs every token. Nil means a fresh 2048-bit RSA key; pass
	// one to share the cost of generating it across many IdPs in a test binary.
	SigningKey *rsa.PrivateKey

	// Logger, when set, receives one debug line per request (method, path,
	// grant type, status). Nothing secret is logged.
	Logger *slog.Logger
}

// String redacts the signing key.
func (o Options) String() string {
	return fmt.Sprintf("fakeidp.Options{TokenLifetime:%s RefreshIn:%s Latency:%s Audience:%q Issuer:%q DovecotClaims:%t DefaultUser:%q AutoApproveDevice:%t SigningKey:%s}",
		o.TokenLifetime, o.RefreshIn, o.Latency, o.Audience, o.Issuer, o.DovecotClaims, o.DefaultUser, o.AutoApproveDevice, redactedIf(o.SigningKey != nil))
}

// GoString redacts the signing key.
func (o Options) GoString() string { return o.String() }

// App is a registered application (a service principal in its home tenant).
// An App with neither Secret nor Cert is a public client: it may use the
// delegated flows but not client_credentials.
type App struct {
	// TenantID is the app's home tenant. When set, client_credentials
	// requests for other tenants are refused (AADSTS700016). Empty: any tenant.
	TenantID string
	// ClientID is the application (client) ID.
	ClientID string
	// Secret is the client secret accepted as client_secret.
	Secret string
	// Cert is the registered certificate: client_assertion JWTs must be
	// signed by its key and name it in x5t#S256 (or x5t).
	Cert *x509.Certificate
	// Roles are the application permissions granted to the app (roles claim
	// of app-only tokens), for example "IMAP.AccessAsApp".
	Roles []string
	// OID is the service principal's object ID (oid and sub of app-only
	// tokens). Empty: derived from ClientID.
	OID string
	// FederatedTokenFile, when set, makes the app trust a workload identity
	// federation: a client_assertion is accepted only if it equals the
	// file's current content (trimmed), read at each request, as a
	// Kubernetes projected service account token rotates under the client.
	// Cert is not needed then.
	FederatedTokenFile string
	// Mailbox, with Options.DovecotClaims, goes into the "email" claim of the
	// app's app-only tokens, and its Roles into "scope": Dovecot, which knows
	// no service principals or mailbox permissions, then opens this mailbox
	// for the app, standing in for Exchange's Add-MailboxPermission grant.
	Mailbox string
	// RedirectURIs are the registered redirect URIs for /authorize. Empty:
	// any http://localhost or http://127.0.0.1 URI (any port), as Entra
	// allows for public-client loopback redirects.
	RedirectURIs []string
}

// String redacts the secret.
func (a App) String() string {
	return fmt.Sprintf("fakeidp.App{TenantID:%q ClientID:%q Secret:%s Cert:%t Roles:%q OID:%q}",
		a.TenantID, a.ClientID, redactedIf(a.Secret != ""), a.Cert != nil, a.Roles, a.OID)
}

// GoString redacts the secret.
func (a App) GoString() string { return a.String() }

// LogValue redacts the secret.
func (a App) LogValue() slog.Value { return slog.StringValue(a.String()) }

// User is a user account that the delegated flows sign in.
type User struct {
	// TenantID is the user's home tenant (tid).
	TenantID string
	// UPN is the user principal name, also preferred_username; matched
	// case-insensitively.
	UPN string
	// OID is the user's object ID. Empty: derived from TenantID and UPN.
	OID string
	// Name is the display name (name claim of the ID token). Empty: the UPN.
	Name string
}

// IdP is a running fake Entra ID. Its methods are safe for concurrent use.
type IdP struct {
	opts     Options
	lifeOver atomic.Int64 // SetTokenLifetime's value in ns; 0: opts.TokenLifetime
	srv      *httptest.Server
	url      string
	key      *rsa.PrivateKey
	kid      string
	client   *http.Client
	closed   chan struct{}
	once     sync.Once

	mu      sync.Mutex
	apps    map[string]App  // by client ID
	users   map[string]User // by lower-case UPN
	rts     map[string]*grant
	codes   map[string]*authCode
	devices map[string]*device // by device_code
	byUser  map[string]*device // by user_code
	faults  []Fault
	counts  map[string]int64
	total   int64

	assertions []string // federated client assertions received, in order
	claimsSeen []string // claims parameters received, in order
	mi         *managedIdentities
}

// New starts an IdP on 127.0.0.1 with a fresh TLS certificate. Close it when done.
func New(opts Options) (*IdP, error) {
	if opts.TokenLifetime < 0 || opts.RefreshIn < 0 || opts.Latency < 0 || opts.RefreshTokenLifetime < 0 {
		return nil, errors.New("fakeidp: durations in Options must not be negative")
	}
	key := opts.SigningKey
	if key == nil {
		var err error
		if key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, fmt.Errorf("fakeidp: generating the signing key: %w", err)
		}
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("fakeidp: encoding the public key: %w", err)
	}
	sum := sha256.Sum256(der)
	p := &IdP{
		opts:    opts,
		key:     key,
		kid:     base64.RawURLEncoding.EncodeToString(sum[:15]),
		closed:  make(chan struct{}),
		apps:    map[string]App{},
		users:   map[string]User{},
		rts:     map[string]*grant{},
		codes:   map[string]*authCode{},
		devices: map[string]*device{},
		byUser:  map[string]*device{},
		counts:  map[string]int64{},
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serveHTTP))
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	p.srv.StartTLS()
	p.url = p.srv.URL
	tr := p.srv.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	p.client = &http.Client{Transport: tr}
	return p, nil
}

// Close stops the server, ends hanging requests and closes idle connections
// of HTTPClient. It is safe to call more than once.
func (p *IdP) Close() {
	p.once.Do(func() {
		close(p.closed)
		p.mu.Lock()
		mi := p.mi
		p.mu.Unlock()
		if mi != nil {
			mi.srv.Close()
		}
		p.srv.Close()
		p.client.CloseIdleConnections()
	})
}

// URL is the scheme and host of the IdP, "https://127.0.0.1:PORT"; use it
// as a cloud's AuthorityHost.
func (p *IdP) URL() string { return p.url }

// Authority is URL()+"/"+tenant, the authority MSAL takes.
func (p *IdP) Authority(tenant string) string { return p.url + "/" + tenant }

// TokenURL is the tenant's token endpoint.
func (p *IdP) TokenURL(tenant string) string { return p.url + "/" + tenant + "/oauth2/v2.0/token" }

// DeviceCodeURL is the tenant's device authorization endpoint.
func (p *IdP) DeviceCodeURL(tenant string) string {
	return p.url + "/" + tenant + "/oauth2/v2.0/devicecode"
}

// AuthorizeURL is the tenant's authorization endpoint.
func (p *IdP) AuthorizeURL(tenant string) string {
	return p.url + "/" + tenant + "/oauth2/v2.0/authorize"
}

// JWKSURL is the tenant's JSON Web Key Set.
func (p *IdP) JWKSURL(tenant string) string { return p.url + "/" + tenant + "/discovery/v2.0/keys" }

// HTTPClient returns a client that trusts the IdP's certificate. Clients
// share one transport (64 idle connections per host); it also follows
// redirects to plain-HTTP loopback URLs, as a browser-flow opener needs.
func (p *IdP) HTTPClient() *http.Client {
	return &http.Client{Transport: p.client.Transport}
}

// Certificate is the IdP's TLS certificate, for callers that build their own
// trust pool.
func (p *IdP) Certificate() *x509.Certificate { return p.srv.Certificate() }

// KeyID is the kid of the signing key, as in token headers and the JWKS.
func (p *IdP) KeyID() string { return p.kid }

// PublicKeyPEM is the signing key's public half as a PEM "PUBLIC KEY" block.
func (p *IdP) PublicKeyPEM() []byte {
	der, err := x509.MarshalPKIXPublicKey(&p.key.PublicKey)
	if err != nil { // cannot happen for an RSA key
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// String describes the IdP without its key.
func (p *IdP) String() string { return "fakeidp.IdP(" + p.url + ")" }

// GoString describes the IdP without its key.
func (p *IdP) GoString() string { return p.String() }

// AddApp registers or replaces an application, keyed by ClientID.
func (p *IdP) AddApp(a App) {
	a.Roles = append([]string(nil), a.Roles...)
	a.RedirectURIs = append([]string(nil), a.RedirectURIs...)
	if a.OID == "" {
		a.OID = derivedID("app", a.ClientID)
	}
	p.mu.Lock()
	p.apps[a.ClientID] = a
	p.mu.Unlock()
}

// AddUser registers or replaces a user, keyed by UPN (case-insensitive).
func (p *IdP) AddUser(u User) {
	if u.OID == "" {
		u.OID = derivedID("user", strings.ToLower(u.TenantID+"/"+u.UPN))
	}
	if u.Name == "" {
		u.Name = u.UPN
	}
	p.mu.Lock()
	p.users[strings.ToLower(u.UPN)] = u
	p.mu.Unlock()
}

// Requests reports how many token endpoint requests carried the given
// grant_type (see the Grant constants), whatever their outcome, including
// requests answered by an injected fault. MSAL's short grant type
// "device_code" counts as GrantDeviceCode. The names "devicecode" and
// "authorize" count requests to those endpoints.
func (p *IdP) Requests(grant string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[grant]
}

// TotalRequests reports how many requests reached the token endpoint.
func (p *IdP) TotalRequests() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total
}

// ResetCounters sets every counter to zero.
func (p *IdP) ResetCounters() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.counts)
	p.total = 0
}

func (p *IdP) now() time.Time {
	if p.opts.Now != nil {
		return p.opts.Now()
	}
	return time.Now()
}

// SetTokenLifetime changes the lifetime of the tokens issued from now on
// (zero: back to Options.TokenLifetime), so a test can let a first token
// expire soon and the next ones live long.
func (p *IdP) SetTokenLifetime(d time.Duration) { p.lifeOver.Store(int64(d)) }

func (p *IdP) lifetime() time.Duration {
	if d := p.lifeOver.Load(); d > 0 {
		return time.Duration(d)
	}
	if p.opts.TokenLifetime > 0 {
		return p.opts.TokenLifetime
	}
	return DefaultTokenLifetime
}

func (p *IdP) rtLifetime() time.Duration {
	if p.opts.RefreshTokenLifetime > 0 {
		return p.opts.RefreshTokenLifetime
	}
	return DefaultRefreshTokenLifetime
}

// issuer is the iss of access tokens for tenant.
func (p *IdP) issuer(tenant string) string {
	if p.opts.Issuer != "" {
		return strings.ReplaceAll(p.opts.Issuer, "{tenant}", tenant)
	}
	return p.url + "/" + tenant + "/v2.0"
}

func redactedIf(set bool) string {
	if set {
		return "[redacted]"
	}
	return `""`
}

// derivedID makes a stable GUID-shaped ID from a name.
func derivedID(kind, name string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + name))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// newID returns a random GUID-shaped ID.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// randomToken returns n random bytes, base64url-encoded, after prefix.
func randomToken(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// jwks is the JSON Web Key Set of the signing key.
func (p *IdP) jwks() []byte {
	e := big.NewInt(int64(p.key.PublicKey.E)).Bytes()
	b, _ := json.Marshal(map[string]any{"keys": []map[string]any{{
		"kty": "RSA",
		"use": "sig",
		"alg": "RS256",
		"kid": p.kid,
		"x5t": p.kid,
		"n":   base64.RawURLEncoding.EncodeToString(p.key.PublicKey.N.Bytes()),
		"e":   base64.RawURLEncoding.EncodeToString(e),
	}}})
	return b
}

// Unsigned returns a JWT-shaped token with the given claims (a JSON object)
// and no valid signature: enough for code that reads claims without
// verifying them (audience checks, redaction), never accepted by [IdP.Verify].
func Unsigned(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc([]byte(claims)) + ".c2ln"
}
