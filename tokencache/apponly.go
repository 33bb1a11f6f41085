package tokencache

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"golang.org/x/crypto/pkcs12"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/cloud"
)

// Credential proves the identity of a confidential client (an app
// registration with a secret, a certificate or a federated assertion).
// Create one with [ClientSecret], [Certificate], [CertificatePEM],
// [CertificatePFX] or [Assertion]. Its String, GoString, Format and
// LogValue methods never reveal the secret.
type Credential struct {
	kind string
	cred confidential.Credential
	err  error
	// fp fingerprints a secret or certificate; id identifies an
	// assertion callback. Tenants whose credentials match share one MSAL
	// client.
	fp string
	id *int
}

// ClientSecret returns a credential for a client secret.
func ClientSecret(secret string) Credential {
	if secret == "" {
		return Credential{kind: "client secret", err: errors.New("tokencache: empty client secret")}
	}
	c, err := confidential.NewCredFromSecret(secret)
	return Credential{kind: "client secret", cred: c, err: err, fp: fingerprint("secret", []byte(secret))}
}

// Certificate returns a credential that signs a client assertion with key
// for the first certificate of certs (the one registered in the app).
// MSAL signs a fresh assertion for each token request.
func Certificate(certs []*x509.Certificate, key crypto.PrivateKey) Credential {
	c, err := confidential.NewCredFromCert(certs, key)
	if err != nil {
		err = fmt.Errorf("tokencache: certificate credential: %w", err)
	}
	cr := Credential{kind: "certificate", cred: c, err: err, id: new(int)}
	if len(certs) > 0 && certs[0] != nil {
		cr.fp, cr.id = fingerprint("cert", certs[0].Raw), nil
	}
	return cr
}

// CertificatePEM reads a certificate and its private key (PKCS#1, PKCS#8
// or EC, optionally encrypted with password) from PEM data.
func CertificatePEM(pemData []byte, password string) (Credential, error) {
	certs, key, err := confidential.CertFromPEM(pemData, password)
	if err != nil {
		return Credential{}, fmt.Errorf("tokencache: reading PEM certificate: %s", pemErrText(err))
	}
	c := Certificate(certs, key)
	return c, c.err
}

// CertificatePFX reads a certificate and its private key from PKCS#12
// (.pfx/.p12) data protected by password.
func CertificatePFX(pfx []byte, password string) (Credential, error) {
	key, cert, err := pkcs12.Decode(pfx, password)
	if err != nil {
		return Credential{}, fmt.Errorf("tokencache: reading PKCS#12 certificate: %w", err)
	}
	c := Certificate([]*x509.Certificate{cert}, key)
	return c, c.err
}

// AssertionRequest tells an [Assertion] callback which client and token
// endpoint the assertion is for.
type AssertionRequest struct {
	ClientID      string
	TokenEndpoint string
}

// Assertion returns a credential whose client assertion (a signed JWT, for
// example a workload identity federation token) comes from fn. fn is
// called once per token request, on a miss only.
func Assertion(fn func(ctx context.Context, req AssertionRequest) (string, error)) Credential {
	if fn == nil {
		return Credential{kind: "assertion", err: errors.New("tokencache: nil assertion callback")}
	}
	c := confidential.NewCredFromAssertionCallback(func(ctx context.Context, o confidential.AssertionRequestOptions) (string, error) {
		return fn(ctx, AssertionRequest{ClientID: o.ClientID, TokenEndpoint: o.TokenEndpoint})
	})
	return Credential{kind: "assertion", cred: c, id: new(int)}
}

// String names the kind of credential only.
func (c Credential) String() string { return "tokencache.Credential{" + c.kind + ", redacted}" }

// GoString is like String.
func (c Credential) GoString() string { return c.String() }

// Format prints the String form for every verb.
func (c Credential) Format(f fmt.State, _ rune) { fmt.Fprint(f, c.String()) }

// LogValue implements [slog.LogValuer].
func (c Credential) LogValue() slog.Value { return slog.StringValue(c.String()) }

