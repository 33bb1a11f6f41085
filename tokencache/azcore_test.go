package tokencache

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// countingCredential counts the calls to azcore's own fake credential and
// remembers the last options.
type countingCredential struct {
	fake.TokenCredential
	calls atomic.Int64
	last  atomic.Pointer[policy.TokenRequestOptions]
}

func (c *countingCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls.Add(1)
	c.last.Store(&o)
	return c.TokenCredential.GetToken(ctx, o)
}

// TestAzureCredentialFeedsCache: an azcore.TokenCredential (azcore's fake)
// feeds the cache: 1,000 callers, one GetToken; claims reach it; errors
// are typed.
func TestAzureCredentialFeedsCache(t *testing.T) {
	c := New(nil)
	cred := &countingCredential{}
	src := c.AzureCredential("fake", cred, "https://outlook.office365.com/.default")
	_, toks := herd(t, src, 1000)
	assert.Equal(t, 1000, countOf(toks, "fake_token"))
	assert.EqualValues(t, 1, cred.calls.Load())
	assert.Equal(t, []string{"https://outlook.office365.com/.default"}, cred.last.Load().Scopes)

	_, err := src.TokenWithClaims(t.Context(), `{"access_token":{"nbf":{"essential":true,"value":"1"}}}`)
	require.NoError(t, err)
	assert.EqualValues(t, 2, cred.calls.Load())
	assert.Contains(t, cred.last.Load().Claims, "nbf")
	assert.True(t, cred.last.Load().EnableCAE)

	bad := &countingCredential{}
	bad.SetError(errors.New("az login needed"))
	_, err = New(&Options{MaxRetries: -1}).AzureCredential("bad", bad).TokenContext(t.Context())
	var ie *IdPError
	require.ErrorAs(t, err, &ie)
	assert.Contains(t, err.Error(), "az login needed")
}

// TestTokenCredentialFromCache: a cache source handed to the Azure SDK as an
// azcore.TokenCredential serves cached tokens for the scopes asked and
// passes claims on to the IdP.
func TestTokenCredentialFromCache(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	c := newTestCache(idp, nil)
	app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: ClientSecret(tSecret)})
	require.NoError(t, err)
	var cred azcore.TokenCredential = TokenCredential(app.Source)
	for range 3 {
		at, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
		require.NoError(t, err)
		claims, err := idp.Verify(at.Token)
		require.NoError(t, err)
		assert.Equal(t, "https://graph.microsoft.com", claims.Audience)
		assert.False(t, at.ExpiresOn.IsZero())
	}
	assert.EqualValues(t, 1, idp.Requests(fakeidp.GrantClientCredentials))
	_, err = cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"},
		Claims: `{"access_token":{"nbf":{"essential":true,"value":"1"}}}`, EnableCAE: true})
	require.NoError(t, err)
	assert.EqualValues(t, 2, idp.Requests(fakeidp.GrantClientCredentials))
	require.NotEmpty(t, idp.Claims())
	assert.Contains(t, idp.Claims()[0], "nbf")
}
