package autodiscover_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/autodiscover"
	"github.com/modernauth/mailauth/internal/fake/autodtest"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/tokencache"
)

// End to end with a real token: fakeidp issues it through tokencache, the
// POX endpoint verifies its signature and audience. The endpoint refuses
// the first token (as Exchange does for a revoked one): the token is
// invalidated and fetched again, and the request retried once.
func TestBearerWithFakeIdP(t *testing.T) {
	t.Parallel()
	idp, err := fakeidp.New(fakeidp.Options{})
	require.NoError(t, err)
	t.Cleanup(idp.Close)
	idp.AddApp(fakeidp.App{TenantID: "t1", ClientID: "app1", Secret: "s3cret", Roles: []string{"full_access_as_app"}})

	cl := testCloud
	cl.AuthorityHost = idp.URL()
	cache := tokencache.New(&tokencache.Options{HTTPClient: idp.HTTPClient()})
	app, err := cache.AppOnly(tokencache.AppOnlyConfig{Cloud: cl, TenantID: "t1", ClientID: "app1",
		Credential: tokencache.ClientSecret("s3cret")})
	require.NoError(t, err)
	src := app.Source(cl.AppOnlyScope())

	var seen atomic.Int64
	srv := startServer(t, autodtest.Options{
		Verify: func(tok string) error {
			claims, err := idp.Verify(tok)
			if err != nil {
				return err
			}
			if claims.Audience != cl.Resource {
				return errors.New("wrong audience " + claims.Audience)
			}
			if seen.Add(1) == 1 {
				return errors.New("first token refused")
			}
			return nil
		},
		Hosts: []autodtest.Host{
			{Name: "contoso.test", POX: true, RequireBearer: true, Mailboxes: map[string]autodtest.Mailbox{
				"shared@contoso.test": {EWSURL: onpremEWS}}},
		}})
	c := newClient(t, srv, autodiscover.Options{Cloud: cl, Token: src, AllowedDomains: []string{"contoso.test"}, Methods: []autodiscover.Method{autodiscover.MethodPOX}})
	res, err := c.Lookup(ctx(t), "shared@contoso.test", autodiscover.EWS)
	require.NoError(t, err)
	assert.Equal(t, onpremEWS, res.URL)
	assert.EqualValues(t, 2, idp.Requests("client_credentials"), "one token, invalidated once, one more")
	reqs := srv.Requests()
	require.Len(t, reqs, 3, "anonymous, bearer (refused), bearer")
	assert.Empty(t, reqs[0].Token)
	assert.NotEmpty(t, reqs[2].Token)
	assert.Equal(t, reqs[1].Body, reqs[2].Body, "the retry carries the same request body")
}
