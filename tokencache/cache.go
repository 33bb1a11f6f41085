package tokencache

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modernauth/mailauth"
	"golang.org/x/oauth2"
)

// Options configures a [Cache]. A nil *Options means all defaults.
type Options struct {
	// Store keeps refresh tokens and access tokens per partition. Nil
	// means the cache keeps them in its own memory only (nothing survives
	// the process), without a second, encoded copy of each token.
	Store Store

	// HTTPClient carries every request to the identity provider. Nil
	// means http.DefaultClient.
	HTTPClient *http.Client

	// Logger receives one line per flight failure, background refresh
	// failure and store error. Nil means silent. Log lines never contain
	// a token or a secret.
	Logger *slog.Logger

	// RefreshMargin is how long before expiry a token enters its refresh
	// window, unless the server's refresh_in or the half-life rule (for
	// tokens that live 2 h or more) starts it earlier. Zero means 10
	// minutes: Exchange Online's high-volume SMTP endpoint rejects tokens
	// with less than 600 s left. A token that lives less than the margin
	// is refreshed at half its life. Tokens stop being served 30 s (or an
	// eighth of their life, if shorter) before they expire.
	RefreshMargin time.Duration

	// FetchTimeout bounds one flight (all retries included); a single
	// request gets at most half of it, so a request that hangs leaves
	// time for a retry. Zero means 60 seconds. Callers stop waiting when
	// their own context ends; the flight goes on for the others.
	FetchTimeout time.Duration

	// RefreshBackoff is the first pause after a failed background refresh;
	// it doubles after each further failure up to 5 minutes. Zero means
	// 30 seconds.
	RefreshBackoff time.Duration

	// MaxRetries is how many times a flight retries a transient failure.
	// Zero means 4; a negative value disables retries.
	MaxRetries int

	// Now is the clock used to record and judge sign-in ages (see
	// [User.Health]). Nil means time.Now. Token expiry and refresh
	// windows always use the real clock.
	Now func() time.Time

	// ClientCapabilities are declared to the identity provider on every
	// token request of the cache's app-only and delegated clients. Set
	// []string{"cp1"} to say this program can handle claims challenges
	// (continuous access evaluation): Entra then issues longer-lived
	// tokens that a resource may revoke with a challenge, which the
	// protocol packages answer through [Source.TokenWithClaims].
	ClientCapabilities []string
}

func (o *Options) now() func() time.Time {
	if o == nil || o.Now == nil {
		return time.Now
	}
	return o.Now
}

func (o *Options) capabilities() []string {
	if o == nil {
		return nil
	}
	return append([]string(nil), o.ClientCapabilities...)
}

func (o *Options) store() Store {
	if o == nil || o.Store == nil {
		return NewMemoryStore()
	}
	return o.Store
}

func (o *Options) httpClient() *http.Client {
	if o == nil || o.HTTPClient == nil {
		return http.DefaultClient
	}
	return o.HTTPClient
}

func (o *Options) logger() *slog.Logger {
	if o == nil {
		return nil
	}
	return o.Logger
}

func (o *Options) refreshMargin() time.Duration {
	if o == nil || o.RefreshMargin <= 0 {
		return 10 * time.Minute
	}
	return o.RefreshMargin
}

func (o *Options) fetchTimeout() time.Duration {
	if o == nil || o.FetchTimeout <= 0 {
		return time.Minute
	}
	return o.FetchTimeout
}

func (o *Options) refreshBackoff() time.Duration {
	if o == nil || o.RefreshBackoff <= 0 {
		return 30 * time.Second
	}
	return o.RefreshBackoff
}

func (o *Options) maxRetries() int {
	switch {
	case o == nil || o.MaxRetries == 0:
		return 4
	case o.MaxRetries < 0:
		return 0
	}
	return o.MaxRetries
}

// Cache holds tokens for any number of keys. It is safe for concurrent use;
// create one per process (or per tenant of a multi-tenant service) and share
// it. A Cache has no background goroutine of its own: the only goroutines
// it starts are flights, each bounded by [Options.FetchTimeout].
type Cache struct {
	store   Store
	locker  Locker // store as a Locker, or nil
	http    *http.Client
	log     *slog.Logger
	margin  time.Duration
	timeout time.Duration
	backoff time.Duration
	retries int
	private bool // no Store was given: partitions hold the only copy
	now     func() time.Time
	caps    []string

	mu         sync.Mutex // guards entries, partitions, lastSweep, throttles
	entries    map[string]*entry
	partitions map[string]any
	lastSweep  time.Time
	throttles  map[string]*throttle // by authority, for app-only keys

	stats counters

	clients sharedClients // MSAL clients shared by app-only tenants
}

