package tokencache

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

func delegatedUser(t *testing.T, c *Cache, cl cloud.Cloud) *User {
	t.Helper()
	u, err := c.Delegated(DelegatedConfig{Cloud: cl, TenantID: tTenant, ClientID: tPublic, Account: tUser})
	require.NoError(t, err)
	return u
}

func TestDelegatedDeviceCode(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	c := newTestCache(idp, nil)
	u := delegatedUser(t, c, cl)
	_, err := u.Source(cl.DelegatedScopes(cloud.IMAP)...).TokenContext(t.Context())
	require.ErrorIs(t, err, ErrNotSignedIn)

	var shown DeviceCode
	err = u.SignInDeviceCode(t.Context(), func(dc DeviceCode) {
		shown = dc
		// the person approves on another device
		go func() { assert.NoError(t, idp.ApproveDevice(dc.UserCode, tUser)) }()
	})
	require.NoError(t, err, "device code sign-in")
	assert.NotEmpty(t, shown.UserCode)
	assert.NotEmpty(t, shown.VerificationURL)
	assert.NotEmpty(t, shown.Message)

	idp.ResetCounters()
	src := u.Source(cl.DelegatedScopes(cloud.IMAP)...)
	tok, err := src.TokenContext(t.Context())
	require.NoError(t, err)
	claims, err := idp.Verify(tok.AccessToken)
	require.NoError(t, err)
	assert.True(t, claims.HasScope("IMAP.AccessAsUser.All"), "scp %v", claims.Scp)
	assert.Equal(t, tUser, claims.UPN)
	assert.EqualValues(t, 1, idp.Requests(fakeidp.GrantRefreshToken), "IMAP scope: one refresh-token redemption")

	// the rotated refresh token is used next: invalidate and refetch twice
	for range 2 {
		src.Invalidate(tok)
		tok, err = src.TokenContext(t.Context())
		require.NoError(t, err)
	}
	assert.EqualValues(t, 3, idp.Requests(fakeidp.GrantRefreshToken))
	assert.Equal(t, 1, idp.LiveRefreshTokens(), "every redemption rotated the refresh token and the cache kept the newest")
}

func TestDelegatedBrowser(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	c := newTestCache(idp, nil)
	u := delegatedUser(t, c, cl)
	var opened string
	err := u.SignInBrowser(t.Context(), func(url string) error {
		opened = url
		return idp.OpenURL(url)
	})
	require.NoError(t, err, "browser sign-in")
	assert.Contains(t, opened, "code_challenge_method=S256")
	assert.Contains(t, opened, "redirect_uri=http%3A%2F%2Flocalhost")
	assert.EqualValues(t, 1, idp.Requests(fakeidp.GrantAuthorizationCode))
	tok, err := u.Source(cl.DelegatedScopes(cloud.SMTP)...).TokenContext(t.Context())
	require.NoError(t, err)
	claims, err := idp.Verify(tok.AccessToken)
	require.NoError(t, err)
	assert.True(t, claims.HasScope("SMTP.Send"))
}

func TestDelegatedWrongAccountRefused(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	idp.AddUser(fakeidp.User{TenantID: tTenant, UPN: "mallory@contoso.test"})
	c := newTestCache(idp, nil)
	u := delegatedUser(t, c, cl)
	err := u.SignInDeviceCode(t.Context(), func(dc DeviceCode) {
		go func() { _ = idp.ApproveDevice(dc.UserCode, "mallory@contoso.test") }()
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "signed in as mallory@contoso.test")
	ok, err := u.SignedIn(t.Context())
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestDelegatedImportRestartSignOut(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	dir := filepath.Join(t.TempDir(), "tokens") // NewFileStore creates it private
	fs1, err := NewFileStore(dir)
	require.NoError(t, err)
	c1 := newTestCache(idp, &Options{Store: fs1})
	u1 := delegatedUser(t, c1, cl)
	rt := idp.IssueRefreshToken(tTenant, tPublic, tUser, cl.DelegatedScopes(cloud.IMAP))
	require.NoError(t, u1.ImportRefreshToken(t.Context(), rt))
	err = u1.ImportRefreshToken(t.Context(), rt)
	var ie *InteractionRequiredError
	require.ErrorAs(t, err, &ie, "a spent refresh token cannot be imported twice")
	assert.NotContains(t, err.Error(), rt)

	tok1, err := u1.Source(cl.DelegatedScopes(cloud.IMAP)...).TokenContext(t.Context())
	require.NoError(t, err)

	// A new process on the same directory: no sign-in, and the stored
	// access token is used without asking the IdP.
	idp.ResetCounters()
	fs2, err := NewFileStore(dir)
	require.NoError(t, err)
	c2 := newTestCache(idp, &Options{Store: fs2})
	u2 := delegatedUser(t, c2, cl)
	ok, err := u2.SignedIn(t.Context())
	require.NoError(t, err)
	assert.True(t, ok)
	tok2, err := u2.Source(cl.DelegatedScopes(cloud.IMAP)...).TokenContext(t.Context())
	require.NoError(t, err)
	assert.Equal(t, tok1.AccessToken, tok2.AccessToken)
	assert.EqualValues(t, 0, idp.TotalRequests(), "restart: stored token reused")
	// Another scope needs a redemption of the stored refresh token.
	_, err = u2.Source(cl.DelegatedScopes(cloud.POP)...).TokenContext(t.Context())
	require.NoError(t, err)
	assert.EqualValues(t, 1, idp.Requests(fakeidp.GrantRefreshToken))

	require.NoError(t, u2.SignOut(t.Context()))
	_, err = u2.Source(cl.DelegatedScopes(cloud.IMAP)...).TokenContext(t.Context())
	require.True(t, errors.Is(err, ErrNotSignedIn), "after sign-out: %v", err)
	ok, err = u2.SignedIn(t.Context())
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestDelegatedInteractionRequired(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	c := newTestCache(idp, nil)
	u := delegatedUser(t, c, cl)
	require.NoError(t, u.ImportRefreshToken(t.Context(), idp.IssueRefreshToken(tTenant, tPublic, tUser, cl.DelegatedScopes(cloud.IMAP))))
	for _, f := range []fakeidp.Fault{fakeidp.FaultInteractionRequired(), fakeidp.FaultRefreshTokenExpired()} {
		idp.InjectFaults(f)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, err := u.Source(cl.DelegatedScopes(cloud.EWS)...).TokenContext(ctx)
		cancel()
		var ie *InteractionRequiredError
		require.ErrorAs(t, err, &ie)
		assert.NotEmpty(t, ie.AADSTS)
		assert.NotEmpty(t, ie.CorrelationID)
		assert.NotEmpty(t, ie.Hint)
		var base *IdPError
		assert.ErrorAs(t, err, &base, "an InteractionRequiredError is an IdPError too")
		assert.False(t, Temporary(err))
		t.Log(err)
	}
}
