package tokencache

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
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
	fp   string // fingerprint: part of the cache key, never the secret
	cred confidential.Credential
	err  error
	// id, when set, keeps this credential's MSAL client its own (an
	// assertion callback); otherwise tenants whose credentials have the same
	// fingerprint share one MSAL client.
	id *int
}

// fingerprint returns a short, one-way digest of parts for a cache key: two
// credentials with different secrets or certificates get different keys, and
// the key cannot be turned back into the secret (64 bits of SHA-256 under a
// fixed domain label).
func fingerprint(kind string, parts ...[]byte) string {
	h := sha256.New()
	h.Write([]byte("mailauth tokencache credential v1\x00" + kind))
	for _, p := range parts {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Fingerprint returns a short one-way digest that tells credentials apart
// without revealing them: a client secret's is a truncated SHA-256 of the
// secret, a certificate's covers the certificates and the public half of
// the key, an assertion callback's the callback's function name. It is part
// of the cache key of app-only tokens, so a changed secret or a rotated
// certificate never gets the token cached for the old one.
func (c Credential) Fingerprint() string { return c.fp }

// ClientSecret returns a credential for a client secret.
func ClientSecret(secret string) Credential {
	if secret == "" {
		return Credential{kind: "client secret", err: errors.New("tokencache: empty client secret")}
	}
	c, err := confidential.NewCredFromSecret(secret)
	return Credential{kind: "client secret", fp: fingerprint("secret", []byte(secret)), cred: c, err: err}
}

// Certificate returns a credential that signs a client assertion with key
// for the first certificate of certs (the one registered in the app).
// MSAL signs a fresh assertion for each token request.
func Certificate(certs []*x509.Certificate, key crypto.PrivateKey) Credential {
	c, err := confidential.NewCredFromCert(certs, key)
	if err != nil {
		err = fmt.Errorf("tokencache: certificate credential: %w", err)
	}
	var parts [][]byte
	for _, cert := range certs {
		if cert != nil {
			parts = append(parts, cert.Raw)
		}
	}
	if k, ok := key.(interface{ Public() crypto.PublicKey }); ok {
		if der, err := x509.MarshalPKIXPublicKey(k.Public()); err == nil {
			parts = append(parts, der)
		}
	}
	cr := Credential{kind: "certificate", fp: fingerprint("certificate", parts...), cred: c, err: err}
	if len(parts) == 0 {
		cr.id = new(int) // nothing to tell it apart by: its own MSAL client
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
// called once per token request, on a miss only. Its fingerprint is fn's
// function name, which is the same in every run of one program: two
// different callbacks get different cache keys, two closures of the same
// function literal share one.
func Assertion(fn func(ctx context.Context, req AssertionRequest) (string, error)) Credential {
	if fn == nil {
		return Credential{kind: "assertion", err: errors.New("tokencache: nil assertion callback")}
	}
	c := confidential.NewCredFromAssertionCallback(func(ctx context.Context, o confidential.AssertionRequestOptions) (string, error) {
		return fn(ctx, AssertionRequest{ClientID: o.ClientID, TokenEndpoint: o.TokenEndpoint})
	})
	name := ""
	if f := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()); f != nil {
		name = f.Name()
	}
	// Closures of one function literal share a fingerprint (the cache key)
	// but not an MSAL client.
	return Credential{kind: "assertion", fp: fingerprint("assertion", []byte(name)), cred: c, id: new(int)}
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
	credFP    string // the credential's fingerprint, part of every key
	scope     string // the cloud's app-only scope, used when Source gets none
}

// Partition returns the name of the store record that holds this app's
// tokens: [PartitionName] of its authority host, tenant and client, then
// "|" and the credential's [Credential.Fingerprint].
func (a *App) Partition() string { return a.p.name }

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

// AppOnly returns the [App] for cfg. Calls with the same cloud, tenant,
// client and credential return the same App, backed by one MSAL
// confidential client. The credential's [Credential.Fingerprint] is part of
// the cache key (in memory and in the [Store]): after a secret is changed or
// a certificate rotated, the next token is requested with the new
// credential at once, and a wrong secret is refused by Entra ID instead of
// being hidden by a token cached for the right one. AppOnly does no I/O.
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
	name := PartitionName(cfg.Cloud.AuthorityHost, cfg.TenantID, cfg.ClientID, "") + "|" + cfg.Credential.fp
	v, err := c.partition(name, func() (any, error) {
		client, err := c.sharedClient(cfg)
		if err != nil {
			return nil, err
		}
		return &App{c: c, p: newPartition(c, name), client: client, authority: authority,
			tenant: cfg.TenantID, clientID: cfg.ClientID, credFP: cfg.Credential.fp, scope: cfg.Cloud.AppOnlyScope()}, nil
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
	k := key("app", a.authority, a.tenant, a.clientID, "cred:"+a.credFP, scopes)
	return a.c.source(k, func() fetcher {
		return scopedFetcher{scope: strings.ToLower(a.authority), fetcher: claimsFetcher(func(ctx context.Context, stale *oauth2.Token, claims string) (*oauth2.Token, time.Time, error) {
			return a.p.fetchOpt(ctx, k, stale, claims != "", func(ctx context.Context) (*oauth2.Token, time.Time, error) {
				return a.acquire(ctx, scopes, claims)
			})
		})}
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