// New returns a Cache configured by opts (nil means defaults). It does no
// I/O.
func New(opts *Options) *Cache {
	c := &Cache{
		store:      opts.store(),
		http:       opts.httpClient(),
		log:        opts.logger(),
		margin:     opts.refreshMargin(),
		timeout:    opts.fetchTimeout(),
		backoff:    opts.refreshBackoff(),
		retries:    opts.maxRetries(),
		private:    opts == nil || opts.Store == nil,
		now:        opts.now(),
		caps:       opts.capabilities(),
		entries:    make(map[string]*entry),
		partitions: make(map[string]any),
	}
	c.locker, _ = c.store.(Locker)
	return c
}

// Stats counts what a [Cache] did since it was created.
type Stats struct {
	// Hits counts tokens served from memory. Inside the refresh window
	// each hit is counted; on the lock-free path about one hit in 16 is
	// counted, as 16, so that counting costs no atomic operation per hit.
	// The estimate's relative error is about 4/sqrt(Hits): 4 % at 10,000
	// hits, 0.4 % at a million.
	Hits uint64

	Misses              uint64 // callers that found no usable token and waited for a flight
	Flights             uint64 // flights started (each one fetches once, with retries)
	BackgroundRefreshes uint64 // flights started early, while a valid token was served
	Fetches             uint64 // requests to the identity provider or wrapped source (retries included)
	StoreHits           uint64 // flights answered by a token another process had just stored
	Failures            uint64 // flights that ended in an error
	StoreErrors         uint64 // store loads and saves that failed (corrupt record, I/O error)
	Evictions           uint64 // expired entries removed
	// Throttled counts callers answered without a request because the
	// identity provider asked for a pause (HTTP 429 or 503 with
	// Retry-After) that has not passed: for the key, or for the key's
	// tenant authority (app-only). They got the last error, or the token
	// while it is valid.
	Throttled uint64
	// IdleSignIns counts checks that found a refresh token unused for 80
	// days or more: Entra ends it at 90 days without use.
	IdleSignIns uint64
	// ClaimsRequests counts token requests made with the claims of a
	// challenge ([Source.TokenWithClaims]).
	ClaimsRequests uint64
}

type counters struct {
	hits        stripedCounter
	misses      atomic.Uint64
	flights     atomic.Uint64
	background  atomic.Uint64
	fetches     atomic.Uint64
	storeHits   atomic.Uint64
	failures    atomic.Uint64
	storeErrors atomic.Uint64
	evictions   atomic.Uint64
	throttled   atomic.Uint64
	idle        atomic.Uint64
	claims      atomic.Uint64
}

// Stats returns a snapshot of the counters. It is cheap and safe to call
// from any goroutine.
func (c *Cache) Stats() Stats {
	return Stats{
		Hits:                c.stats.hits.load(),
		Misses:              c.stats.misses.Load(),
		Flights:             c.stats.flights.Load(),
		BackgroundRefreshes: c.stats.background.Load(),
		Fetches:             c.stats.fetches.Load(),
		StoreHits:           c.stats.storeHits.Load(),
		Failures:            c.stats.failures.Load(),
		StoreErrors:         c.stats.storeErrors.Load(),
		Evictions:           c.stats.evictions.Load(),
		Throttled:           c.stats.throttled.Load(),
		IdleSignIns:         c.stats.idle.Load(),
		ClaimsRequests:      c.stats.claims.Load(),
	}
}

// Len reports how many keys the cache currently holds.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// fetcher gets a new token for one key. stale is the token being replaced
// (nil on a first fetch): a fetcher that finds a token in a shared store
// must not return it again. refreshOn, when not zero, is the server's hint
// of when to refresh.
type fetcher interface {
	fetch(ctx context.Context, stale *oauth2.Token) (tok *oauth2.Token, refreshOn time.Time, err error)
}

