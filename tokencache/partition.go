package tokencache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// PartitionName returns the name under which a [Store] keeps the record of
// a partition: "app|<authority>|<tenant>|<client>" for app-only tokens and
// "user|<authority>|<tenant>|<client>|<account>" for a signed-in account.
// The cache appends "|<fingerprint>" of the credential to app-only names
// (see [App.Partition] and [Credential.Fingerprint]). Names hold no secret. Stores that need a restricted alphabet (file names)
// should hash or escape them.
func PartitionName(authority, tenant, clientID, account string) string {
	authority = strings.ToLower(strings.TrimRight(authority, "/"))
	if account == "" {
		return "app|" + authority + "|" + strings.ToLower(tenant) + "|" + clientID
	}
	return "user|" + authority + "|" + strings.ToLower(tenant) + "|" + clientID + "|" + strings.ToLower(account)
}

// partitionData is the JSON inside Record.Data.
type partitionData struct {
	V int `json:"v"`
	// MSAL is MSAL's own cache of this one account (delegated only): the
	// refresh token, account and ID token. Access tokens are removed
	// before it is handed back to MSAL, so MSAL always redeems.
	MSAL json.RawMessage `json:"msal,omitempty"`
	// Home is the MSAL home account id of the signed-in account.
	Home string `json:"home,omitempty"`
	// SignedIn is when the account last signed in interactively (or
	// imported a refresh token); Redeemed is when its refresh token was
	// last redeemed. Records written before these existed lack them.
	SignedIn time.Time `json:"signed_in,omitzero"`
	Redeemed time.Time `json:"redeemed,omitzero"`
	// Tokens are the access tokens by scope set.
	Tokens map[string]storedToken `json:"tokens,omitempty"`
}

type storedToken struct {
	AccessToken string    `json:"at"`
	TokenType   string    `json:"type,omitempty"`
	Expiry      time.Time `json:"exp"`
	RefreshOn   time.Time `json:"refresh_on,omitzero"`
}

// storeTimeout bounds one store load or save: a hung shared store must not
// hold up token acquisition.
const storeTimeout = 2 * time.Second

// refreshTokenLife is how long a stored delegated record is kept without
// use: Entra refresh tokens live 90 days (sliding).
const refreshTokenLife = 90 * 24 * time.Hour

// partition serializes all token work of one tenant (app-only) or account
// (delegated) inside this process and, with a [Locker] store, across
// processes. It keeps the last record it loaded or saved, so a store
// outage does not lose the refresh token.
type partition struct {
	c    *Cache
	name string
	sem  chan struct{} // one holder at a time; guards gen, data and the MSAL client's cache hook

	gen  uint64
	data partitionData
	// dirty: data holds changes (a rotated refresh token) that the store
	// has not accepted yet, because it failed. gen is then the generation
	// those changes were based on.
	dirty bool
	// loadErr is the error of the last load (nil when it succeeded).
	loadErr error
}

func newPartition(c *Cache, name string) *partition {
	return &partition{c: c, name: name, sem: make(chan struct{}, 1)}
}

// lock takes the partition in this process and, when the store can, across
// processes. A store lock that cannot be taken for a reason other than ctx
// is reported and skipped: tokens keep flowing while a shared store is down.
func (p *partition) lock(ctx context.Context) (unlock func(), err error) {
	release, err := p.lockLocal(ctx)
	if err != nil {
		return nil, err
	}
	u, err := p.lockStore(ctx)
	if err != nil {
		release()
		return nil, err
	}
	return func() { u(); release() }, nil
}

// lockLocal takes the partition in this process only.
func (p *partition) lockLocal(ctx context.Context) (unlock func(), err error) {
	select {
	case p.sem <- struct{}{}:
		return func() { <-p.sem }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// lockStore takes the store's cross-process lock, if it has one.
func (p *partition) lockStore(ctx context.Context) (unlock func(), err error) {
	if p.c.locker == nil {
		return func() {}, nil
	}
	// Wait for a peer's flight at most half of what is left, so a hung
	// shared store still leaves time to fetch without it.
	wait := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)/2)
	}
	lctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	u, err := p.c.locker.Lock(lctx, p.name)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		p.c.storeError(ctx, "lock", p.name, err)
		return func() {}, nil
	}
	return u, nil
}

// load refreshes p.data from the store. Absent and corrupt records leave
// an empty partition (corrupt ones are reported); an unreachable store
// leaves the last known data.
// It returns the store's error, which most callers only count: the cache
// goes on from memory.
func (p *partition) load(ctx context.Context) (err error) {
	defer func() { p.loadErr = err }()
	if p.c.private {
		return nil // p.data is the only copy
	}
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	rec, err := p.c.store.Load(sctx, p.name)
	if err != nil {
		p.c.storeError(ctx, "load", p.name, err)
		if errors.Is(err, ErrCorrupt) {
			p.gen, p.data = 0, partitionData{}
		}
		return err
	}
	if p.dirty && rec.Generation == p.gen {
		// The store is back but still holds what our unsaved changes
		// were based on: keep ours, the next save writes them through.
		return nil
	}
	p.dirty = false
	if rec.Generation == 0 {
		p.gen, p.data = 0, partitionData{}
		return nil
	}
	var d partitionData
	if err := json.Unmarshal(rec.Data, &d); err != nil {
		err = fmt.Errorf("%w: %s", ErrCorrupt, jsonErrText(err))
		p.c.storeError(ctx, "decode", p.name, err)
		p.gen, p.data = rec.Generation, partitionData{}
		return err
	}
	p.gen, p.data = rec.Generation, d
	return nil
}

