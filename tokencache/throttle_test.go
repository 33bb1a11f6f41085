package tokencache

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// An IdP answering 429 with Retry-After 120 to 50 callers polling for 3 s
// gets exactly one request: the cache remembers the throttle and answers
// everyone with the typed error meanwhile.
func TestThrottleRemembered(t *testing.T) {
	for _, fault := range []struct {
		name string
		f    fakeidp.Fault
		code int
	}{
		{"429", fakeidp.FaultThrottled(120 * time.Second), 429},
		{"503", fakeidp.FaultServiceUnavailable(30 * time.Second), 503},
	} {
		t.Run(fault.name, func(t *testing.T) {
			idp, cl := newIdP(t, fakeidp.Options{})
			faults := make([]fakeidp.Fault, 1000)
			for i := range faults {
				faults[i] = fault.f
			}
			idp.InjectFaults(faults...)
			c := newTestCache(idp, &Options{FetchTimeout: 4 * time.Second})
			app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: ClientSecret(tSecret)})
			require.NoError(t, err)
			src := app.Source()
			other := app.Source("https://graph.microsoft.com/.default")

			var wg sync.WaitGroup
			var mu sync.Mutex
			calls, typed := 0, 0
			stop := time.Now().Add(3 * time.Second)
			for range 50 {
				wg.Go(func() {
					for time.Now().Before(stop) {
						ctx, cancel := context.WithTimeout(context.Background(), time.Second)
						_, err := src.TokenContext(ctx)
						cancel()
						var ie *IdPError
						mu.Lock()
						calls++
						if errors.As(err, &ie) && ie.StatusCode == fault.code {
							typed++
						}
						mu.Unlock()
						time.Sleep(50 * time.Millisecond)
					}
				})
			}
			wg.Wait()
			// Another scope of the same tenant is held back too.
			_, err = other.Token()
			var ie *IdPError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, fault.code, ie.StatusCode)

			st := c.Stats()
			t.Logf("%d calls, %d typed errors, %d IdP requests, stats %+v", calls, typed, idp.Requests(fakeidp.GrantClientCredentials), st)
			assert.EqualValues(t, 1, idp.Requests(fakeidp.GrantClientCredentials), "exactly one request while the throttle lasts")
			assert.Equal(t, calls, typed, "every caller gets the typed error")
			assert.GreaterOrEqual(t, st.Throttled, uint64(calls-50))
		})
	}
}

// A throttle is forgotten once Retry-After has passed: the next caller
// fetches and gets a token.
func TestThrottleExpires(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	idp.InjectFaults(fakeidp.FaultThrottled(time.Second))
	c := newTestCache(idp, &Options{FetchTimeout: 500 * time.Millisecond})
	app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: ClientSecret(tSecret)})
	require.NoError(t, err)
	src := app.Source()
	_, err = src.Token()
	require.Error(t, err)
	_, err = src.Token()
	require.Error(t, err)
	assert.EqualValues(t, 1, idp.Requests(fakeidp.GrantClientCredentials))
	assert.EqualValues(t, 1, c.Stats().Throttled)
	time.Sleep(1100 * time.Millisecond)
	tok, err := src.Token()
	require.NoError(t, err)
	assert.NotEmpty(t, tok.AccessToken)
	assert.EqualValues(t, 2, idp.Requests(fakeidp.GrantClientCredentials))
}

// While a valid token is cached, a throttled background refresh leaves
// callers with that token and is not repeated until Retry-After passes.
func TestThrottleServesValidToken(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{TokenLifetime: 20 * time.Second})
	c := newTestCache(idp, &Options{RefreshMargin: 19 * time.Second, FetchTimeout: 2 * time.Second})
	app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: ClientSecret(tSecret)})
	require.NoError(t, err)
	src := app.Source()
	first, err := src.Token()
	require.NoError(t, err)
	faults := make([]fakeidp.Fault, 100)
	for i := range faults {
		faults[i] = fakeidp.FaultThrottled(120 * time.Second)
	}
	idp.InjectFaults(faults...)
	time.Sleep(1200 * time.Millisecond) // into the refresh window
	var wg sync.WaitGroup
	stop := time.Now().Add(1500 * time.Millisecond)
	for range 20 {
		wg.Go(func() {
			for time.Now().Before(stop) {
				tok, err := src.Token()
				assert.NoError(t, err)
				if err == nil {
					assert.Equal(t, first.AccessToken, tok.AccessToken)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, 2, idp.Requests(fakeidp.GrantClientCredentials), "the first fetch and one throttled refresh")
}

// A claims challenge does not lift the identity provider's pause: while a
// key is throttled, TokenWithClaims answers with the remembered error and
// sends nothing.
func TestThrottleHoldsClaimsRequests(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	idp.InjectFaults(fakeidp.FaultThrottled(120 * time.Second))
	c := newTestCache(idp, &Options{FetchTimeout: 4 * time.Second})
	app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: ClientSecret(tSecret)})
	require.NoError(t, err)
	src := app.Source()
	_, err = src.TokenContext(t.Context())
	require.Error(t, err)
	before := idp.TotalRequests()
	for range 20 {
		_, err = src.TokenWithClaims(t.Context(), `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`)
		var ie *IdPError
		require.ErrorAs(t, err, &ie)
		assert.Equal(t, 429, ie.StatusCode)
	}
	assert.Equal(t, before, idp.TotalRequests(), "no claims request while throttled")
}
