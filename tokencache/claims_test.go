package tokencache

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// TestTokenWithClaimsDelegated: a delegated source redeems its refresh
// token with the claims (never answering from the store), concurrent
// callers with the same claims share one request, and the new token
// replaces the cached one.
func TestTokenWithClaimsDelegated(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	c := newTestCache(idp, &Options{ClientCapabilities: []string{"cp1"}})
	u := delegatedUser(t, c, cl)
	require.NoError(t, u.ImportRefreshToken(t.Context(), idp.IssueRefreshToken(tTenant, tPublic, tUser, cl.DelegatedScopes(cloud.IMAP))))
	src := u.Source(cl.DelegatedScopes(cloud.EWS)...)
	old, err := src.TokenContext(t.Context())
	require.NoError(t, err)
	before := idp.Requests(fakeidp.GrantRefreshToken)
	claims := `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	var wg sync.WaitGroup
	toks := make([]string, 1000)
	for i := range toks {
		wg.Go(func() {
			tok, err := src.TokenWithClaims(t.Context(), claims)
			if assert.NoError(t, err) {
				toks[i] = tok.AccessToken
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, 1, idp.Requests(fakeidp.GrantRefreshToken)-before, "1,000 callers, one redemption with claims")
	assert.NotEqual(t, old.AccessToken, toks[0])
	assert.Equal(t, 1000, countOf(toks, toks[0]))
	got, err := idp.Verify(toks[0])
	require.NoError(t, err)
	assert.Contains(t, got.Extra["xms_claims"], `"acrs"`)
	assert.Equal(t, []any{"cp1"}, got.Extra["xms_cc"])
	cur, err := src.TokenContext(t.Context())
	require.NoError(t, err)
	assert.Equal(t, toks[0], cur.AccessToken, "the token with claims is the cached one")

	// A wrapped source cannot pass claims on.
	_, err = c.Wrap("other", &countingSource{}).TokenWithClaims(t.Context(), claims)
	assert.ErrorContains(t, err, "cannot acquire a token with claims")
}