// save writes p.data as the next generation. On a conflict (a peer without
// the lock wrote meanwhile) it reloads, re-applies merge and tries again.
// It returns the store's error; the data stays in memory either way.
func (p *partition) save(ctx context.Context, merge func(d *partitionData)) error {
	now := time.Now()
	if p.c.private {
		// No store: keep the record in the partition only, without a
		// second (encoded) copy of every token.
		merge(&p.data)
		p.data.V = 1
		if p.data.MSAL == nil {
			// App-only: the cache entry holds the token; nobody else
			// reads this record.
			p.data.Tokens = nil
		}
		for k, t := range p.data.Tokens {
			if !now.Before(t.Expiry) {
				delete(p.data.Tokens, k)
			}
		}
		p.gen++
		return nil
	}
	for attempt := 0; attempt < 4; attempt++ {
		merge(&p.data)
		p.data.V = 1
		for k, t := range p.data.Tokens {
			if !now.Before(t.Expiry) {
				delete(p.data.Tokens, k)
			}
		}
		b, err := json.Marshal(&p.data)
		if err != nil {
			p.c.storeError(ctx, "encode", p.name, err)
			return err
		}
		if p.gen == math.MaxUint64 {
			p.gen = 0 // start over rather than wrap to 0, which reads as no record
		}
		rec := Record{Generation: p.gen + 1, Data: b, Expires: p.data.expires(now)}
		sctx, cancel := context.WithTimeout(ctx, storeTimeout)
		err = p.c.store.Save(sctx, p.name, rec)
		cancel()
		if err == nil {
			p.gen++
			p.dirty = false
			return nil
		}
		if !errors.Is(err, ErrConflict) {
			p.c.storeError(ctx, "save", p.name, err)
			p.dirty = true
			return err
		}
		p.load(ctx)
	}
	err := fmt.Errorf("%w: tokencache: gave up after repeated generation conflicts", ErrConflict)
	p.c.storeError(ctx, "save", p.name, err)
	return err
}

func (d *partitionData) expires(now time.Time) time.Time {
	if d.MSAL != nil {
		return now.Add(refreshTokenLife)
	}
	var last time.Time
	for _, t := range d.Tokens {
		if t.Expiry.After(last) {
			last = t.Expiry
		}
	}
	return last
}

// fetchOpt returns a token for the scope set key: from the store when a peer
// stored a fresh one that is not stale, otherwise from redeem, which may
// change p.data (a rotated refresh token). The result is saved.
//
// With fresh set, a token in the store is never used (a claims challenge
// needs a new token).
func (p *partition) fetchOpt(ctx context.Context, scopeKey string, stale *oauth2.Token, fresh bool,
	redeem func(ctx context.Context) (*oauth2.Token, time.Time, error)) (*oauth2.Token, time.Time, error) {
	unlock, err := p.lock(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer unlock()
	p.load(ctx)
	if t, ok := p.data.Tokens[scopeKey]; ok && !fresh && (stale == nil || t.AccessToken != stale.AccessToken) {
		tok := &oauth2.Token{AccessToken: t.AccessToken, TokenType: t.TokenType, Expiry: t.Expiry}
		now := time.Now()
		if st := p.c.newState(tok, t.RefreshOn, now); now.Before(st.refreshAt) {
			p.c.stats.storeHits.Add(1)
			return tok, t.RefreshOn, nil
		}
	}
	tok, refreshOn, err := redeem(ctx)
	var ie *InteractionRequiredError
	if err != nil && errors.As(err, &ie) && p.data.MSAL != nil {
		// A peer that did not take the lock (or could not: a shared store
		// was down) may have redeemed the same refresh token and stored
		// the rotated one. Look once more before asking for a sign-in.
		gen, before := p.gen, string(p.data.MSAL)
		for i := 0; i < 5 && p.gen == gen; i++ {
			if i > 0 && !sleepCtx(ctx, 100*time.Millisecond) {
				break
			}
			p.load(ctx)
		}
		if p.gen != gen && p.data.MSAL != nil && string(p.data.MSAL) != before {
			if t, ok := p.data.Tokens[scopeKey]; ok && (stale == nil || t.AccessToken != stale.AccessToken) && time.Now().Before(t.Expiry) {
				p.c.stats.storeHits.Add(1)
				return tokenOf(t), t.RefreshOn, nil
			}
			tok, refreshOn, err = redeem(ctx)
		}
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	msal := p.data.MSAL
	home := p.data.Home
	signedIn := p.data.SignedIn
	redeemed := p.c.now()
	p.save(ctx, func(d *partitionData) {
		if msal != nil {
			d.MSAL, d.Home = msal, home
			d.Redeemed = redeemed
			if d.SignedIn.IsZero() {
				d.SignedIn = signedIn
			}
		}
		if d.Tokens == nil {
			d.Tokens = make(map[string]storedToken)
		}
		d.Tokens[scopeKey] = storedToken{AccessToken: tok.AccessToken, TokenType: tok.TokenType, Expiry: tok.Expiry, RefreshOn: refreshOn}
	})
	return tok, refreshOn, nil
}

func (c *Cache) storeError(ctx context.Context, op, partition string, err error) {
	c.stats.storeErrors.Add(1)
	if c.log != nil {
		c.log.LogAttrs(ctx, slog.LevelWarn, "tokencache: store "+op+" failed; carrying on from memory",
			slog.String("partition", partition), slog.String("error", err.Error()))
	}
}

// jsonErrText describes a JSON decoding error without quoting the input.
func jsonErrText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("unexpected JSON %s for field %q", te.Value, te.Field)
	}
	if errors.Is(err, errors.ErrUnsupported) {
		return "unsupported JSON"
	}
	return "unreadable JSON"
}

func tokenOf(t storedToken) *oauth2.Token {
	return &oauth2.Token{AccessToken: t.AccessToken, TokenType: t.TokenType, Expiry: t.Expiry}
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