// source returns the Source for key, creating its entry with newFetcher on
// first use.
func (c *Cache) source(key string, newFetcher func() fetcher) *Source {
	s := &Source{c: c, key: key, newFetcher: newFetcher}
	s.e.Store(c.entry(key, newFetcher))
	return s
}

func (c *Cache) entry(key string, newFetcher func() fetcher) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[key]; e != nil {
		return e
	}
	e := &entry{c: c, key: key, f: newFetcher()}
	if sf, ok := e.f.(scopedFetcher); ok {
		if c.throttles == nil {
			c.throttles = map[string]*throttle{}
		}
		if e.scope = c.throttles[sf.scope]; e.scope == nil {
			e.scope = &throttle{}
			c.throttles[sf.scope] = e.scope
		}
	}
	c.entries[key] = e
	return e
}

// scopedFetcher is a fetcher whose identity provider throttles by scope (the
// tenant authority of app-only tokens): a pause it asks for one key holds for
// every key of the scope.
type scopedFetcher struct {
	fetcher
	scope string
}

// sweep evicts entries whose token has expired and that have no flight.
// It runs at most once a minute, after a flight, off the hit path.
func (c *Cache) sweep(now time.Time) {
	c.mu.Lock()
	if now.Sub(c.lastSweep) < time.Minute {
		c.mu.Unlock()
		return
	}
	c.lastSweep = now
	var dead []*entry
	for k, e := range c.entries {
		st := e.cur.Load()
		// An entry whose token was invalidated stays: it remembers which
		// token not to take back from the store. A throttled one stays too.
		if (st == nil || !now.Before(st.expireAt)) && !e.flying.Load() && !e.hasDropped() && e.throttled(now) == nil {
			delete(c.entries, k)
			dead = append(dead, e)
		}
	}
	c.mu.Unlock()
	for _, e := range dead {
		e.evicted.Store(true)
		e.cur.Store(nil)
		c.stats.evictions.Add(1)
	}
}

// partition returns the value stored under key, creating it with mk.
func (c *Cache) partition(key string, mk func() (any, error)) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.partitions[key]; ok {
		return p, nil
	}
	p, err := mk()
	if err != nil {
		return nil, err
	}
	c.partitions[key] = p
	return p, nil
}

// Wrap caches any [oauth2.TokenSource] under name (a key of the caller's
// choosing, such as "gmail:bob@example.com"). Wrapping the same name twice
// returns Sources that share one entry; the first src wins. src.Token is
// called only on a miss or a refresh, from one flight at a time, with
// transient errors ([*oauth2.RetrieveError] with status 5xx or 429,
// timeouts) retried. A refresh_in value in the token's extra fields is
// honoured. Tokens from a wrapped source are kept in memory only.
//
// If src has a TokenContext(ctx) method it is used, so the flight's context
// reaches the fetch. Wrap does no I/O.
func (c *Cache) Wrap(name string, src oauth2.TokenSource) *Source {
	return c.source("wrap\x00"+name, func() fetcher { return wrapped{src} })
}

type wrapped struct{ src oauth2.TokenSource }

func (w wrapped) fetch(ctx context.Context, _ *oauth2.Token) (*oauth2.Token, time.Time, error) {
	var tok *oauth2.Token
	var err error
	if cs, ok := w.src.(mailauth.ContextTokenSource); ok {
		tok, err = cs.TokenContext(ctx)
	} else {
		tok, err = w.src.Token()
	}
	if err != nil {
		return nil, time.Time{}, classifyOAuth2(err)
	}
	if tok == nil || tok.AccessToken == "" {
		return nil, time.Time{}, &IdPError{Code: "invalid_response", Description: "token source returned no access token", Transient: false}
	}
	var refreshOn time.Time
	if d := refreshInExtra(tok); d > 0 {
		refreshOn = time.Now().Add(d)
	}
	return tok, refreshOn, nil
}

// key builds the cache key of a token: cloud, authority, tenant, client,
// account (or "app") and the sorted scope set.
func key(kind, authority, tenant, client, account string, scopes []string) string {
	s := append([]string(nil), scopes...)
	sort.Strings(s)
	// drop duplicates
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return strings.Join([]string{kind, strings.ToLower(authority), strings.ToLower(tenant), client, strings.ToLower(account), strings.Join(out, " ")}, "\x00")
}
