package tokencache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/modernauth/mailauth"
	"golang.org/x/oauth2"
)

// Source serves the cached token of one key. It implements
// [oauth2.TokenSource] and is safe for concurrent use; hand the same Source
// to every connection that needs the key.
//
// Token and TokenContext return the cached token without any I/O while it
// is outside its refresh window; inside the window they return it at once
// and start one background refresh; with no usable token they block on the
// key's single flight.
type Source struct {
	e          atomic.Pointer[entry] // replaced only when the entry was evicted
	c          *Cache
	key        string
	newFetcher func() fetcher
}

var (
	// A Source honours the module's token-source contract: protocol packages pass the
	// request's context to TokenContext and call Invalidate after a refusal.
	_ mailauth.ContextTokenSource = (*Source)(nil)
	_ mailauth.Invalidator        = (*Source)(nil)
	_ mailauth.ClaimsTokenSource  = (*Source)(nil)
)

// Token implements [oauth2.TokenSource]. A blocking fetch is bounded by
// [Options.FetchTimeout]; use [Source.TokenContext] to bound it by a
// context too. The returned token must not be modified.
func (s *Source) Token() (*oauth2.Token, error) {
	// The hit path is repeated here rather than delegated, to save a call.
	e := s.e.Load()
	if st := e.cur.Load(); st != nil {
		// time.Until reads only the monotonic clock: half of time.Now.
		if left := time.Until(st.refreshAt); left > 0 {
			if sampled(int64(left)) {
				s.c.stats.hits.add(hitSample)
			}
			return st.tok, nil
		}
	}
	return s.slow(context.Background(), e)
}

// TokenContext is like [Source.Token], but the caller stops waiting for a
// flight when ctx ends (the flight itself goes on for the other callers).
// On a hit it does not look at ctx at all.
func (s *Source) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	e := s.e.Load()
	if st := e.cur.Load(); st != nil {
		// time.Until reads only the monotonic clock: half of time.Now.
		if left := time.Until(st.refreshAt); left > 0 {
			if sampled(int64(left)) {
				s.c.stats.hits.add(hitSample)
			}
			return st.tok, nil
		}
	}
	return s.slow(ctx, e)
}

// Invalidate drops tok if it is still the cached token of this key, so the
// next call fetches a new one (for example after a server rejected tok).
// It is a compare-and-drop: a token that was already replaced is left
// alone, so many connections failing with the same token cause one fetch.
// Invalidate does no I/O.
func (s *Source) Invalidate(tok *oauth2.Token) {
	if tok == nil {
		return
	}
	e := s.e.Load()
	st := e.cur.Load()
	if st == nil || (st.tok != tok && st.tok.AccessToken != tok.AccessToken) {
		return
	}
	e.mu.Lock()
	e.dropped = st.tok
	e.mu.Unlock()
	e.cur.CompareAndSwap(st, nil)
}

// hasDropped reports whether a token of e was invalidated and not yet
// replaced.
func (e *entry) hasDropped() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dropped != nil
}

// String names the key without any token.
func (s *Source) String() string { return "tokencache.Source{" + printableKey(s.key) + "}" }

// GoString is like String.
func (s *Source) GoString() string { return s.String() }

// Format prints the String form for every verb.
func (s *Source) Format(f fmt.State, _ rune) { fmt.Fprint(f, s.String()) }

// LogValue implements [slog.LogValuer].
func (s *Source) LogValue() slog.Value { return slog.StringValue(s.String()) }

func printableKey(k string) string {
	b := []byte(k)
	for i, c := range b {
		if c == 0 {
			b[i] = '|'
		}
	}
	return string(b)
}

