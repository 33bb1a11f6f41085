package tokencache

import (
	"context"
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// A token cached for the right secret must not hide a wrong one: the secret's
// fingerprint is part of the key, in memory and in a shared file store, so the
// wrong secret goes to Entra ID and is refused there.
func TestAppOnlyWrongSecretAfterGoodRunSameStore(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	dir := filepath.Join(t.TempDir(), "tokens")
	newCache := func() *Cache {
		st, err := NewFileStore(dir)
		require.NoError(t, err)
		return newTestCache(idp, &Options{Store: st})
	}
	// The first run (one process) with the right secret fills the file store.
	good, err := newCache().AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: ClientSecret(tSecret)})
	require.NoError(t, err)
	_, err = good.Source().TokenContext(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, 1, idp.Requests(fakeidp.GrantClientCredentials))

	// A second run with the right secret uses the stored token: no request.
	again, err := newCache().AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: ClientSecret(tSecret)})
	require.NoError(t, err)
	_, err = again.Source().TokenContext(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, 1, idp.Requests(fakeidp.GrantClientCredentials), "same secret: the stored token is used")

	// A third run with a wrong secret asks Entra ID and fails there.
	for _, c := range []*Cache{newCache(), good.c} { // a new process, and the same Cache
		bad, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: ClientSecret("wrong-secret-456")})
		require.NoError(t, err)
		assert.NotEqual(t, good.Partition(), bad.Partition())
		before := idp.Requests(fakeidp.GrantClientCredentials)
		_, err = bad.Source().TokenContext(t.Context())
		var ie *IdPError
		require.ErrorAs(t, err, &ie, "a wrong secret must fail at the IdP")
		assert.Equal(t, "invalid_client", ie.Code)
		assert.EqualValues(t, before+1, idp.Requests(fakeidp.GrantClientCredentials))
	}
}

// A rotated certificate is used at once, although the store still holds a
// valid token obtained with the old one.
func TestAppOnlyRotatedCertificateUsedAtOnce(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	oldCert, oldPEM := selfSignedPEM(t)
	idp.AddApp(fakeidp.App{TenantID: tTenant, ClientID: "certapp", Cert: oldCert, Roles: []string{"IMAP.AccessAsApp"}})
	st, err := NewFileStore(filepath.Join(t.TempDir(), "tokens"))
	require.NoError(t, err)
	load := func(pemData []byte) *App {
		cred, err := CertificatePEM(pemData, "")
		require.NoError(t, err)
		app, err := newTestCache(idp, &Options{Store: st}).AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: "certapp", Credential: cred})
		require.NoError(t, err)
		return app
	}
	_, err = load(oldPEM).Source().TokenContext(t.Context())
	require.NoError(t, err)

	// The app registration now holds only the new certificate.
	newCert, newPEM := selfSignedPEM(t)
	idp.AddApp(fakeidp.App{TenantID: tTenant, ClientID: "certapp", Cert: newCert, Roles: []string{"IMAP.AccessAsApp"}})
	before := idp.Requests(fakeidp.GrantClientCredentials)
	tok, err := load(newPEM).Source().TokenContext(t.Context())
	require.NoError(t, err)
	assert.EqualValues(t, before+1, idp.Requests(fakeidp.GrantClientCredentials), "the new certificate asks Entra ID at once")
	_, err = idp.Verify(tok.AccessToken)
	require.NoError(t, err)

	// The old certificate's token stays under its own key; nothing mixes them.
	_, err = load(oldPEM).Source().TokenContext(t.Context())
	require.NoError(t, err, "the old certificate's stored token is still served from its own partition")
}

func TestFingerprintRevealsNothing(t *testing.T) {
	const secret = "s3cret-VALUE-xyz-0123456789"
	a, b := ClientSecret(secret), ClientSecret(secret+"x")
	assert.Len(t, a.Fingerprint(), 16)
	assert.NotEqual(t, a.Fingerprint(), b.Fingerprint())
	assert.Equal(t, a.Fingerprint(), ClientSecret(secret).Fingerprint())
	assert.NotContains(t, a.Fingerprint(), secret[:6])
	c1, pem1 := selfSignedPEM(t)
	_, pem2 := selfSignedPEM(t)
	k1, _ := CertificatePEM(pem1, "")
	k2, _ := CertificatePEM(pem2, "")
	assert.NotEqual(t, k1.Fingerprint(), k2.Fingerprint())
	assert.NotEqual(t, k1.Fingerprint(), Certificate([]*x509.Certificate{c1}, nil).Fingerprint(), "the key is part of it")
	f1 := Assertion(func(context.Context, AssertionRequest) (string, error) { return "a", nil })
	f2 := Assertion(func(context.Context, AssertionRequest) (string, error) { return "b", nil })
	assert.NotEqual(t, f1.Fingerprint(), f2.Fingerprint())
	c := New(nil)
	app, err := c.AppOnly(AppOnlyConfig{TenantID: "t", ClientID: "c", Credential: a})
	require.NoError(t, err)
	for _, s := range []string{app.Partition(), app.Source().String()} {
		assert.False(t, strings.Contains(s, secret), s)
		assert.Contains(t, s, a.Fingerprint())
	}
}
