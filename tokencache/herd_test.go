package tokencache

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

const herdSize = 10_000

// herd releases n goroutines at once on src.Token and returns their waits and the
// access tokens they got.
func herd(t *testing.T, src *Source, n int) ([]time.Duration, []string) {
	t.Helper()
	waits := make([]time.Duration, n)
	toks := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			t0 := time.Now()
			var tok *oauth2.Token
			tok, errs[i] = src.Token()
			waits[i] = time.Since(t0)
			if tok != nil {
				toks[i] = tok.AccessToken
			}
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	slices.Sort(waits)
	return waits, toks
}

// countOf counts the callers that got tok.
func countOf(toks []string, tok string) int {
	n := 0
	for _, s := range toks {
		if s == tok {
			n++
		}
	}
	return n
}

func pct(w []time.Duration, p float64) time.Duration { return w[int(float64(len(w)-1)*p)] }

// TestHerd: 10,000 goroutines on one expired key while the IdP takes 50 ms
// make exactly one token request.
func TestHerd(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{TokenLifetime: 4 * time.Second, Latency: 50 * time.Millisecond})
	c := newTestCache(idp, &Options{RefreshMargin: time.Second})
	app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: ClientSecret(tSecret)})
	require.NoError(t, err)
	src := app.Source(cl.AppOnlyScope())
	first, err := src.Token()
	require.NoError(t, err)
	// The token is served until 4s - 4s/8 = 3.5s after it was issued.
	time.Sleep(time.Until(first.Expiry.Add(-400 * time.Millisecond)))
	idp.ResetCounters()
	// The new token lives long: however slowly a loaded machine runs the herd,
	// it cannot expire in turn and make a second request the test did not mean.
	idp.SetTokenLifetime(time.Hour)
	waits, toks := herd(t, src, herdSize)
	assert.EqualValues(t, 1, idp.Requests(fakeidp.GrantClientCredentials), "one token request for %d callers", herdSize)
	t.Logf("expired key, %d callers: p50 %v p99 %v max %v", herdSize, pct(waits, .5), pct(waits, .99), waits[len(waits)-1])
	// What the test means, without wall-clock luck: nobody got the token past its
	// serving window; every caller got the one new token (so each either waited for the
	// single flight or came after it).
	assert.Zero(t, countOf(toks, first.AccessToken), "callers did wait for the flight: none got the old token")
	assert.Equal(t, herdSize, countOf(toks, toks[0]), "all callers got the same new token")
}

// TestHerdEarlyRefresh: inside the refresh window the same herd makes one
// background request and nobody waits for it.
func TestHerdEarlyRefresh(t *testing.T) {
	// The IdP takes 2 s, far longer than the herd needs to run even on a loaded
	// machine, so a caller that waited for the refresh would get the new token.
	idp, cl := newIdP(t, fakeidp.Options{RefreshIn: time.Second, Latency: 2 * time.Second})
	c := newTestCache(idp, nil)
	app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: ClientSecret(tSecret)})
	require.NoError(t, err)
	src := app.Source(cl.AppOnlyScope())
	first, err := src.Token()
	require.NoError(t, err)
	time.Sleep(1100 * time.Millisecond) // past refresh_in, far from expiry
	idp.ResetCounters()
	waits, toks := herd(t, src, herdSize)
	p99 := pct(waits, .99)
	t.Logf("refresh window, %d callers: p50 %v p99 %v max %v", herdSize, pct(waits, .5), p99, waits[len(waits)-1])
	// Nobody waited for the background refresh: every caller got the valid first
	// token, although the refresh started with the first of them.
	assert.Equal(t, herdSize, countOf(toks, first.AccessToken), "callers were served the valid token without waiting")
	// The refresh lands in the background and is then served.
	require.Eventually(t, func() bool {
		next, err := src.Token()
		return err == nil && next.AccessToken != first.AccessToken
	}, 10*time.Second, 10*time.Millisecond, "the refreshed token is served")
	assert.EqualValues(t, 1, idp.Requests(fakeidp.GrantClientCredentials), "exactly one background refresh")
	assert.EqualValues(t, 1, c.Stats().BackgroundRefreshes)
}

