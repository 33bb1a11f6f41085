package eas_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/eas"
	"github.com/modernauth/mailauth/internal/eastest"
	"github.com/modernauth/mailauth/internal/fakeidp"
)

const (
	testTenant = "contoso-tenant"
	testClient = "eas-client-app"
	testUser   = "alice@contoso.test"
	testDevice = "MailAuthTest01"
)

// refreshSource is a small delegated token source over fakeidp: it
// redeems a refresh token (rotating it) when it has no valid access token,
// and implements the Invalidate contract (compare-and-drop).
type refreshSource struct {
	cfg *oauth2.Config
	hc  *http.Client

	mu  sync.Mutex // guards cur
	cur *oauth2.Token
}

func (s *refreshSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur.Valid() {
		return s.cur, nil
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, s.hc)
	tok, err := s.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: s.cur.RefreshToken}).Token()
	if err != nil {
		return nil, err
	}
	s.cur = tok
	return tok, nil
}

func (s *refreshSource) Invalidate(tok *oauth2.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok != nil && s.cur.AccessToken == tok.AccessToken {
		s.cur = &oauth2.Token{RefreshToken: s.cur.RefreshToken}
	}
}

type env struct {
	idp *fakeidp.IdP
	srv *eastest.Server
	src *refreshSource
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
	scopes := cloud.Global.DelegatedScopes(cloud.EAS)
	rt := idp.IssueRefreshToken(testTenant, testClient, testUser, scopes)
	src := &refreshSource{
		cfg: &oauth2.Config{ClientID: testClient, Scopes: scopes,
			Endpoint: oauth2.Endpoint{TokenURL: idp.TokenURL(testTenant), AuthStyle: oauth2.AuthStyleInParams}},
		hc:  idp.HTTPClient(),
		cur: &oauth2.Token{RefreshToken: rt},
	}
	return &env{idp: idp, srv: srv, src: src}
}

// client returns a Client for the env's server; mod may change the
// options first.
func (e *env) client(t *testing.T, mod func(*eas.Options)) *eas.Client {
	t.Helper()
	o := eas.Options{
		URL:      e.srv.URL(),
		User:     testUser,
		DeviceID: testDevice,
		Token:    e.src,
		Base:     e.srv.Transport(),
	}
	if mod != nil {
		mod(&o)
	}
	c, err := eas.New(o)
	require.NoError(t, err, "eas.New")
	return c
}
