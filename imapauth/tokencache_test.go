package imapauth_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/imapauth"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/imaptest"
	"github.com/modernauth/mailauth/tokencache"
)

// The acceptance path end to end: tokencache over MSAL against the fake Entra ID, the
// in-process IMAP server validating its tokens.
func TestThroughTokenCache(t *testing.T) {
	e := newEnv(t, fakeidp.Options{})
	srv := e.server(imaptest.Options{})
	c := cloud.Global
	c.AuthorityHost = e.idp.URL()
	cache := tokencache.New(&tokencache.Options{HTTPClient: e.idp.HTTPClient()})
	app, err := cache.AppOnly(tokencache.AppOnlyConfig{Cloud: c, TenantID: tenant, ClientID: appID, Credential: tokencache.ClientSecret("s3cret")})
	require.NoError(t, err)
	opts := &imapauth.Options{Token: app.Source(c.AppOnlyScope()), Mailbox: shared, TLSConfig: e.tlsConfig()}

	const n = 8
	for i := 0; i < n; i++ {
		conn, err := imapauth.DialTLS(ctxT(t), srv.Addr(), opts)
		require.NoError(t, err)
		conn.Close()
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := imapauth.DialTLS(ctxT(t), srv.Addr(), opts)
			if err == nil {
				conn.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, int64(1), e.idp.Requests(fakeidp.GrantClientCredentials), "N sequential and N concurrent dials, one token request")

	// A refused token through a fresh cache: invalidated, one fresh token, one retry.
	cache2 := tokencache.New(&tokencache.Options{HTTPClient: e.idp.HTTPClient()})
	app2, err := cache2.AppOnly(tokencache.AppOnlyConfig{Cloud: c, TenantID: tenant, ClientID: appID, Credential: tokencache.ClientSecret("s3cret")})
	require.NoError(t, err)
	opts2 := &imapauth.Options{Token: app2.Source(c.AppOnlyScope()), Mailbox: shared, TLSConfig: e.tlsConfig()}
	e.idp.ResetCounters()
	srv.ResetStats()
	srv.FailNextAuth(1)
	conn, err := imapauth.DialTLS(ctxT(t), srv.Addr(), opts2)
	require.NoError(t, err)
	conn.Close()
	assert.Equal(t, int64(2), e.idp.Requests(fakeidp.GrantClientCredentials), "exactly two token requests: the refused one and the fresh one")
	assert.Equal(t, int64(2), srv.Stats().AuthAttempts)

	// Refused twice: no second retry.
	e.idp.ResetCounters()
	srv.ResetStats()
	srv.FailNextAuth(2)
	_, err = imapauth.DialTLS(ctxT(t), srv.Addr(), opts)
	var ae *mailauth.AuthError
	require.ErrorAs(t, err, &ae)
	assert.True(t, ae.Retried)
	assert.Equal(t, int64(2), srv.Stats().AuthAttempts)
	assert.Equal(t, int64(1), e.idp.Requests(fakeidp.GrantClientCredentials))
}