func (s *Source) slow(ctx context.Context, e *entry) (*oauth2.Token, error) {
	if e.evicted.Load() {
		e = s.c.entry(s.key, s.newFetcher)
		s.e.Store(e)
	}
	now := time.Now()
	st := e.cur.Load()
	if st != nil && now.Before(st.refreshAt) {
		s.c.stats.hits.add(1)
		return st.tok, nil
	}
	if st != nil && now.Before(st.expireAt) {
		// Refresh window: serve the valid token, refresh once in the
		// background unless a refresh runs or a failed one backs off.
		s.c.stats.hits.add(1)
		if !e.flying.Load() && now.UnixNano() >= e.retryAt.Load() && e.scope.active(now) == nil {
			e.start(ctx, st, true)
		}
		return st.tok, nil
	}
	s.c.stats.misses.Add(1)
	for {
		f := e.start(ctx, st, false)
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("tokencache: gave up waiting for a token: %w", context.Cause(ctx))
		}
		if f.err != nil {
			return nil, f.err
		}
		if f.st != nil && time.Now().Before(f.st.expireAt) {
			return f.st.tok, nil
		}
		// The flight's token was dropped or expired already; fly again.
		st = e.cur.Load()
		if st != nil && time.Now().Before(st.expireAt) {
			return st.tok, nil
		}
	}
}

// entry is the cache slot of one key.
type entry struct {
	c       *Cache
	key     string
	f       fetcher
	cur     atomic.Pointer[state] // nil: no usable token
	flying  atomic.Bool           // a flight runs
	retryAt atomic.Int64          // unix nanos before which no background refresh starts
	evicted atomic.Bool
	scope   *throttle // shared by the keys of one authority (app-only), or nil

	mu     sync.Mutex // guards flight, dropped, fails, throttle, claimsFlight, claims
	flight *flight
	// claimsFlight is the running acquisition with claims (the claims
	// it carries are in claims); callers with the same claims join it.
	claimsFlight *flight
	claims       string
	// claimsDone and claimsSt are the claims of the last successful
	// acquisition with claims and the state it produced: callers with
	// the same claims get that token while it is the cached one.
	claimsDone string
	claimsSt   *state
	dropped    *oauth2.Token // last token removed by Invalidate
	fails      int           // consecutive failed flights
	throttle   throttle      // the identity provider's last "not before"
}

// throttle remembers that the identity provider asked for a pause (HTTP
// 429 or 503, usually with Retry-After): until it passes no request is
// sent, and callers without a valid token get err.
type throttle struct {
	until atomic.Int64 // unix nanos
	mu    sync.Mutex   // guards err
	err   error
}

