package smtpauth_test

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
	"github.com/modernauth/mailauth/internal/fake/smtptest"
	"github.com/modernauth/mailauth/internal/fake/testpki"
)

const (
	tenant = "contoso"
	appID  = "app1"
	sender = "noreply@contoso.test"
	alice  = "alice@contoso.test"
	shared = "shared@contoso.test"
)

type env struct {
	t   testing.TB
	idp *fakeidp.IdP
	ca  *testpki.CA
}

func newEnv(t testing.TB) *env {
	t.Helper()
	idp, err := fakeidp.New(fakeidp.Options{})
	require.NoError(t, err)
	t.Cleanup(idp.Close)
	idp.AddApp(fakeidp.App{TenantID: tenant, ClientID: appID, Secret: "s3cret", Roles: []string{"SMTP.SendAsApp"}})
	ca, err := testpki.New()
	require.NoError(t, err)
	return &env{t: t, idp: idp, ca: ca}
}

func (e *env) server(o smtptest.Options) *smtptest.Server {
	e.t.Helper()
	if o.Verify == nil {
		o.Verify = e.idp.Verify
	}
	if o.Mode != smtptest.Plaintext {
		o.TLSConfig = e.ca.ServerConfig()
	}
	s, err := smtptest.New(o)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { s.Close() })
	s.AddMailbox(sender, appID)
	return s
}

func (e *env) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: e.ca.Pool(), ServerName: "127.0.0.1"}
}

func (e *env) appSource() *cachingSource {
	cc := &clientcredentials.Config{ClientID: appID, ClientSecret: "s3cret", TokenURL: e.idp.TokenURL(tenant),
		Scopes: []string{"https://outlook.office365.com/.default"}}
	return &cachingSource{fetch: func(ctx context.Context) (*oauth2.Token, error) {
		return cc.Token(context.WithValue(ctx, oauth2.HTTPClient, e.idp.HTTPClient()))
	}}
}

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

// cachingSource caches one token, fetches under a lock (one flight) and drops a token
// on Invalidate only if it is still the cached one, as tokencache does.
type cachingSource struct {
	fetch func(ctx context.Context) (*oauth2.Token, error)

	mu  sync.Mutex // guards tok
	tok *oauth2.Token
}

func (s *cachingSource) Token() (*oauth2.Token, error) { return s.TokenContext(context.Background()) }

func (s *cachingSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && time.Until(s.tok.Expiry) > time.Minute {
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
	}
}
