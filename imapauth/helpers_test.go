package imapauth_test

import (
	"context"
	"crypto/tls"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/imaptest"
	"github.com/modernauth/mailauth/internal/fake/testpki"
)

const (
	tenant  = "contoso"
	appID   = "app1"
	shared  = "shared@contoso.test"
	alice   = "alice@contoso.test"
	scopeEx = "https://outlook.office365.com/.default"
)

// env is one fake Entra ID, one CA and helpers to start IMAP servers.
type env struct {
	t   testing.TB
	idp *fakeidp.IdP
	ca  *testpki.CA
}

func newEnv(t testing.TB, o fakeidp.Options) *env {
	t.Helper()
	idp, err := fakeidp.New(o)
	require.NoError(t, err)
	t.Cleanup(idp.Close)
	idp.AddApp(fakeidp.App{TenantID: tenant, ClientID: appID, Secret: "s3cret", Roles: []string{"IMAP.AccessAsApp"}})
	idp.AddUser(fakeidp.User{TenantID: tenant, UPN: alice})
	ca, err := testpki.New()
	require.NoError(t, err)
	return &env{t: t, idp: idp, ca: ca}
}

func (e *env) server(o imaptest.Options) *imaptest.Server {
	e.t.Helper()
	o.Verify = e.idp.Verify
	if o.Mode != imaptest.Plaintext {
		o.TLSConfig = e.ca.ServerConfig()
	}
	s, err := imaptest.New(o)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { s.Close() })
	s.AddMailbox(shared, appID, alice)
	s.AddMailbox(alice)
	s.AddMailbox("private@contoso.test")
	return s
}

func (e *env) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: e.ca.Pool(), ServerName: "127.0.0.1"}
}

// appSource is a small caching token source over client credentials against the fake
// IdP, with TokenContext and compare-and-drop Invalidate (what tokencache provides).
func (e *env) appSource(margin time.Duration) *cachingSource {
	cc := &clientcredentials.Config{ClientID: appID, ClientSecret: "s3cret", TokenURL: e.idp.TokenURL(tenant), Scopes: []string{scopeEx}}
	return &cachingSource{margin: margin, fetch: func(ctx context.Context) (*oauth2.Token, error) {
		return cc.Token(context.WithValue(ctx, oauth2.HTTPClient, e.idp.HTTPClient()))
	}}
}

// mint returns a token with the given claims signed by the IdP.
func (e *env) mint(c fakeidp.Claims) *oauth2.Token {
	e.t.Helper()
	if c.ExpiresAt.IsZero() {
		c.ExpiresAt = time.Now().Add(time.Hour)
	}
	if c.Audience == "" {
		c.Audience = "https://outlook.office365.com"
	}
	s, err := e.idp.Mint(c)
	require.NoError(e.t, err)
	return &oauth2.Token{AccessToken: s, TokenType: "Bearer", Expiry: c.ExpiresAt}
}

type cachingSource struct {
	margin time.Duration
	fetch  func(ctx context.Context) (*oauth2.Token, error)

	mu          sync.Mutex // guards tok, invalidated; held across fetch (single flight)
	tok         *oauth2.Token
	invalidated int
}

func (s *cachingSource) Token() (*oauth2.Token, error) { return s.TokenContext(context.Background()) }

func (s *cachingSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && time.Until(s.tok.Expiry) > s.margin {
		return s.tok, nil
	}
	tok, err := s.fetch(ctx)
	if err != nil {
		return nil, err
	}
	s.tok = tok
	return tok, nil
}

func (s *cachingSource) Invalidate(tok *oauth2.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok == tok {
		s.tok = nil
		s.invalidated++
	}
}
