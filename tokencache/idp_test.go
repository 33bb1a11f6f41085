package tokencache

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

const (
	tTenant = "contoso"
	tApp    = "app1"
	tSecret = "s3cret-VALUE-xyz"
	tPublic = "pub1"
	tUser   = "alice@contoso.test"
)

func newIdP(t testing.TB, opts fakeidp.Options) (*fakeidp.IdP, cloud.Cloud) {
	t.Helper()
	idp, err := fakeidp.New(opts)
	require.NoError(t, err, "fakeidp.New")
	t.Cleanup(idp.Close)
	idp.AddApp(fakeidp.App{TenantID: tTenant, ClientID: tApp, Secret: tSecret, Roles: []string{"IMAP.AccessAsApp"}})
	idp.AddApp(fakeidp.App{TenantID: tTenant, ClientID: tPublic})
	idp.AddUser(fakeidp.User{TenantID: tTenant, UPN: tUser})
	c := cloud.Global
	c.AuthorityHost = idp.URL()
	return idp, c
}

func newTestCache(idp *fakeidp.IdP, o *Options) *Cache {
	if o == nil {
		o = &Options{}
	}
	o.HTTPClient = idp.HTTPClient()
	return New(o)
}

func TestAppOnlySecret(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	c := newTestCache(idp, nil)
	app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: ClientSecret(tSecret)})
	require.NoError(t, err)
	src := app.Source(cl.AppOnlyScope())
	tok, err := src.TokenContext(t.Context())
	require.NoError(t, err)
	claims, err := idp.Verify(tok.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, "https://outlook.office365.com", claims.Audience)
	assert.True(t, claims.HasRole("IMAP.AccessAsApp"))
	for range 100 {
		again, err := app.Source(cl.AppOnlyScope()).Token()
		require.NoError(t, err)
		assert.Same(t, tok, again)
	}
	assert.EqualValues(t, 1, idp.Requests(fakeidp.GrantClientCredentials))

	// Invalidate forces exactly one new request: MSAL's own cache must not answer.
	src.Invalidate(tok)
	_, err = src.Token()
	require.NoError(t, err)
	assert.EqualValues(t, 2, idp.Requests(fakeidp.GrantClientCredentials))

	app2, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: ClientSecret(tSecret)})
	require.NoError(t, err)
	assert.Same(t, app, app2, "one App (one MSAL client) per partition")
	app3, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: ClientSecret("other")})
	require.NoError(t, err)
	assert.NotSame(t, app, app3, "another secret is another partition")
}

func TestAppOnlyWrongSecretIsTyped(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	c := newTestCache(idp, nil)
	app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: ClientSecret("wrong-secret-123")})
	require.NoError(t, err)
	_, err = app.Source(cl.AppOnlyScope()).TokenContext(t.Context())
	require.Error(t, err)
	var ie *IdPError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, "invalid_client", ie.Code)
	assert.NotEmpty(t, ie.AADSTS)
	assert.NotEmpty(t, ie.CorrelationID)
	assert.False(t, ie.Transient)
	assert.NotContains(t, err.Error(), "wrong-secret-123")
	assert.EqualValues(t, 1, idp.Requests(fakeidp.GrantClientCredentials), "a permanent error is not retried")
}

func selfSignedPEM(t *testing.T) (*x509.Certificate, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "app1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})...)
	return cert, out
}

