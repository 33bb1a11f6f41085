package popauth_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/poptest"
	"github.com/modernauth/mailauth/internal/fake/testpki"
	"github.com/modernauth/mailauth/popauth"
	"github.com/modernauth/mailauth/tokencache"
)

// cacheEnv is a fake Entra ID, a token cache with one app-only source over
// it, and a POP3 server that checks the tokens with the IdP's key, their
// audience and the POP.AccessAsApp role.
type cacheEnv struct {
	idp    *fakeidp.IdP
	ca     *testpki.CA
	srv    *poptest.Server
	src    *tokencache.Source
	reject atomic.Int64 // reject this many more valid tokens
}

func newCacheEnv(t *testing.T) *cacheEnv {
	t.Helper()
	e := &cacheEnv{}
	var err error
	e.idp, err = fakeidp.New(fakeidp.Options{})
	require.NoError(t, err)
	t.Cleanup(e.idp.Close)
	e.idp.AddApp(fakeidp.App{TenantID: "t1", ClientID: "app1", Secret: "s3cret", Roles: []string{"POP.AccessAsApp"}})
	e.ca, err = testpki.New()
	require.NoError(t, err)
	e.srv, err = poptest.New(poptest.Options{
		TLSConfig: e.ca.ServerConfig(),
		Authorize: func(user, token string) error {
			c, err := e.idp.Verify(token)
			if err != nil {
				return err
			}
			if c.Audience != "https://outlook.office365.com" || !c.HasRole("POP.AccessAsApp") {
				return errors.New("wrong audience or role")
			}
			if e.reject.Add(-1) >= 0 {
				return errors.New("rejected by the test")
			}
			return nil
		},
		Mailboxes: map[string][]string{"shared@contoso.test": {"Subject: x\r\n\r\nbody\r\n"}},
	})
	require.NoError(t, err)
	t.Cleanup(e.srv.Close)
	c := cloud.Global
	c.AuthorityHost = e.idp.URL()
	cache := tokencache.New(&tokencache.Options{HTTPClient: e.idp.HTTPClient()})
	app, err := cache.AppOnly(tokencache.AppOnlyConfig{Cloud: c, TenantID: "t1", ClientID: "app1", Credential: tokencache.ClientSecret("s3cret")})
	require.NoError(t, err)
	e.src = app.Source(c.AppOnlyScope())
	return e
}

func (e *cacheEnv) dial(ctx context.Context) (*popauth.Client, error) {
	return popauth.DialTLS(ctx, e.srv.Addr(), &popauth.Options{
		Mailbox: "shared@contoso.test", Token: e.src, TLSConfig: e.ca.ClientConfig(),
	})
}

func TestCacheRetryMakesExactlyTwoTokenRequests(t *testing.T) {
	e := newCacheEnv(t)
	ctx := ctxT(t)
	e.reject.Store(1)
	c, err := e.dial(ctx)
	require.NoError(t, err, "the second, fresh token is accepted")
	c.Close()
	assert.Equal(t, int64(2), e.idp.Requests(fakeidp.GrantClientCredentials))
	assert.Equal(t, int64(2), e.srv.AuthAttempts())

	// Now every token is refused: the cached token is tried, invalidated,
	// one fresh token is fetched and tried, and then the dial gives up.
	e.idp.ResetCounters()
	e.reject.Store(100)
	attempts := e.srv.AuthAttempts()
	_, err = e.dial(ctx)
	var ae *mailauth.AuthError
	require.ErrorAs(t, err, &ae)
	assert.True(t, ae.Retried)
	assert.Equal(t, int64(1), e.idp.Requests(fakeidp.GrantClientCredentials), "one fresh token after the cached one was refused")
	assert.Equal(t, attempts+2, e.srv.AuthAttempts(), "a second failure is not retried")
	assert.True(t, ae.Identity.AppOnly(), "the error names the token's identity: %v", ae.Identity)
	assert.False(t, strings.Contains(err.Error(), "eyJ"), "no token in the error")
}

func TestCacheManyDialsOneTokenRequest(t *testing.T) {
	e := newCacheEnv(t)
	ctx := ctxT(t)
	const n = 8
	for i := 0; i < n; i++ {
		c, err := e.dial(ctx)
		require.NoError(t, err)
		require.NoError(t, c.Quit(ctx))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := e.dial(ctx)
			if err == nil {
				err = c.Quit(ctx)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, int64(1), e.idp.TotalRequests(), "%d sequential and %d concurrent dials share one token", n, n)
	assert.Equal(t, int64(2*n), e.srv.Logins())
}

// BenchmarkLogin measures one POP3 session on loopback through a warm token
// cache: TCP connect, TLS handshake, greeting, CAPA, two-step AUTH XOAUTH2,
// the STAT probe and QUIT. roundtrips/op counts the client's command lines.
func BenchmarkLogin(b *testing.B) {
	idp, err := fakeidp.New(fakeidp.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer idp.Close()
	idp.AddApp(fakeidp.App{TenantID: "t1", ClientID: "app1", Secret: "s3cret", Roles: []string{"POP.AccessAsApp"}})
	ca, err := testpki.New()
	if err != nil {
		b.Fatal(err)
	}
	srv, err := poptest.New(poptest.Options{
		TLSConfig: ca.ServerConfig(),
		Authorize: func(_, token string) error { _, err := idp.Verify(token); return err },
	})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	c := cloud.Global
	c.AuthorityHost = idp.URL()
	app, err := tokencache.New(&tokencache.Options{HTTPClient: idp.HTTPClient()}).AppOnly(tokencache.AppOnlyConfig{
		Cloud: c, TenantID: "t1", ClientID: "app1", Credential: tokencache.ClientSecret("s3cret")})
	if err != nil {
		b.Fatal(err)
	}
	o := &popauth.Options{Mailbox: "shared@contoso.test", Token: app.Source(c.AppOnlyScope()), TLSConfig: ca.ClientConfig()}
	ctx := context.Background()
	b.ReportAllocs()
	start := srv.Commands()
	n := 0
	for b.Loop() {
		cl, err := popauth.DialTLS(ctx, srv.Addr(), o)
		if err != nil {
			b.Fatal(err)
		}
		if err := cl.Quit(ctx); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(srv.Commands()-start)/float64(n), "roundtrips/op")
	if idp.TotalRequests() != 1 {
		b.Fatalf("%d token requests, want 1", idp.TotalRequests())
	}
}