// active returns the remembered error while the throttle lasts.
func (t *throttle) active(now time.Time) error {
	if t == nil || now.UnixNano() >= t.until.Load() {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

func (t *throttle) set(until time.Time, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if until.UnixNano() > t.until.Load() {
		t.until.Store(until.UnixNano())
	}
	t.err = err
}

// maxThrottle bounds how long a Retry-After is honoured.
const maxThrottle = time.Hour

// throttleFor returns how long err asks the cache to leave the identity
// provider alone: its Retry-After, or backoff for a 429 or 503 without one.
func throttleFor(err error, backoff time.Duration) time.Duration {
	var ie *IdPError
	if !errors.As(err, &ie) {
		return 0
	}
	switch {
	case ie.RetryAfter > 0:
		return min(ie.RetryAfter, maxThrottle)
	case ie.StatusCode == 429 || ie.StatusCode == 503:
		return backoff
	}
	return 0
}

// throttled returns the error to answer with while the key or its
// authority is throttled, or nil.
func (e *entry) throttled(now time.Time) error {
	if err := e.throttle.active(now); err != nil {
		return err
	}
	return e.scope.active(now)
}

// state is an immutable snapshot of a cached token.
type state struct {
	tok *oauth2.Token
	// Both carry a monotonic clock reading (they derive from time.Now),
	// so the hit path compares them with one monotonic clock read.
	refreshAt time.Time // start of the refresh window
	expireAt  time.Time // first instant the token is no longer served
}

type flight struct {
	done chan struct{}
	st   *state
	err  error
}

// start joins the running flight or starts one. old is the state the caller
// saw; when another flight replaced it meanwhile, start returns a finished
// flight with the new state.
func (e *entry) start(ctx context.Context, old *state, background bool) *flight {
	e.mu.Lock()
	defer e.mu.Unlock()
	if f := e.flight; f != nil {
		return f
	}
	if cur := e.cur.Load(); cur != nil && cur != old && time.Now().Before(cur.expireAt) {
		f := &flight{done: make(chan struct{}), st: cur}
		close(f.done)
		return f
	}
	if background && time.Now().UnixNano() < e.retryAt.Load() {
		f := &flight{done: make(chan struct{}), st: old}
		close(f.done)
		return f
	}
	if err := e.throttled(time.Now()); err != nil {
		// The identity provider asked for a pause: answer without asking it.
		e.c.stats.throttled.Add(1)
		f := &flight{done: make(chan struct{}), st: old}
		if !background {
			f.st, f.err = nil, err
		}
		close(f.done)
		return f
	}
	stale := e.dropped
	if old != nil {
		stale = old.tok
	}
	f := &flight{done: make(chan struct{})}
	e.flight = f
	e.flying.Store(true)
	e.c.stats.flights.Add(1)
	if background {
		e.c.stats.background.Add(1)
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.c.timeout)
	go func() {
		defer cancel()
		e.run(fctx, f, stale, background)
	}()
	return f
}

func (e *entry) run(ctx context.Context, f *flight, stale *oauth2.Token, background bool) {
	c := e.c
	st, now, err := c.fetchState(ctx, func(ctx context.Context) (*oauth2.Token, time.Time, error) {
		return e.f.fetch(ctx, stale)
	})
	e.mu.Lock()
	if err == nil {
		e.cur.Store(st)
		e.fails = 0
		e.dropped = nil
		e.retryAt.Store(0)
	} else {
		c.stats.failures.Add(1)
		e.fails++
		d := c.backoff << min(e.fails-1, 10)
		d = min(d, 5*time.Minute)
		d = max(d, e.noteThrottleLocked(err, now, d))
		e.retryAt.Store(now.Add(d).UnixNano())
	}
	e.flight = nil
	e.flying.Store(false)
	e.mu.Unlock()
	f.st, f.err = st, err
	close(f.done)
	if err != nil && c.log != nil {
		c.log.LogAttrs(ctx, slog.LevelWarn, "tokencache: token fetch failed",
			slog.String("key", printableKey(e.key)), slog.Bool("background", background), slog.String("error", err.Error()))
	}
	c.sweep(now)
}

// fetchState runs fetch with the cache's retries and turns the token into
// a state; a token that arrives already expired is an error.
func (c *Cache) fetchState(ctx context.Context, fetch func(context.Context) (*oauth2.Token, time.Time, error)) (*state, time.Time, error) {
	tok, refreshOn, err := c.retry(ctx, func(ctx context.Context) (*oauth2.Token, time.Time, error) {
		c.stats.fetches.Add(1)
		return fetch(ctx)
	})
	now := time.Now()
	if err != nil {
		return nil, now, err
	}
	st := c.newState(tok, refreshOn, now)
	if !now.Before(st.expireAt) {
		return nil, now, &IdPError{Code: "invalid_response", Description: "the token received has already expired; check the clock of this machine"}
	}
	return st, now, nil
}

// noteThrottleLocked remembers, for the key and its authority, a pause the
// identity provider asked for with err, and returns its length (zero when
// err asks for none; backoff for a 429 or 503 without Retry-After). e.mu
// is held.
func (e *entry) noteThrottleLocked(err error, now time.Time, backoff time.Duration) time.Duration {
	t := throttleFor(err, backoff)
	if t > 0 {
		until := now.Add(t)
		e.throttle.set(until, err)
		if e.scope != nil {
			e.scope.set(until, err)
		}
	}
	return t
}

// newState computes the refresh window of tok, fetched at now.
func (c *Cache) newState(tok *oauth2.Token, refreshOn time.Time, now time.Time) *state {
	st := &state{tok: tok}
	if tok.Expiry.IsZero() {
		far := now.Add(farFuture)
		st.refreshAt, st.expireAt = far, far
		if !refreshOn.IsZero() {
			st.refreshAt = now.Add(min(refreshOn.Sub(now), farFuture))
		}
		return st
	}
	life := tok.Expiry.Sub(now) // wall-clock remaining, anchored to now's monotonic reading
	skew := min(30*time.Second, life/8)
	st.expireAt = now.Add(life - skew)
	r := life - c.margin
	if c.margin >= life {
		r = life / 2
	}
	if life >= 2*time.Hour {
		r = min(r, life/2)
	}
	if !refreshOn.IsZero() {
		if d := refreshOn.Sub(now); d < r {
			r = max(d, 0)
		}
	}
	st.refreshAt = now.Add(r)
	return st
}

// retry calls fn until it succeeds, fails for good, runs out of retries
// or ctx ends. It waits between attempts with capped, jittered exponential
// back-off, or as long as a Retry-After asked (bounded by ctx).
func (c *Cache) retry(ctx context.Context, fn func(context.Context) (*oauth2.Token, time.Time, error)) (*oauth2.Token, time.Time, error) {
	wait := 200 * time.Millisecond
	for attempt := 0; ; attempt++ {
		// One hanging request must leave time for a retry.
		actx, cancel := context.WithTimeout(ctx, max(c.timeout/2, time.Second))
		tok, refreshOn, err := fn(actx)
		cancel()
		if err == nil {
			return tok, refreshOn, nil
		}
		var ie *IdPError
		if !errors.As(err, &ie) || !ie.Transient || attempt >= c.retries || ctx.Err() != nil {
			return nil, time.Time{}, err
		}
		d := wait/2 + rand.N(wait/2+1)
		if ie.RetryAfter > 0 {
			d = ie.RetryAfter
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			return nil, time.Time{}, err
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, time.Time{}, err
		}
		wait = min(wait*2, 10*time.Second)
	}
}

func refreshInExtra(tok *oauth2.Token) time.Duration {
	switch v := tok.Extra("refresh_in").(type) {
	case float64:
		return time.Duration(v * float64(time.Second))
	case string:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return time.Duration(n) * time.Second
		}
	case int64:
		return time.Duration(v) * time.Second
	case int:
		return time.Duration(v) * time.Second
	}
	return 0
}

// hitSample is the sampling rate of hits on the lock-free path: one hit in
// hitSample is counted, as hitSample hits. An atomic add on every hit would
// cost a quarter of the clock read the hit is built around.
const hitSample = 16

// sampled picks about one clock reading in hitSample. The reading is
// hashed first, so clocks with a coarse resolution, whose low bits do not
// vary, are sampled evenly too.
func sampled(now int64) bool {
	// The finalizer of splitmix64: clock readings that differ by an almost
	// constant step in a busy loop map to unrelated values, so the sample
	// behaves like a fair 1-in-16 draw. (One multiply is not enough: the
	// readings then alias with the loop period and the estimate drifts.)
	z := uint64(now)
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return (z^z>>31)>>60 == 0
}

// stripedCounter is a counter split over cache lines, so goroutines on
// different cores rarely add to the same line. The stripe is chosen from
// the address of the caller's stack, which differs between goroutines and
// costs no call.
type stripedCounter struct {
	stripes [32]struct {
		n atomic.Uint64
		_ [56]byte
	}
}

func (c *stripedCounter) add(n uint64) {
	var x byte
	// Goroutine stacks start at 2 KiB; hash the stack's 2 KiB block number
	// so neighbouring stacks land on different stripes.
	i := (uint64(uintptr(unsafe.Pointer(&x))>>11) * 0x9E3779B97F4A7C15) >> 59
	c.stripes[i].n.Add(n)
}

func (c *stripedCounter) load() uint64 {
	var n uint64
	for i := range c.stripes {
		n += c.stripes[i].n.Load()
	}
	return n
}

// farFuture stands for "never" in refresh windows (tokens without expiry).
const farFuture = 100 * 365 * 24 * time.Hour

// newToken wraps an access token from the identity provider. Its expiry is the earlier of
// the provider's expires_in (MSAL's ExpiresOn) and the JWT's exp claim, so a token is never
// served after the moment a server starts refusing it.
func newToken(access string, expiresOn time.Time) *oauth2.Token {
	tok := &oauth2.Token{AccessToken: access, TokenType: "Bearer", Expiry: expiresOn}
	tok.Expiry = mailauth.TokenExpiry(tok)
	return tok
}
