package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/modernauth/mailauth/internal/core/tlsconf"

	"github.com/modernauth/mailauth/internal/core/httpx"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/core/redact"
	"github.com/modernauth/mailauth/tokencache"
)

// Env is what a program builds from its common flags: the cloud, TLS trust, an HTTP client
// for the identity provider, the token cache and the redacted transcript.
type Env struct {
	Flags *Flags
	Cloud cloud.Cloud

	// TLS trusts the system roots plus -ca-file. Clone it before changing ServerName.
	TLS *tls.Config
	// HTTP is the client for the identity provider (and any HTTPS the program makes).
	HTTP *http.Client
	// Redactor knows every token handed out through Source and the client secret.
	Redactor *redact.Redactor
	// Transcript is a redacting writer on stderr when -v is set, else nil.
	Transcript *redact.Writer
	// Logger writes debug records to Transcript when -v is set; it is nil otherwise.
	Logger *slog.Logger

	Cache   *tokencache.Cache
	App     *tokencache.App     // set in app-only mode
	User    *tokencache.User    // set in delegated mode
	Managed *tokencache.Managed // set with -managed-identity (app-only mode)

	static *staticSource // set when -access-token-file is used
	stderr io.Writer
	memory bool // tokens are kept in memory only (-cache none, or Fresh app-only)

	freshMu   sync.Mutex
	freshDone map[string]bool // delegated scope sets already redeemed afresh (Fresh)
}

// Token origins reported by Env.TokenOrigin.
const (
	OriginFresh  = "fresh"  // asked from Entra ID on this run; the credential was checked
	OriginCache  = "cache"  // a token stored by an earlier run is used while valid
	OriginMemory = "memory" // -cache none: asked from Entra ID, kept for this run only
	OriginFile   = "file"   // -access-token-file
	OriginNone   = "none"   // anonymous
)

// TokenOrigin says where the program's tokens come from: OriginFresh, OriginCache,
// OriginMemory, OriginFile or OriginNone.
func (e *Env) TokenOrigin() string {
	switch {
	case e.static != nil:
		return OriginFile
	case e.App == nil && e.User == nil:
		return OriginNone
	case e.Flags.Fresh:
		return OriginFresh
	case e.memory:
		return OriginMemory
	}
	return OriginCache
}

// Credential describes how the program proves itself to Entra ID, for messages: "the
// client secret in $NAME (-client-secret-env)", "the certificate in FILE (-cert)", or ""
// for delegated and static tokens.
func (e *Env) Credential() string {
	switch {
	case e.App == nil:
		return ""
	case e.Flags.CertFile != "":
		return "the certificate in " + e.Flags.CertFile + " (-cert)"
	default:
		return "the client secret in $" + e.Flags.ClientSecretEnv + " (-client-secret-env)"
	}
}

// Account is the delegated account (-user, else -mailbox), or "".
func (e *Env) Account() string {
	if e.User == nil {
		return ""
	}
	if e.Flags.User != "" {
		return e.Flags.User
	}
	return e.Flags.Mailbox
}

// NotSignedInError reports a delegated account without a sign-in in the cache. It wraps
// tokencache.ErrNotSignedIn.
type NotSignedInError struct {
	Account string
	Program string
}

func (e *NotSignedInError) Error() string {
	if e.Program == "token" {
		return e.Account + " is not signed in: run token login with the same flags first (a device code sign-in; add -browser to sign in in the browser)"
	}
	return e.Account + " is not signed in: run once with -device-code or -browser"
}

// Unwrap returns tokencache.ErrNotSignedIn.
func (e *NotSignedInError) Unwrap() error { return tokencache.ErrNotSignedIn }

// Mode names how the program gets tokens.
type Mode string

// The modes of Env.Mode.
const (
	ModeStatic    Mode = "access-token-file"
	ModeAppOnly   Mode = "app-only"
	ModeDelegated Mode = "delegated"
	ModeAnonymous Mode = "anonymous"
)

// Mode reports how tokens are obtained.
func (e *Env) Mode() Mode {
	switch {
	case e.static == nil && e.App == nil && e.User == nil && e.Managed == nil:
		return ModeAnonymous
	case e.static != nil:
		return ModeStatic
	case e.App != nil || e.Managed != nil:
		return ModeAppOnly
	default:
		return ModeDelegated
	}
}

// AppOnly reports whether tokens are app-only: from a client secret or certificate, or a
// static token whose claims say so.
func (e *Env) AppOnly() bool {
	if e.static != nil {
		return e.static.appOnly
	}
	return e.App != nil || e.Managed != nil
}

