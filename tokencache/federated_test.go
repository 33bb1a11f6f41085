package tokencache

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

const tFederated = "wif-app"

func writeTokenFile(t *testing.T, path, content string) {
	t.Helper()
	// Kubernetes swaps the file atomically; a rename does the same.
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(content+"\n"), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

// TestFederatedTokenFileRotation: the file is rewritten between two
// refreshes, and the second request carries the new assertion (the IdP
// accepts only the file's current content).
func TestFederatedTokenFileRotation(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	path := filepath.Join(t.TempDir(), "azure-identity-token")
	writeTokenFile(t, path, "assertion-one")
	idp.AddApp(fakeidp.App{TenantID: tTenant, ClientID: tFederated, FederatedTokenFile: path, Roles: []string{"IMAP.AccessAsApp"}})
	t.Setenv(EnvFederatedTokenFile, path)
	t.Setenv(EnvClientID, tFederated)
	t.Setenv(EnvTenantID, tTenant)
	t.Setenv(EnvAuthorityHost, idp.URL()+"/")
	cfg, err := WorkloadIdentityFromEnv(cl)
	require.NoError(t, err)
	assert.Equal(t, idp.URL(), cfg.Cloud.AuthorityHost)
	assert.NotContains(t, cfg.Credential.String(), "assertion-one")

	c := newTestCache(idp, nil)
	app, err := c.AppOnly(cfg)
	require.NoError(t, err)
	src := app.Source()
	tok, err := src.TokenContext(t.Context())
	require.NoError(t, err)
	claims, err := idp.Verify(tok.AccessToken)
	require.NoError(t, err)
	assert.True(t, claims.HasRole("IMAP.AccessAsApp"))

	// Rotation: new content, and an mtime that differs even on coarse clocks.
	writeTokenFile(t, path, "assertion-two-longer")
	future := time.Now().Add(time.Minute)
	require.NoError(t, os.Chtimes(path, future, future))
	src.Invalidate(tok)
	_, err = src.TokenContext(t.Context())
	require.NoError(t, err, "the second request must carry the rotated assertion")
	assert.Equal(t, []string{"assertion-one", "assertion-two-longer"}, idp.FederatedAssertions())

	// A file that disappears is reported, naming the problem.
	require.NoError(t, os.Remove(path))
	c2 := newTestCache(idp, &Options{MaxRetries: -1})
	app2, err := c2.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tFederated, Credential: FederatedTokenFile(path)})
	require.NoError(t, err)
	_, err = app2.Source().TokenContext(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "federated token file")
}

// TestFederatedHerdAndEarlyRefresh: 1,000 concurrent callers make one token
// request; a token inside its refresh window is refreshed in the background
// while the old one is still served.
func TestFederatedHerdAndEarlyRefresh(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{Latency: 30 * time.Millisecond, TokenLifetime: 3 * time.Second})
	path := filepath.Join(t.TempDir(), "token")
	writeTokenFile(t, path, "k8s-sa-token")
	idp.AddApp(fakeidp.App{TenantID: tTenant, ClientID: tFederated, FederatedTokenFile: path})
	c := newTestCache(idp, &Options{RefreshMargin: 2 * time.Second})
	app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tFederated, Credential: FederatedTokenFile(path)})
	require.NoError(t, err)
	src := app.Source()
	_, toks := herd(t, src, 1000)
	assert.EqualValues(t, 1, idp.Requests(fakeidp.GrantClientCredentials), "1,000 callers, one request")
	first := toks[0]
	assert.Equal(t, 1000, countOf(toks, first))

	time.Sleep(1200 * time.Millisecond) // inside the refresh window, still valid
	tok, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, first, tok.AccessToken, "the valid token is served during the refresh")
	require.Eventually(t, func() bool { return idp.Requests(fakeidp.GrantClientCredentials) == 2 }, 5*time.Second, 10*time.Millisecond)
	assert.EqualValues(t, 1, c.Stats().BackgroundRefreshes)
}

// TestFederatedEndpointFailure: the IdP refusing the assertion gives a typed
// error with Entra's code; an outage is transient.
func TestFederatedEndpointFailure(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	path := filepath.Join(t.TempDir(), "token")
	writeTokenFile(t, path, "stale")
	idp.AddApp(fakeidp.App{TenantID: tTenant, ClientID: tFederated, FederatedTokenFile: path + ".other"})
	c := newTestCache(idp, &Options{MaxRetries: -1})
	app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tFederated, Credential: FederatedTokenFile(path)})
	require.NoError(t, err)
	_, err = app.Source().TokenContext(t.Context())
	var ie *IdPError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, "invalid_client", ie.Code)
	assert.Equal(t, "AADSTS700211", ie.AADSTS)
	assert.False(t, Temporary(err))

	idp.InjectFaults(fakeidp.FaultServiceUnavailable(0))
	_, err = app.Source("https://graph.microsoft.com/.default").TokenContext(t.Context())
	require.ErrorAs(t, err, &ie)
	assert.True(t, Temporary(err))
}

// TestGitHubActionsOIDC: the assertion is the job's OIDC token, fetched
// with the request token for Entra's audience.
func TestGitHubActionsOIDC(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	path := filepath.Join(t.TempDir(), "expected")
	writeTokenFile(t, path, "gh-oidc-jwt")
	idp.AddApp(fakeidp.App{TenantID: tTenant, ClientID: tFederated, FederatedTokenFile: path})
	var calls int
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if r.Header.Get("Authorization") != "Bearer req-token" || r.URL.Query().Get("audience") != FederatedAudience {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"value": "gh-oidc-jwt"})
	}))
	defer gh.Close()
	t.Setenv(EnvActionsTokenURL, gh.URL+"/token?api-version=2.0")
	t.Setenv(EnvActionsTokenToken, "req-token")
	c := newTestCache(idp, nil)
	app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tFederated, Credential: GitHubActionsOIDC("", gh.Client())})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = app.Source().TokenContext(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, calls)

	t.Setenv(EnvActionsTokenToken, "")
	assert.Error(t, GitHubActionsOIDC("", nil).err)
}
