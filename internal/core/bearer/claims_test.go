package bearer

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/tokencache"
)

const caeClaims = `{"access_token":{"nbf":{"essential":true,"value":"1602013000"}}}`

func claimsFixture(t *testing.T, alwaysChallenge bool) (*fakeidp.IdP, *tokencache.Cache, *tokencache.Source, *atomic.Int64, *Transport, string) {
	t.Helper()
	idp, err := fakeidp.New(fakeidp.Options{})
	require.NoError(t, err)
	t.Cleanup(idp.Close)
	idp.AddApp(fakeidp.App{TenantID: "contoso", ClientID: "app", Secret: "sec", Roles: []string{"full_access_as_app"}})
	cl := cloud.Global
	cl.AuthorityHost = idp.URL()
	c := tokencache.New(&tokencache.Options{HTTPClient: idp.HTTPClient(), ClientCapabilities: []string{"cp1"}})
	app, err := c.AppOnly(tokencache.AppOnlyConfig{Cloud: cl, TenantID: "contoso", ClientID: "app", Credential: tokencache.ClientSecret("sec")})
	require.NoError(t, err)
	src := app.Source()
	var hits atomic.Int64
	srv, _ := newServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		claims, err := idp.Verify(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if err != nil {
			w.WriteHeader(401)
			return
		}
		if got, _ := claims.Extra["xms_claims"].(string); got == "" || alwaysChallenge {
			// Continuous access evaluation: the session was revoked.
			w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="`+
				base64.StdEncoding.EncodeToString([]byte(caeClaims))+`"`)
			w.WriteHeader(401)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	tr := newTransport(t, srv, src, nil)
	return idp, c, src, &hits, tr, srv.URL
}

// TestClaimsChallengeReacquiresOnce: a 401 with an insufficient_claims
// challenge makes exactly one token request carrying the claims (the IdP
// sees them, with the cp1 capability) and one retry, which succeeds; the
// body is replayed.
func TestClaimsChallengeReacquiresOnce(t *testing.T) {
	idp, c, src, hits, tr, url := claimsFixture(t, false)
	_, err := src.TokenContext(t.Context())
	require.NoError(t, err)
	before := idp.Requests(fakeidp.GrantClientCredentials)

	req, _ := http.NewRequestWithContext(t.Context(), "POST", url, strings.NewReader("<soap/>"))
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.EqualValues(t, 2, hits.Load(), "one challenge, one retry")
	assert.EqualValues(t, 1, idp.Requests(fakeidp.GrantClientCredentials)-before, "exactly one re-acquisition")
	assert.EqualValues(t, 1, c.Stats().ClaimsRequests)
	seen := idp.Claims()
	require.NotEmpty(t, seen)
	last := seen[len(seen)-1]
	assert.Contains(t, last, `"nbf"`, "the IdP sees the challenge's claims")
	assert.Contains(t, last, `"cp1"`, "and the client capability")

	// The new token is the cached one now: the next request needs no re-acquisition.
	req, _ = http.NewRequestWithContext(t.Context(), "GET", url, nil)
	resp, err = tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.EqualValues(t, 1, idp.Requests(fakeidp.GrantClientCredentials)-before)
}

// TestClaimsChallengeTwiceIsTypedError: a resource that challenges again
// after the re-acquisition gets a *ChallengeError, after one re-acquisition
// and one retry: never a loop.
func TestClaimsChallengeTwiceIsTypedError(t *testing.T) {
	idp, _, _, hits, tr, url := claimsFixture(t, true)
	req, _ := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	_, err := tr.RoundTrip(req)
	var ce *ChallengeError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, caeClaims, ce.Challenge.Claims)
	assert.EqualValues(t, 2, hits.Load())
	assert.EqualValues(t, 2, idp.Requests(fakeidp.GrantClientCredentials), "first token, one re-acquisition with claims")
	assert.Len(t, idp.Claims(), 2, "cp1 on both, challenge claims on the second")
}

// TestClaimsChallengeNeedsPerson: when the IdP answers the claims request
// with interaction_required, the caller gets tokencache's typed error.
func TestClaimsChallengeNeedsPerson(t *testing.T) {
	idp, _, src, _, tr, url := claimsFixture(t, false)
	_, err := src.TokenContext(t.Context())
	require.NoError(t, err)
	idp.InjectFaults(fakeidp.FaultEntra(400, "interaction_required", 50076, "Due to a configuration change made by your administrator, you must use multi-factor authentication."))
	req, _ := http.NewRequestWithContext(context.Background(), "GET", url, nil)
	_, err = tr.RoundTrip(req)
	var ie *tokencache.InteractionRequiredError
	require.True(t, errors.As(err, &ie), "%v", err)
	assert.NotEmpty(t, ie.Fix)
}