// Setup builds an Env from parsed flags. Progress and prompts go to stderr. Setup does no
// network I/O.
func Setup(f *Flags, stderr io.Writer) (*Env, error) {
	if stderr == nil {
		stderr = os.Stderr
	}
	e := &Env{Flags: f, Redactor: &redact.Redactor{}, stderr: stderr}
	secret := ""
	if f.ClientSecretEnv != "" {
		secret = os.Getenv(f.ClientSecretEnv)
	}
	f.fromAzureEnv(secret)
	c, err := cloud.ByName(f.Cloud)
	if err != nil {
		return nil, err
	}
	if f.AuthorityHost != "" {
		c.AuthorityHost = strings.TrimRight(f.AuthorityHost, "/")
	}
	c = c.ForTenant(f.Tenant) // -tenant consumers: Outlook.com scopes and hosts
	e.Cloud = c

	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("-ca-file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-ca-file %s: no PEM certificate found", f.CAFile)
		}
	}
	e.TLS = tlsconf.Client(&tls.Config{RootCAs: pool}, "") // each package sets ServerName per dial
	if f.Verbose {
		e.Transcript = e.Redactor.Writer(stderr)
		e.Logger = slog.New(slog.NewTextHandler(e.Transcript, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	tr := httpx.Transport()
	tr.TLSClientConfig = e.TLS.Clone()
	e.HTTP = &http.Client{Transport: e.Transport(tr), Timeout: 60 * time.Second}

	if f.AccessTokenFile != "" {
		s, err := readStatic(f.AccessTokenFile)
		if err != nil {
			return nil, err
		}
		e.Redactor.Add(s.tok.AccessToken)
		e.static = s
		return e, nil
	}
	if f.Tenant == "" && f.ClientID == "" && f.TokenOptional && !f.managed.set {
		return e, nil
	}
	if f.managed.set {
		store, err := openStore(f.Cache)
		if err != nil {
			return nil, err
		}
		e.Cache = tokencache.New(&tokencache.Options{Store: store, HTTPClient: e.HTTP, Logger: e.Logger, RefreshMargin: f.RefreshMargin})
		if err := e.setupManaged(c); err != nil {
			return nil, err
		}
		return e, nil
	}
	switch {
	case f.Tenant == "" && f.ClientID == "":
		alt := ""
		if f.static {
			alt = "give -access-token-file or -managed-identity, or "
		}
		return nil, fmt.Errorf("no way to get a token: %sgive -tenant and -client-id (with -client-secret-env, -cert or -federated-token-file for app-only, or -device-code or -browser to sign in as a user)", alt)
	case f.Tenant == "":
		return nil, fmt.Errorf("-tenant is missing: give the Directory (tenant) ID or a verified domain of the tenant (or set %s)", EnvName("tenant"))
	case f.ClientID == "":
		return nil, fmt.Errorf("-client-id is missing: give the Application (client) ID of the app registration (or set %s)", EnvName("client-id"))
	}
	appOnly := f.CertFile != "" || secret != "" || f.FederatedTokenFile != ""
	var store tokencache.Store
	switch {
	case f.Cache == CacheNone || (f.Fresh && appOnly):
		// App-only and Fresh: the credential itself is checked on every run, so a wrong
		// or rotated secret can never hide behind a stored token.
		store, e.memory = tokencache.NewMemoryStore(), true
	default:
		if store, err = openStore(f.Cache); err != nil {
			return nil, err
		}
	}
	e.Cache = tokencache.New(&tokencache.Options{Store: store, HTTPClient: e.HTTP, Logger: e.Logger, RefreshMargin: f.RefreshMargin})

	switch {
	case f.FederatedTokenFile != "" && f.CertFile == "" && secret == "":
		if err := e.setupFederated(c); err != nil {
			return nil, err
		}
	case f.CertFile != "" || secret != "":
		var cred tokencache.Credential
		if f.CertFile != "" {
			data, err := os.ReadFile(f.CertFile)
			if err != nil {
				return nil, fmt.Errorf("-cert: %w", err)
			}
			pass := ""
			if f.CertPasswordEnv != "" {
				pass = os.Getenv(f.CertPasswordEnv)
			}
			if strings.Contains(string(data), "-----BEGIN") {
				cred, err = tokencache.CertificatePEM(data, pass)
			} else {
				cred, err = tokencache.CertificatePFX(data, pass)
			}
			if err != nil {
				return nil, fmt.Errorf("-cert %s: %w", f.CertFile, err)
			}
		} else {
			e.Redactor.Add(secret)
			cred = tokencache.ClientSecret(secret)
		}
		e.App, err = e.Cache.AppOnly(tokencache.AppOnlyConfig{Cloud: c, TenantID: f.Tenant, ClientID: f.ClientID, Credential: cred})
		if err != nil {
			return nil, err
		}
	default:
		account := f.User
		if account == "" {
			account = f.Mailbox
		}
		if account == "" {
			return nil, errors.New("-user is missing: delegated sign-in needs -user or -mailbox (the account to sign in as); for app-only, set the client secret's environment variable (-client-secret-env) or give -cert")
		}
		e.User, err = e.Cache.Delegated(tokencache.DelegatedConfig{Cloud: c, TenantID: f.Tenant, ClientID: f.ClientID, Account: account})
		if err != nil {
			return nil, err
		}
	}
	return e, nil
}

// DefaultCacheDir is where tokens are stored when -cache is not given: mailauth under the
// user's cache directory ($XDG_CACHE_HOME or ~/.cache on Linux). There is no fallback to a
// shared directory such as /tmp, where another user could create the name first.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no user cache directory (%w); name a private directory with -cache", err)
	}
	return filepath.Join(d, "mailauth"), nil
}

