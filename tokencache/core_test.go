package tokencache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// countingSource is an in-package fake upstream: it mints numbered tokens
// living for life, after delay, and can be told to fail.
type countingSource struct {
	calls   atomic.Int64
	delay   time.Duration
	life    time.Duration
	refresh time.Duration // refresh_in, 0 = none
	mu      sync.Mutex
	errs    []error // returned (and consumed) before any token
}

func (s *countingSource) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	n := s.calls.Add(1)
	if s.delay > 0 {
		t := time.NewTimer(s.delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	if len(s.errs) > 0 {
		err := s.errs[0]
		s.errs = s.errs[1:]
		s.mu.Unlock()
		return nil, err
	}
	s.mu.Unlock()
	tok := &oauth2.Token{AccessToken: fmt.Sprintf("tok-%d", n), TokenType: "Bearer", Expiry: time.Now().Add(s.life)}
	if s.refresh > 0 {
		tok = tok.WithExtra(map[string]any{"refresh_in": s.refresh.Seconds()})
	}
	return tok, nil
}

func (s *countingSource) Token() (*oauth2.Token, error) { return s.TokenContext(context.Background()) }

func (s *countingSource) failNext(errs ...error) {
	s.mu.Lock()
	s.errs = append(s.errs, errs...)
	s.mu.Unlock()
}

func TestHitMissAndEarlyRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &countingSource{life: time.Hour, delay: time.Second}
		c := New(nil)
		src := c.Wrap("k", up)
		tok, err := src.Token()
		require.NoError(t, err)
		assert.Equal(t, "tok-1", tok.AccessToken)
		for range 10 {
			tok2, err := src.Token()
			require.NoError(t, err)
			assert.Same(t, tok, tok2, "hit returns the cached pointer")
		}
		assert.EqualValues(t, 1, up.calls.Load())

		// 49 min later: inside the 10 min margin; the old token is served
		// while one background refresh runs.
		time.Sleep(51 * time.Minute)
		for range 100 {
			tok2, err := src.Token()
			require.NoError(t, err)
			assert.Equal(t, "tok-1", tok2.AccessToken, "served while the refresh runs")
		}
		time.Sleep(2 * time.Second) // the refresh takes 1 s
		synctest.Wait()
		assert.EqualValues(t, 2, up.calls.Load(), "exactly one background refresh")
		tok3, err := src.Token()
		require.NoError(t, err)
		assert.Equal(t, "tok-2", tok3.AccessToken)
		st := c.Stats()
		assert.EqualValues(t, 2, st.Flights)
		assert.EqualValues(t, 1, st.BackgroundRefreshes)
		assert.EqualValues(t, 1, st.Misses)
		assert.GreaterOrEqual(t, st.Hits, uint64(100), "the 100 hits inside the window are counted exactly")
	})
}

func TestInvalidateCompareAndDrop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &countingSource{life: time.Hour}
		src := New(nil).Wrap("k", up)
		old, err := src.Token()
		require.NoError(t, err)
		src.Invalidate(old)
		src.Invalidate(old)
		fresh, err := src.Token()
		require.NoError(t, err)
		assert.Equal(t, "tok-2", fresh.AccessToken)
		src.Invalidate(old) // stale: must not drop fresh
		again, err := src.Token()
		require.NoError(t, err)
		assert.Same(t, fresh, again)
		assert.EqualValues(t, 2, up.calls.Load())
	})
}

func TestWaiterLeavesOnOwnContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &countingSource{life: time.Hour, delay: 5 * time.Second}
		src := New(nil).Wrap("k", up)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		var wg sync.WaitGroup
		var patientTok *oauth2.Token
		wg.Go(func() {
			var err error
			patientTok, err = src.TokenContext(t.Context())
			assert.NoError(t, err)
		})
		_, err := src.TokenContext(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		wg.Wait()
		require.NotNil(t, patientTok)
		assert.EqualValues(t, 1, up.calls.Load(), "the impatient caller did not cancel the flight")
	})
}

func TestNeverServeExpiredDuringOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := &countingSource{life: time.Hour}
		c := New(&Options{MaxRetries: -1})
		src := c.Wrap("k", up)
		tok, err := src.Token()
		require.NoError(t, err)
		outage := &oauth2.RetrieveError{Body: []byte(`{"error":"temporarily_unavailable"}`)}
		for range 100 {
			up.failNext(outage)
		}
		time.Sleep(55 * time.Minute) // in the window
		for range 20 {
			got, err := src.Token()
			require.NoError(t, err, "a valid token is served during the outage")
			assert.Same(t, tok, got)
			time.Sleep(10 * time.Second)
			synctest.Wait()
		}
		// back-off: far fewer fetches than calls
		assert.Less(t, up.calls.Load(), int64(8))
		time.Sleep(5 * time.Minute) // now past expiry
		_, err = src.Token()
		require.Error(t, err, "an expired token is never served")
		var ie *IdPError
		require.True(t, errors.As(err, &ie))
		assert.True(t, ie.Transient)
	})
}

func errorsAs[T error](err error, target *T) bool { return errors.As(err, target) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func TestEviction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(nil)
		var srcs []*Source
		for i := range 10 {
			up := &countingSource{life: time.Duration(i+1) * time.Minute}
			s := c.Wrap(fmt.Sprint("k", i), up)
			_, err := s.Token()
			require.NoError(t, err)
			srcs = append(srcs, s)
		}
		require.Equal(t, 10, c.Len())
		time.Sleep(5*time.Minute + time.Second) // keys 0..4 expired
		// a flight triggers the sweep
		long := c.Wrap("long", &countingSource{life: time.Hour})
		_, err := long.Token()
		require.NoError(t, err)
		synctest.Wait()
		assert.Equal(t, 6, c.Len(), "5 expired entries evicted")
		assert.EqualValues(t, 5, c.Stats().Evictions)
		// an evicted key still works through its Source: it re-registers
		tok, err := srcs[0].Token()
		require.NoError(t, err)
		assert.Equal(t, "tok-2", tok.AccessToken)
		assert.Equal(t, 7, c.Len())
	})
}

func TestRefreshWindow(t *testing.T) {
	c := New(nil) // margin 10 min
	now := time.Now()
	at := func(life, refreshIn time.Duration) time.Duration {
		var ro time.Time
		if refreshIn > 0 {
			ro = now.Add(refreshIn)
		}
		st := c.newState(&oauth2.Token{AccessToken: "x", Expiry: now.Add(life)}, ro, now)
		return st.refreshAt.Sub(now).Round(time.Second)
	}
	assert.Equal(t, 50*time.Minute, at(time.Hour, 0), "margin")
	assert.Equal(t, 30*time.Minute, at(time.Hour, 30*time.Minute), "refresh_in earlier than margin")
	assert.Equal(t, 50*time.Minute, at(time.Hour, 55*time.Minute), "margin earlier than refresh_in")
	assert.Equal(t, 12*time.Hour, at(24*time.Hour, 0), "half-life for tokens of 2 h or more")
	assert.Equal(t, 110*time.Minute, at(2*time.Hour-time.Second, 0)+time.Second, "under 2 h: margin")
	assert.Equal(t, 150*time.Second, at(5*time.Minute, 0), "lifetime under the margin: half-life")
	st := c.newState(&oauth2.Token{AccessToken: "x", Expiry: now.Add(time.Hour)}, time.Time{}, now)
	assert.Equal(t, 3570*time.Second, st.expireAt.Sub(now).Round(time.Second), "served until 30 s before expiry")
}

// TestHitCountEstimate: the sampled hit count is close to the true count.
func TestHitCountEstimate(t *testing.T) {
	c := New(nil)
	src := c.Wrap("k", &countingSource{life: time.Hour})
	_, err := src.Token()
	require.NoError(t, err)
	const workers, each = 4, 50_000
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				if _, err := src.Token(); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := float64(c.Stats().Hits)
	assert.InEpsilon(t, float64(workers*each), got, 0.05, "estimated hits %v", got)
	t.Logf("true hits %d, estimated %v", workers*each, got)
}