func TestAppOnlyCertificateAndAssertion(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	cert, pemData := selfSignedPEM(t)
	idp.AddApp(fakeidp.App{TenantID: tTenant, ClientID: "certapp", Cert: cert, Roles: []string{"SMTP.SendAsApp"}})
	c := newTestCache(idp, nil)
	cred, err := CertificatePEM(pemData, "")
	require.NoError(t, err)
	app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: "certapp", Credential: cred})
	require.NoError(t, err)
	tok, err := app.Source(cl.AppOnlyScope()).TokenContext(t.Context())
	require.NoError(t, err, "certificate credential")
	claims, err := idp.Verify(tok.AccessToken)
	require.NoError(t, err)
	assert.True(t, claims.HasRole("SMTP.SendAsApp"))

	// Assertion callback: the caller signs; here a wrong assertion must
	// come back as a typed, non-transient error, and the callback is used.
	var mu sync.Mutex
	var seen []AssertionRequest
	app2, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: Assertion(
		func(ctx context.Context, r AssertionRequest) (string, error) {
			mu.Lock()
			seen = append(seen, r)
			mu.Unlock()
			return "not-a-jwt", nil
		})})
	require.NoError(t, err)
	_, err = app2.Source(cl.AppOnlyScope()).TokenContext(t.Context())
	var ie *IdPError
	require.ErrorAs(t, err, &ie)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 1)
	assert.Equal(t, tApp, seen[0].ClientID)
	assert.Contains(t, seen[0].TokenEndpoint, "/oauth2/v2.0/token")
}

func TestCredentialErrors(t *testing.T) {
	_, err := CertificatePFX([]byte("not a pfx"), "pw")
	require.Error(t, err)
	_, err = CertificatePEM([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), "")
	require.Error(t, err)
	c := New(nil)
	_, err = c.AppOnly(AppOnlyConfig{TenantID: "t", ClientID: "c", Credential: ClientSecret("")})
	require.Error(t, err)
	_, err = c.AppOnly(AppOnlyConfig{TenantID: "t", ClientID: "c"})
	require.ErrorContains(t, err, "Credential must be set")
	_, err = c.AppOnly(AppOnlyConfig{TenantID: "organizations", ClientID: "c", Credential: ClientSecret("x")})
	require.ErrorContains(t, err, "specific tenant")
	_, err = c.Delegated(DelegatedConfig{TenantID: "t", ClientID: "c"})
	require.ErrorContains(t, err, "Account must be set")
}

func TestAppOnlyDefaultScope(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	c := newTestCache(idp, nil)
	app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: ClientSecret(tSecret)})
	require.NoError(t, err)
	tok, err := app.Source().TokenContext(t.Context())
	require.NoError(t, err)
	again, err := app.Source(cl.AppOnlyScope()).TokenContext(t.Context())
	require.NoError(t, err)
	assert.Same(t, tok, again, "no scopes means the cloud's .default scope")
}

// TestAppOnlyAssertionSigned: the assertion callback signs a client
// assertion (as a workload-identity or HSM signer would) and the IdP
// accepts it.
func TestAppOnlyAssertionSigned(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	cert, pemData := selfSignedPEM(t)
	idp.AddApp(fakeidp.App{TenantID: tTenant, ClientID: "fedapp", Cert: cert, Roles: []string{"EWS.AccessAsApp"}})
	block, _ := pem.Decode(pemData[bytes.Index(pemData, []byte("-----BEGIN PRIVATE KEY")):])
	require.NotNil(t, block)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	sum := sha256.Sum256(cert.Raw)
	calls := 0
	c := newTestCache(idp, nil)
	app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: "fedapp", Credential: Assertion(
		func(ctx context.Context, r AssertionRequest) (string, error) {
			calls++
			now := time.Now()
			tok := jwt.NewWithClaims(jwt.SigningMethodPS256, jwt.MapClaims{
				"aud": r.TokenEndpoint, "iss": r.ClientID, "sub": r.ClientID, "jti": fmt.Sprint(now.UnixNano()),
				"nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
			})
			tok.Header["x5t#S256"] = base64.RawURLEncoding.EncodeToString(sum[:])
			return tok.SignedString(key)
		})})
	require.NoError(t, err)
	src := app.Source()
	for range 5 {
		tok, err := src.TokenContext(t.Context())
		require.NoError(t, err, "signed assertion")
		claims, err := idp.Verify(tok.AccessToken)
		require.NoError(t, err)
		assert.True(t, claims.HasRole("EWS.AccessAsApp"))
	}
	assert.Equal(t, 1, calls, "the assertion callback runs on a miss only")
}