// openStore opens the file store for -cache. A directory (existing, or a path without an
// extension) is used as is; a file path F (tokens.json) keeps its records in F.d.
func openStore(path string) (tokencache.Store, error) {
	if path == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			return nil, fmt.Errorf("-cache: %w", err)
		}
		path = d
	}
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		path += ".d"
	} else if err != nil && filepath.Ext(path) != "" {
		path += ".d"
	}
	s, err := tokencache.NewFileStore(path)
	if err != nil {
		return nil, fmt.Errorf("-cache: %w", err)
	}
	return s, nil
}

// Scopes returns the scopes to ask for protocol p: the app-only .default scope, or the
// protocol's delegated scopes. For cloud.Graph they are Microsoft Graph's, not Exchange's.
func (e *Env) Scopes(p cloud.Protocol) []string {
	if e.App != nil || e.Managed != nil {
		if p == cloud.Graph {
			return []string{e.Cloud.GraphAppOnlyScope()}
		}
		return []string{e.Cloud.AppOnlyScope()}
	}
	return e.Cloud.DelegatedScopes(p)
}

// Source returns the token source for protocol p. Every token it hands out is registered
// with the Redactor, so a transcript never shows it.
func (e *Env) Source(p cloud.Protocol) oauth2.TokenSource {
	switch {
	case e.static == nil && e.App == nil && e.User == nil && e.Managed == nil:
		return nil // TokenOptional and no token flags: anonymous
	case e.static != nil:
		return e.static
	case e.Managed != nil:
		return &registering{src: e.Managed.Source(e.Scopes(p)...), r: e.Redactor}
	case e.App != nil:
		return &registering{src: e.App.Source(e.Scopes(p)...), r: e.Redactor}
	default:
		scopes := e.Scopes(p)
		r := &registering{src: e.User.Source(scopes...), r: e.Redactor}
		if e.Flags.Fresh {
			r.fresh = func() bool { return e.takeFresh(strings.Join(scopes, " ")) }
			r.stats = e.Cache.Stats
		}
		return r
	}
}

// GraphSource is Source(cloud.Graph) for a program that needs other delegated Graph
// permissions than mail's, such as AuditLog.Read.All and Reports.Read.All: a delegated
// sign-in asks for those; app-only and static tokens are Source's.
func (e *Env) GraphSource(permissions ...string) oauth2.TokenSource {
	if e.User == nil || e.static != nil || len(permissions) == 0 {
		return e.Source(cloud.Graph)
	}
	return &registering{src: e.User.Source(e.Cloud.GraphDelegatedScopes(permissions...)...), r: e.Redactor}
}

// takeFresh reports whether the scope set key still needs its fresh redemption, and
// marks it done.
func (e *Env) takeFresh(key string) bool {
	e.freshMu.Lock()
	defer e.freshMu.Unlock()
	if e.freshDone[key] {
		return false
	}
	if e.freshDone == nil {
		e.freshDone = map[string]bool{}
	}
	e.freshDone[key] = true
	return true
}

// EnsureSignedIn signs the delegated user in with the flow chosen by -device-code or
// -browser when the cache holds no refresh token for them. It is a no-op for app-only and
// static tokens.
func (e *Env) EnsureSignedIn(ctx context.Context) error {
	if e.User == nil {
		return nil
	}
	ok, err := e.User.SignedIn(ctx)
	if err != nil && !errors.Is(err, tokencache.ErrCorrupt) {
		return err // an unreadable store is not "signed out"
	}
	if err == nil && ok {
		return nil
	}
	return e.SignIn(ctx)
}

