package smtpauth_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/smtptest"
	"github.com/modernauth/mailauth/smtpauth"
	"github.com/modernauth/mailauth/tokencache"
)

func TestThroughTokenCache(t *testing.T) {
	e := newEnv(t)
	srv := e.server(smtptest.Options{})
	c := cloud.Global
	c.AuthorityHost = e.idp.URL()
	newOpts := func() *smtpauth.Options {
		cache := tokencache.New(&tokencache.Options{HTTPClient: e.idp.HTTPClient()})
		app, err := cache.AppOnly(tokencache.AppOnlyConfig{Cloud: c, TenantID: tenant, ClientID: appID, Credential: tokencache.ClientSecret("s3cret")})
		require.NoError(t, err)
		return &smtpauth.Options{Token: app.Source(c.AppOnlyScope()), Mailbox: sender, TLSConfig: e.tlsConfig()}
	}
	opts := newOpts()
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := 0; i < n; i++ {
		errs <- smtpauth.SendMail(ctxT(t), srv.Addr(), opts, sender, []string{"bob@example.com"}, strings.NewReader(msg))
	}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- smtpauth.SendMail(ctxT(t), srv.Addr(), opts, sender, []string{"bob@example.com"}, strings.NewReader(msg))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, int64(1), e.idp.Requests(fakeidp.GrantClientCredentials))
	assert.Len(t, srv.Messages(), 2*n)

	e.idp.ResetCounters()
	srv.ResetStats()
	srv.FailNextAuth(smtptest.ReplyAuthUnsuccessful)
	require.NoError(t, smtpauth.SendMail(ctxT(t), srv.Addr(), newOpts(), sender, []string{"bob@example.com"}, strings.NewReader(msg)))
	assert.Equal(t, int64(2), e.idp.Requests(fakeidp.GrantClientCredentials), "exactly two token requests")
	assert.Equal(t, int64(2), srv.Stats().AuthAttempts)
}