func pemErrText(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// AppOnlyConfig describes an app registration that acts as itself (client
// credentials grant), for example to read mailboxes with
// IMAP.AccessAsApp or full_access_as_app.
type AppOnlyConfig struct {
	// Cloud gives the authority host; its Exchange scopes are what
	// callers usually ask for. Zero means [cloud.Global].
	Cloud cloud.Cloud
	// TenantID is the directory (tenant) id or a verified domain. Required.
	TenantID string
	// ClientID is the application (client) id. Required.
	ClientID string
	// Credential proves the app's identity. Required.
	Credential Credential
}

// App issues app-only tokens for one tenant and client. It is safe for
// concurrent use. Create it with [Cache.AppOnly].
type App struct {
	c         *Cache
	p         *partition
	client    *confidential.Client // shared by the tenants of one app registration and credential
	authority string
	tenant    string
	clientID  string
	scope     string // the cloud's app-only scope, used when Source gets none
}

// String names the app without its credential.
func (a *App) String() string {
	return "tokencache.App{tenant: " + a.tenant + ", client: " + a.clientID + "}"
}

// GoString is like String.
func (a *App) GoString() string { return a.String() }

// Format prints the String form for every verb.
func (a *App) Format(f fmt.State, _ rune) { fmt.Fprint(f, a.String()) }

// LogValue implements [slog.LogValuer].
func (a *App) LogValue() slog.Value { return slog.StringValue(a.String()) }

// AppOnly returns the [App] for cfg. Calls with the same cloud, tenant and
// client return the same App (the first credential wins), backed by one
// MSAL confidential client. AppOnly does no I/O.
func (c *Cache) AppOnly(cfg AppOnlyConfig) (*App, error) {
	if cfg.Cloud.AuthorityHost == "" {
		cfg.Cloud = cloud.Global
	}
	switch {
	case cfg.TenantID == "":
		return nil, errors.New("tokencache: AppOnlyConfig.TenantID must be set")
	case cfg.ClientID == "":
		return nil, errors.New("tokencache: AppOnlyConfig.ClientID must be set")
	case cfg.Credential.kind == "":
		return nil, errors.New("tokencache: AppOnlyConfig.Credential must be set (ClientSecret, Certificate or Assertion)")
	case cfg.Credential.err != nil:
		return nil, cfg.Credential.err
	}
	if t := strings.ToLower(cfg.TenantID); t == "common" || t == "organizations" || t == "consumers" {
		return nil, fmt.Errorf("tokencache: app-only tokens need a specific tenant, not %q", cfg.TenantID)
	}
	authority := cfg.Cloud.Authority(cfg.TenantID)
	name := PartitionName(cfg.Cloud.AuthorityHost, cfg.TenantID, cfg.ClientID, "")
	v, err := c.partition(name, func() (any, error) {
		client, err := c.sharedClient(cfg)
		if err != nil {
			return nil, err
		}
		return &App{c: c, p: newPartition(c, name), client: client, authority: authority,
			tenant: cfg.TenantID, clientID: cfg.ClientID, scope: cfg.Cloud.AppOnlyScope()}, nil
	})
	if err != nil {
		return nil, err
	}
	a, ok := v.(*App)
	if !ok {
		return nil, fmt.Errorf("tokencache: partition %s is already used by a delegated account", name)
	}
	return a, nil
}

// Source returns the cached source of app-only tokens for scopes, usually
// the single scope from [cloud.Cloud.AppOnlyScope]
// ("https://outlook.office365.com/.default"), which is also what no scopes
// means. It does no I/O.
func (a *App) Source(scopes ...string) *Source {
	scopes = append([]string(nil), scopes...)
	if len(scopes) == 0 {
		scopes = []string{a.scope}
	}
	k := key("app", a.authority, a.tenant, a.clientID, "", scopes)
	return a.c.source(k, func() fetcher {
		return claimsFetcher(func(ctx context.Context, stale *oauth2.Token, claims string) (*oauth2.Token, time.Time, error) {
			return a.p.fetchOpt(ctx, k, stale, claims != "", func(ctx context.Context) (*oauth2.Token, time.Time, error) {
				return a.acquire(ctx, scopes, claims)
			})
		})
	})
}

// acquire asks MSAL for a token; the partition is locked by the caller.
func (a *App) acquire(ctx context.Context, scopes []string, claims string) (*oauth2.Token, time.Time, error) {
	opts := []confidential.AcquireByCredentialOption{confidential.WithTenantID(a.tenant)}
	if claims != "" {
		opts = append(opts, confidential.WithClaims(claims))
	}
	res, err := a.client.AcquireTokenByCredential(ctx, scopes, opts...)
	if err != nil {
		return nil, time.Time{}, classifyMSAL(err)
	}
	return newToken(res.AccessToken, res.ExpiresOn), res.Metadata.RefreshOn, nil
}