func TestFaults(t *testing.T) {
	cases := []struct {
		name        string
		fault       fakeidp.Fault
		ok          bool   // a retry succeeds
		interaction bool   // *InteractionRequiredError
		code        string // IdPError.Code when it fails
		aadsts      string
	}{
		{name: "500", fault: fakeidp.FaultServerError(), ok: true},
		{name: "503 Retry-After", fault: fakeidp.FaultServiceUnavailable(time.Second), ok: true},
		{name: "429 Retry-After", fault: fakeidp.FaultThrottled(time.Second), ok: true},
		{name: "timeout", fault: fakeidp.FaultHang(), ok: true},
		{name: "invalid JSON", fault: fakeidp.FaultInvalidJSON(), ok: true},
		{name: "AADSTS50076", fault: fakeidp.FaultInteractionRequired(), interaction: true, code: "invalid_grant", aadsts: "AADSTS50076"},
		{name: "AADSTS70043", fault: fakeidp.FaultRefreshTokenExpired(), interaction: true, code: "invalid_grant", aadsts: "AADSTS70043"},
		{name: "AADSTS7000215", fault: fakeidp.FaultEntra(http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided."), code: "invalid_client", aadsts: "AADSTS7000215"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			idp, cl := newIdP(t, fakeidp.Options{})
			c := newTestCache(idp, &Options{FetchTimeout: 6 * time.Second})
			var src *Source
			if tc.fault.Grant == fakeidp.GrantRefreshToken {
				u := delegatedUser(t, c, cl)
				require.NoError(t, u.ImportRefreshToken(t.Context(), idp.IssueRefreshToken(tTenant, tPublic, tUser, u.scopes)))
				src = u.Source(cl.AppOnlyScope()[:len("https://outlook.office365.com")] + "/IMAP.AccessAsUser.All")
			} else {
				app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: ClientSecret(tSecret)})
				require.NoError(t, err)
				src = app.Source(cl.AppOnlyScope())
			}
			idp.ResetCounters()
			idp.InjectFaults(tc.fault)
			tok, err := src.TokenContext(t.Context())
			if tc.ok {
				require.NoError(t, err, "retried after the fault")
				_, err = idp.Verify(tok.AccessToken)
				require.NoError(t, err)
				assert.EqualValues(t, 2, idp.TotalRequests(), "one failed request, one retry")
				return
			}
			require.Error(t, err)
			var ie *IdPError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, tc.code, ie.Code)
			assert.Equal(t, tc.aadsts, ie.AADSTS)
			assert.NotEmpty(t, ie.CorrelationID)
			assert.NotEmpty(t, ie.Hint)
			var ir *InteractionRequiredError
			assert.Equal(t, tc.interaction, errorsAs(err, &ir))
			assert.EqualValues(t, 1, idp.TotalRequests(), "not retried")
		})
	}
}

// TestOutage: during an IdP outage a still-valid token keeps being served
// and an expired one never is.
func TestOutage(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{TokenLifetime: 3 * time.Second})
	c := newTestCache(idp, &Options{RefreshMargin: 2 * time.Second, MaxRetries: -1, RefreshBackoff: 100 * time.Millisecond})
	app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: ClientSecret(tSecret)})
	require.NoError(t, err)
	src := app.Source(cl.AppOnlyScope())
	tok, err := src.Token()
	require.NoError(t, err)
	for range 1000 {
		idp.InjectFaults(fakeidp.FaultServerError())
	}
	served, calls := 0, 0
	var lastErr error
	for time.Now().Before(tok.Expiry.Add(500 * time.Millisecond)) {
		got, err := src.Token()
		calls++
		if err != nil {
			lastErr = err
		} else {
			served++
			assert.Same(t, tok, got)
			assert.True(t, time.Now().Before(got.Expiry), "an expired token was served")
		}
		time.Sleep(20 * time.Millisecond)
	}
	assert.Greater(t, served, 10, "the valid token kept being served")
	// Whatever the loop saw on a loaded machine, a call after expiry gets the
	// outage error, never the expired token.
	time.Sleep(time.Until(tok.Expiry.Add(10 * time.Millisecond)))
	got, err := src.Token()
	require.Error(t, err, "after expiry the caller gets the outage error (got %v)", got)
	if lastErr == nil {
		lastErr = err
	}
	var ie *IdPError
	require.ErrorAs(t, lastErr, &ie)
	assert.Equal(t, 500, ie.StatusCode)
	assert.True(t, Temporary(lastErr))
	assert.Positive(t, c.Stats().Failures)
	assert.Less(t, idp.TotalRequests(), int64(calls), "failed background refreshes back off: not one per call")
}

// TestHerdDelegated: the same herd on an expired delegated key redeems the
// refresh token once.
func TestHerdDelegated(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{TokenLifetime: 4 * time.Second, Latency: 50 * time.Millisecond})
	c := newTestCache(idp, &Options{RefreshMargin: time.Second})
	u := delegatedUser(t, c, cl)
	require.NoError(t, u.ImportRefreshToken(t.Context(), idp.IssueRefreshToken(tTenant, tPublic, tUser, u.scopes)))
	src := u.Source()
	first, err := src.Token()
	require.NoError(t, err)
	time.Sleep(time.Until(first.Expiry.Add(-400 * time.Millisecond)))
	idp.ResetCounters()
	idp.SetTokenLifetime(time.Hour) // as in TestHerd
	_, _ = herd(t, src, herdSize)
	assert.EqualValues(t, 1, idp.Requests(fakeidp.GrantRefreshToken), "one redemption for %d callers", herdSize)
	assert.Equal(t, 1, idp.LiveRefreshTokens())
}

// An invalidated token is never taken back from the store, even when the
// once-a-minute sweep evicts the entry between Invalidate and the next
// Token (it used to: the new entry forgot which token was refused, and a
// retry after a 535 sent the same token again).
func TestInvalidateSurvivesSweep(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	c := newTestCache(idp, nil)
	app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: ClientSecret(tSecret)})
	require.NoError(t, err)
	src := app.Source(cl.AppOnlyScope())
	t1, err := src.Token()
	require.NoError(t, err)
	idp.ResetCounters()
	src.Invalidate(t1)
	c.sweep(time.Now().Add(2 * time.Minute))
	t2, err := src.Token()
	require.NoError(t, err)
	assert.NotEqual(t, t1.AccessToken, t2.AccessToken, "the refused token came back")
	assert.EqualValues(t, 1, idp.Requests(fakeidp.GrantClientCredentials))
}