// SignIn runs the delegated sign-in flow chosen by -device-code or -browser.
func (e *Env) SignIn(ctx context.Context) error {
	if e.User == nil {
		return errors.New("sign-in is for delegated access; app-only needs no sign-in")
	}
	switch {
	case e.Flags.DeviceCode:
		return e.User.SignInDeviceCode(ctx, func(dc tokencache.DeviceCode) {
			msg := dc.Message
			if msg == "" {
				msg = fmt.Sprintf("To sign in, open %s and enter the code %s", dc.VerificationURL, dc.UserCode)
			}
			fmt.Fprintln(e.stderr, msg)
		})
	case e.Flags.Browser:
		return e.User.SignInBrowser(ctx, func(url string) error {
			fmt.Fprintf(e.stderr, "Opening the browser to sign in; if it does not open, visit:\n%s\n", url)
			return openBrowser(url)
		})
	}
	return &NotSignedInError{Account: e.Account(), Program: e.Flags.Program}
}

func openBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return nil // the URL is printed; the person can open it by hand
	}
	go cmd.Wait()
	return nil
}

// registering passes tokens through and registers each with the Redactor.
type registering struct {
	src interface {
		oauth2.TokenSource
		TokenContext(context.Context) (*oauth2.Token, error)
		TokenWithClaims(context.Context, string) (*oauth2.Token, error)
		Invalidate(*oauth2.Token)
	}
	r *redact.Redactor
	// fresh, when set, reports whether this scope set still needs one token redeemed
	// afresh rather than taken from the store (Flags.Fresh, delegated).
	fresh func() bool
	stats func() tokencache.Stats
}

// TokenWithClaims passes a claims challenge through to the cache and registers the token.
func (s *registering) TokenWithClaims(ctx context.Context, claims string) (*oauth2.Token, error) {
	t, err := s.src.TokenWithClaims(ctx, claims)
	if err == nil {
		s.r.Add(t.AccessToken)
	}
	return t, err
}

func (s *registering) Token() (*oauth2.Token, error) { return s.TokenContext(context.Background()) }

// TokenContext returns the source's token and registers it for redaction.
func (s *registering) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	var before tokencache.Stats
	fresh := s.fresh != nil && s.fresh()
	if fresh {
		before = s.stats()
	}
	t, err := s.src.TokenContext(ctx)
	if err == nil && fresh {
		if after := s.stats(); after.Fetches == before.Fetches || after.StoreHits != before.StoreHits {
			// It came from the store: redeem the refresh token once to check the sign-in.
			s.src.Invalidate(t)
			t, err = s.src.TokenContext(ctx)
		}
	}
	if err == nil {
		s.r.Add(t.AccessToken)
	}
	return t, err
}

// Invalidate passes through to the cache.
func (s *registering) Invalidate(t *oauth2.Token) { s.src.Invalidate(t) }

// staticSource serves one token read from a file.
type staticSource struct {
	tok     *oauth2.Token
	appOnly bool
}

// Token returns the token, even an expired one: the server has the last word, and
// mailcheck reports the expiry from the claims.
func (s *staticSource) Token() (*oauth2.Token, error) {
	if s.tok.Expiry.IsZero() || time.Now().Before(s.tok.Expiry) {
		return s.tok, nil
	}
	t := *s.tok
	t.Expiry = time.Time{} // so that oauth2 helpers do not refuse it on their own
	return &t, nil
}

// Expiry is when the token expires, from its exp claim.
func (s *staticSource) Expiry() time.Time { return s.tok.Expiry }

func (s *staticSource) String() string { return "access token from file" }

func readStatic(path string) (*staticSource, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(os.Stdin, 64<<10))
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("-access-token-file: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	// Accept the JSON printed by `token -json` too.
	if strings.HasPrefix(tok, "{") {
		var j struct {
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal([]byte(tok), &j) == nil && j.AccessToken != "" {
			tok = j.AccessToken
		}
	}
	tok = strings.TrimPrefix(tok, "Bearer ")
	if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
		return nil, errors.New("-access-token-file: the file must hold one access token")
	}
	c := mailauth.ParseIdentity(tok)
	return &staticSource{
		tok:     &oauth2.Token{AccessToken: tok, TokenType: "Bearer", Expiry: c.ExpiresAt},
		appOnly: c.AppOnly(),
	}, nil
}
