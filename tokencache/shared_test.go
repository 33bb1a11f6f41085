package tokencache

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// TestSharedClientTenants: tenants of one multi-tenant app share an MSAL
// client, yet each gets a token of its own tenant; another secret for the
// same client id gets its own client and is checked on its own.
func TestSharedClientTenants(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	idp.AddApp(fakeidp.App{ClientID: "multi", Secret: "good", Roles: []string{"IMAP.AccessAsApp"}})
	c := newTestCache(idp, &Options{MaxRetries: -1})
	for i := range 5 {
		tenant := fmt.Sprintf("tenant-%d", i)
		app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tenant, ClientID: "multi", Credential: ClientSecret("good")})
		require.NoError(t, err)
		tok, err := app.Source().TokenContext(t.Context())
		require.NoError(t, err)
		claims, err := idp.Verify(tok.AccessToken)
		require.NoError(t, err)
		assert.Equal(t, tenant, claims.TenantID)
	}
	assert.Len(t, c.clients.m, 1, "one MSAL client for five tenants")
	bad, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: "tenant-x", ClientID: "multi", Credential: ClientSecret("wrong")})
	require.NoError(t, err)
	_, err = bad.Source().TokenContext(t.Context())
	var ie *IdPError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, "AADSTS7000215", ie.AADSTS)
	assert.Len(t, c.clients.m, 2)
}
