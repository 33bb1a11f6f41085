package tokencache

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/oauth2"
)

// claimsFetcher is a fetcher that can also acquire a token with the claims
// of a claims challenge.
type claimsFetcher func(ctx context.Context, stale *oauth2.Token, claims string) (*oauth2.Token, time.Time, error)

func (f claimsFetcher) fetch(ctx context.Context, stale *oauth2.Token) (*oauth2.Token, time.Time, error) {
	return f(ctx, stale, "")
}

// TokenWithClaims acquires a new token carrying claims, the decoded claims
// request of a resource's challenge (WWW-Authenticate: Bearer
// error="insufficient_claims", claims="..."), and makes it the cached
// token. Callers with the same claims at the same time share one request.
// It always asks the identity provider (the cached token is the one the
// resource refused). A Source from [Cache.Wrap] cannot pass claims on; it
// fails. Empty claims is [Source.TokenContext].
//
// When the identity provider wants a person to act (MFA, a sign-in
// compliant with the policy) the error is an [*InteractionRequiredError].
func (s *Source) TokenWithClaims(ctx context.Context, claims string) (*oauth2.Token, error) {
	if claims == "" {
		return s.TokenContext(ctx)
	}
	e := s.e.Load()
	if e.evicted.Load() {
		e = s.c.entry(s.key, s.newFetcher)
		s.e.Store(e)
	}
	f0 := e.f
	if sf, ok := f0.(scopedFetcher); ok {
		f0 = sf.fetcher
	}
	cf, ok := f0.(claimsFetcher)
	if !ok {
		return nil, fmt.Errorf("tokencache: %s cannot acquire a token with claims (a wrapped token source); the resource demands claims the cached token lacks", printableKey(s.key))
	}
	if err := e.throttled(time.Now()); err != nil {
		// The identity provider asked for a pause: claims do not lift it.
		s.c.stats.throttled.Add(1)
		return nil, err
	}
	e.mu.Lock()
	if st := e.cur.Load(); e.claimsFlight == nil && st != nil && st == e.claimsSt && e.claimsDone == claims && time.Now().Before(st.expireAt) {
		// The cached token was acquired with these very claims (another
		// connection got the same challenge a moment ago).
		e.mu.Unlock()
		return st.tok, nil
	}
	f := e.claimsFlight
	if f == nil || e.claims != claims {
		f = &flight{done: make(chan struct{})}
		e.claimsFlight, e.claims = f, claims
		var stale *oauth2.Token
		if st := e.cur.Load(); st != nil {
			stale = st.tok
		}
		s.c.stats.flights.Add(1)
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.c.timeout)
		go func() {
			defer cancel()
			e.runClaims(fctx, f, cf, stale, claims)
		}()
	}
	e.mu.Unlock()
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("tokencache: gave up waiting for a token: %w", context.Cause(ctx))
	}
	if f.err != nil {
		return nil, f.err
	}
	return f.st.tok, nil
}

func (e *entry) runClaims(ctx context.Context, f *flight, cf claimsFetcher, stale *oauth2.Token, claims string) {
	c := e.c
	st, now, err := c.fetchState(ctx, func(ctx context.Context) (*oauth2.Token, time.Time, error) {
		c.stats.claims.Add(1)
		return cf(ctx, stale, claims)
	})
	e.mu.Lock()
	if err == nil {
		e.cur.Store(st)
		e.dropped = nil
		e.claimsDone, e.claimsSt = claims, st
	} else {
		c.stats.failures.Add(1)
		e.noteThrottleLocked(err, now, c.backoff) // the same pause holds for requests with claims
	}
	if e.claimsFlight == f {
		e.claimsFlight, e.claims = nil, ""
	}
	e.mu.Unlock()
	f.st, f.err = st, err
	close(f.done)
	if err != nil && c.log != nil {
		c.log.LogAttrs(ctx, slog.LevelWarn, "tokencache: token fetch with claims failed",
			slog.String("key", printableKey(e.key)), slog.String("error", err.Error()))
	}
}
