package tokencache

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

const (
	tMIClient   = "11111111-2222-3333-4444-555555555555"
	tMIObject   = "66666666-7777-8888-9999-000000000000"
	tMIResource = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mail"
)

// appService points MSAL at the IdP's App Service identity endpoint.
func appService(t *testing.T, idp *fakeidp.IdP) {
	endpoint, header := idp.ManagedIdentityEndpoint()
	t.Setenv("IDENTITY_ENDPOINT", endpoint)
	t.Setenv("IDENTITY_HEADER", header)
	for _, v := range []string{"IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"} {
		t.Setenv(v, "")
	}
	idp.AddManagedIdentity(fakeidp.ManagedIdentity{System: true, TenantID: tTenant, ClientID: "system-mi", Roles: []string{"IMAP.AccessAsApp"}})
	idp.AddManagedIdentity(fakeidp.ManagedIdentity{TenantID: tTenant, ClientID: tMIClient, ObjectID: tMIObject, ResourceID: tMIResource, Roles: []string{"full_access_as_app"}})
}

// TestManagedIdentityAppService: system- and user-assigned identities (by
// client id, resource id and object id) get tokens from the App Service
// endpoint; 1,000 callers make one request; a token in its refresh window
// is refreshed early.
func TestManagedIdentityAppService(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{Latency: 30 * time.Millisecond, TokenLifetime: 3 * time.Second})
	appService(t, idp)
	c := newTestCache(idp, &Options{RefreshMargin: 2 * time.Second})

	sys, err := c.ManagedIdentity(ManagedIdentityConfig{Cloud: cl})
	require.NoError(t, err)
	assert.Contains(t, sys.String(), "AppService")
	src := sys.Source()
	_, toks := herd(t, src, 1000)
	assert.EqualValues(t, 1, idp.Requests(fakeidp.GrantManagedIdentity), "1,000 callers, one request")
	assert.Equal(t, 1000, countOf(toks, toks[0]))
	claims, err := idp.Verify(toks[0])
	require.NoError(t, err)
	assert.Equal(t, "https://outlook.office365.com", claims.Audience)
	assert.Equal(t, "system-mi", claims.AppID)
	assert.True(t, claims.HasRole("IMAP.AccessAsApp"))

	time.Sleep(1200 * time.Millisecond) // inside the refresh window
	tok, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, toks[0], tok.AccessToken)
	require.Eventually(t, func() bool { return idp.Requests(fakeidp.GrantManagedIdentity) == 2 }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		tok, err := src.Token()
		return err == nil && tok.AccessToken != toks[0]
	}, 5*time.Second, 10*time.Millisecond, "the early refresh replaced the token (MSAL's own cache did not answer)")

	for _, cfg := range []ManagedIdentityConfig{ParseManagedIdentity(tMIClient), ParseManagedIdentity(tMIResource), ParseManagedIdentity("object:" + tMIObject)} {
		cfg.Cloud = cl
		m, err := c.ManagedIdentity(cfg)
		require.NoError(t, err)
		tok, err := m.Source("https://graph.microsoft.com/.default").TokenContext(t.Context())
		require.NoError(t, err, "%+v", cfg)
		claims, err := idp.Verify(tok.AccessToken)
		require.NoError(t, err)
		assert.Equal(t, tMIClient, claims.AppID, "%+v", cfg)
		assert.Equal(t, "https://graph.microsoft.com", claims.Audience)
	}
	assert.Equal(t, ManagedIdentityConfig{}, ParseManagedIdentity("system"))
	assert.Equal(t, ManagedIdentityConfig{}, ParseManagedIdentity(""))
	_, err = c.ManagedIdentity(ManagedIdentityConfig{ClientID: "a", ObjectID: "b"})
	assert.Error(t, err)
}

// TestManagedIdentityEndpointFailure: an unknown identity, a wrong header
// and an outage each give the right error.
func TestManagedIdentityEndpointFailure(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	appService(t, idp)
	c := newTestCache(idp, &Options{MaxRetries: -1})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	unknown, err := c.ManagedIdentity(ManagedIdentityConfig{Cloud: cl, ClientID: "not-attached"})
	require.NoError(t, err)
	_, err = unknown.Source().TokenContext(ctx)
	var ie *IdPError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, 400, ie.StatusCode)
	assert.False(t, Temporary(err))
	assert.Contains(t, err.Error(), "managed identity is enabled")
	assert.Contains(t, err.Error(), "No User Assigned")
	assert.NotEmpty(t, ie.CorrelationID)

	sys, err := c.ManagedIdentity(ManagedIdentityConfig{Cloud: cl})
	require.NoError(t, err)
	idp.InjectFaults(fakeidp.Fault{Grant: fakeidp.GrantManagedIdentity, Status: 503, Error: "temporarily_unavailable", Code: 90033, Description: "busy"})
	_, err = sys.Source().TokenContext(ctx)
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, 503, ie.StatusCode)
	assert.True(t, Temporary(err))

	t.Setenv("IDENTITY_HEADER", "s3cr3t-header-value")
	_, err = sys.Source("https://graph.microsoft.com/.default").TokenContext(ctx)
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, 401, ie.StatusCode)
	assert.NotContains(t, err.Error(), "s3cr3t", "the identity header is a secret")
}
