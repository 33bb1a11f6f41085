package tokencache

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// TestSignInFailureCodes: every AADSTS code of issue 16 gives its own cause
// and fix, keeps the correlation id, and the ones a person must act on are
// InteractionRequiredErrors.
func TestSignInFailureCodes(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	c := newTestCache(idp, &Options{MaxRetries: -1})
	u := delegatedUser(t, c, cl)
	require.NoError(t, u.ImportRefreshToken(t.Context(), idp.IssueRefreshToken(tTenant, tPublic, tUser, cl.DelegatedScopes(cloud.IMAP))))
	cases := []struct {
		code        int
		status      int
		err         string
		interaction bool
		cause       string // a word the cause must contain
	}{
		{700082, 400, "invalid_grant", true, "90 days"},
		{70043, 400, "invalid_grant", true, "sign-in frequency"},
		{70044, 400, "invalid_grant", true, "sign-in frequency"},
		{50173, 400, "invalid_grant", true, "password changed"},
		{50133, 400, "invalid_grant", true, "password changed"},
		{50076, 400, "invalid_grant", true, "multi-factor"},
		{50079, 400, "invalid_grant", true, "register"},
		{53003, 400, "invalid_grant", true, "Conditional Access"},
		{65001, 400, "invalid_grant", true, "consent"},
		{7000215, 401, "invalid_client", false, "wrong"},
		{7000222, 401, "invalid_client", false, "expired"},
		{700016, 400, "unauthorized_client", false, "client id"},
		{500011, 400, "invalid_resource", false, "Exchange Online"},
		{50057, 400, "invalid_grant", false, "disabled"},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			idp.InjectFaults(fakeidp.FaultEntra(tc.status, tc.err, tc.code, "Entra's own words."))
			src := u.Source("https://outlook.office365.com/Code" + strconv.Itoa(tc.code))
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			_, err := src.TokenContext(ctx)
			require.Error(t, err)
			var ie *IdPError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, "AADSTS"+strconv.Itoa(tc.code), ie.AADSTS)
			assert.Contains(t, ie.Cause, tc.cause)
			assert.NotEmpty(t, ie.Fix)
			assert.NotEmpty(t, ie.CorrelationID)
			assert.Contains(t, err.Error(), ie.CorrelationID, "the message keeps the correlation id")
			assert.Contains(t, err.Error(), ie.Fix)
			var ir *InteractionRequiredError
			assert.Equal(t, tc.interaction, errorsAs(err, &ir), "interaction required")
			assert.False(t, seen[ie.Cause+ie.Fix], "cause and fix are not shared with another code")
			seen[ie.Cause+ie.Fix] = true
			cause, fix, ok := Explain(strconv.Itoa(tc.code))
			assert.True(t, ok)
			assert.Equal(t, ie.Cause, cause)
			assert.Equal(t, ie.Fix, fix)
		})
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestIdleRefreshTokenWarning: the store records when the account signed in
// and last redeemed; 81 days later Health warns (Stats and slog) and a
// redemption resets the idle time.
func TestIdleRefreshTokenWarning(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	idp, cl := newIdP(t, fakeidp.Options{RefreshTokenLifetime: 365 * 24 * time.Hour})
	var logs lockedBuffer
	store := NewMemoryStore()
	c := newTestCache(idp, &Options{Store: store, Now: clock, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	u := delegatedUser(t, c, cl)
	require.NoError(t, u.ImportRefreshToken(t.Context(), idp.IssueRefreshToken(tTenant, tPublic, tUser, cl.DelegatedScopes(cloud.IMAP))))
	signedIn := clock()

	h, err := u.Health(t.Context())
	require.NoError(t, err)
	assert.True(t, h.SignedIn)
	assert.True(t, h.SignedInAt.Equal(signedIn))
	assert.Empty(t, h.Warning)
	assert.Contains(t, h.String(), "signed in less than a minute ago")

	advance(81 * 24 * time.Hour)
	h, err = u.Health(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 81, int(h.Idle/(24*time.Hour)))
	assert.NotEmpty(t, h.Warning)
	assert.Contains(t, h.String(), "signed in 81 days ago")
	assert.Contains(t, h.String(), "WARNING")
	assert.EqualValues(t, 1, c.Stats().IdleSignIns)
	assert.Contains(t, logs.String(), "inactivity limit")
	assert.Contains(t, logs.String(), "idle_days=81")
	assert.True(t, h.EndsAt.Equal(signedIn.Add(90*24*time.Hour)))

	// A redemption records the new use: no warning any more, but the
	// sign-in age keeps counting from the sign-in.
	_, err = u.Source(cl.DelegatedScopes(cloud.SMTP)...).TokenContext(t.Context())
	require.NoError(t, err)
	assert.EqualValues(t, 2, c.Stats().IdleSignIns, "the redemption of an idle token warns too")
	h, err = u.Health(t.Context())
	require.NoError(t, err)
	assert.Empty(t, h.Warning)
	assert.Equal(t, 81, int(h.Age/(24*time.Hour)))
	assert.Less(t, h.Idle, time.Minute)
	assert.False(t, strings.Contains(logs.String(), "eyJ"), "no token in the logs")
}
