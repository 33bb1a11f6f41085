package eas_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/eas"
	"github.com/modernauth/mailauth/internal/fake/eastest"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/tokencache"
)

const (
	testTenant = "contoso-tenant"
	testClient = "eas-client-app"
	testUser   = "alice@contoso.test"
	testDevice = "MailAuthTest01"
)

type env struct {
	idp *fakeidp.IdP
	srv *eastest.Server
	src *tokencache.Source
}

func newEnv(t *testing.T, sopts eastest.Options) *env {
	t.Helper()
	idp, err := fakeidp.New(fakeidp.Options{})
	require.NoError(t, err, "fakeidp.New")
	t.Cleanup(idp.Close)
	idp.AddApp(fakeidp.App{TenantID: testTenant, ClientID: testClient})
	idp.AddUser(fakeidp.User{TenantID: testTenant, UPN: testUser, OID: "11111111-2222-3333-4444-555555555555"})
	sopts.Verify = idp.Verify
	srv, err := eastest.New(sopts)
	require.NoError(t, err, "eastest.New")
	t.Cleanup(srv.Close)
	// Tokens come from tokencache over fakeidp: a delegated user signed in
	// by importing a refresh token, as a migrated script would be.
	c := cloud.Global
	c.AuthorityHost = idp.URL()
	scopes := c.DelegatedScopes(cloud.EAS)
	cache := tokencache.New(&tokencache.Options{HTTPClient: idp.HTTPClient()})
	user, err := cache.Delegated(tokencache.DelegatedConfig{Cloud: c, TenantID: testTenant, ClientID: testClient,
		Account: testUser, Scopes: scopes})
	require.NoError(t, err, "tokencache Delegated")
	idp.ResetCounters() // from here on, fakeidp counts this client's token requests
	require.NoError(t, user.ImportRefreshToken(t.Context(), idp.IssueRefreshToken(testTenant, testClient, testUser, scopes)),
		"ImportRefreshToken")
	src := user.Source(scopes...)
	return &env{idp: idp, srv: srv, src: src}
}

// client returns a Client for the env's server; mod may change the
// options first.
func (e *env) client(t *testing.T, mod func(*eas.Options)) *eas.Client {
	t.Helper()
	o := eas.Options{
		URL:       e.srv.URL(),
		Mailbox:   testUser,
		DeviceID:  testDevice,
		Token:     e.src,
		Transport: e.srv.Transport(),
	}
	if mod != nil {
		mod(&o)
	}
	c, err := eas.New(&o)
	require.NoError(t, err, "eas.New")
	return c
}
