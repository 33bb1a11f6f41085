// Package redisstore is a [tokencache.Store] on Redis, so that several
// replicas of a service share tokens and redeem each refresh token once.
//
// Each partition is one Redis hash under a caller-chosen prefix, holding the
// record's generation, its (opaque, secret) data and its expiry; the key's
// time-to-live follows [tokencache.Record.Expires]. Save is a compare-and-set
// done by a Lua script, so a replica that lost a race gets
// [tokencache.ErrConflict] instead of overwriting a newer rotated refresh
// token.
//
// The store is also a [tokencache.Locker]: Lock takes a per-partition Redis
// lock (SET NX PX with a random value), renews it while it is held and
// releases it with a compare-and-delete script, so N replicas that miss the
// same key at once make one request to the identity provider. Waiters poll
// for the holder's release message (Redis pub/sub) and retry on a jittered
// back-off timer (2 ms doubling to [Options.MaxLockWait]) until the lock is
// theirs or their context ends; inside one process the cache already lets
// only one flight per partition wait. A lock whose holder crashed
// expires after [Options.LockTTL].
//
// # Running several replicas
//
// Give every replica the same store: the same Redis (any go-redis client:
// Sentinel, Cluster, TLS and ACLs work as configured there), the same
// [Options.Prefix] and, through [tokencache.NewEncryptedStore], the same
// 32-byte key, so nothing is readable at rest in Redis. A delegated account
// needs one sign-in (or [tokencache.User.ImportRefreshToken]) on any replica;
// the others find its refresh token in Redis and share each rotation.
//
// When Redis is down or slow, Load, Save, Delete and Lock fail within their
// context with an [*Error]; the cache then keeps serving tokens from memory,
// fetches without the cross-process lock, counts the store errors in its
// Stats, and writes through again once Redis answers.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/modernauth/mailauth/tokencache"
)

// Defaults used when the matching [Options] field is zero.
const (
	DefaultPrefix      = "mailauth:tokencache:"
	DefaultTTL         = 90 * 24 * time.Hour
	DefaultLockTTL     = 15 * time.Second
	DefaultMaxLockWait = 50 * time.Millisecond
)

// Options tune a [Store]. The zero value is ready to use.
type Options struct {
	// Prefix starts every key the store writes: records are Prefix+"r:"+partition
	// and locks Prefix+"l:"+partition; releases are published on
	// Prefix+"u:"+partition. Empty means DefaultPrefix.
	Prefix string

	// TTL is the time-to-live of a record whose Expires is zero. Zero means
	// DefaultTTL (90 days, the default refresh-token lifetime of Entra ID).
	TTL time.Duration

	// LockTTL is how long a lock lives without renewal; the holder renews it
	// every LockTTL/3, so only a crashed holder's lock runs out. Zero means
	// DefaultLockTTL.
	LockTTL time.Duration

	// MaxLockWait caps the pause between two attempts to take a busy lock;
	// pauses start at 2 ms and double. Zero means DefaultMaxLockWait.
	MaxLockWait time.Duration

	// Logger, when set, receives a warning when a held lock cannot be
	// renewed or released. It never receives record data.
	Logger *slog.Logger
}

// Store is a [tokencache.Store] and [tokencache.Locker] on Redis. It is safe
// for concurrent use.
type Store struct {
	rdb     redis.UniversalClient
	prefix  string
	ttl     time.Duration
	lockTTL time.Duration
	maxWait time.Duration
	log     *slog.Logger
}

var (
	_ tokencache.Store  = (*Store)(nil)
	_ tokencache.Locker = (*Store)(nil)
)

// New returns a store that keeps records in rdb. opts may be nil. The store
// does not close rdb.
func New(rdb redis.UniversalClient, opts *Options) *Store {
	var o Options
	if opts != nil {
		o = *opts
	}
	s := &Store{rdb: rdb, prefix: o.Prefix, ttl: o.TTL, lockTTL: o.LockTTL, maxWait: o.MaxLockWait, log: o.Logger}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.ttl <= 0 {
		s.ttl = DefaultTTL
	}
	if s.lockTTL <= 0 {
		s.lockTTL = DefaultLockTTL
	}
	if s.maxWait <= 0 {
		s.maxWait = DefaultMaxLockWait
	}
	return s
}

// String describes the store without any record.
func (s *Store) String() string { return "redisstore.Store(prefix " + strconv.Quote(s.prefix) + ")" }

// GoString is like String.
func (s *Store) GoString() string { return s.String() }

// Error is returned when Redis fails or answers something unexpected. It
// names the operation and the partition, never the record data.
type Error struct {
	Op        string // "load", "save", "delete", "lock", "unlock"
	Partition string
	Err       error
}

func (e *Error) Error() string {
	return fmt.Sprintf("redisstore: %s %q: %v", e.Op, e.Partition, e.Err)
}

// Unwrap returns Err, so errors.Is matches tokencache.ErrConflict,
// tokencache.ErrCorrupt, context errors and go-redis errors.
func (e *Error) Unwrap() error { return e.Err }

func (s *Store) recordKey(partition string) string { return s.prefix + "r:" + partition }
func (s *Store) lockKey(partition string) string   { return s.prefix + "l:" + partition }

// Load implements [tokencache.Store]. A hash that lacks fields or holds a
// generation that is not a number, or a key of another type, yields an
// error matching tokencache.ErrCorrupt.
func (s *Store) Load(ctx context.Context, partition string) (tokencache.Record, error) {
	vals, err := s.rdb.HMGet(ctx, s.recordKey(partition), "g", "d", "e").Result()
	if err != nil {
		if isWrongType(err) {
			return tokencache.Record{}, &Error{"load", partition, fmt.Errorf("%w: the key is not a hash", tokencache.ErrCorrupt)}
		}
		return tokencache.Record{}, &Error{"load", partition, err}
	}
	rec, err := parseRecord(vals)
	if err != nil {
		return tokencache.Record{}, &Error{"load", partition, err}
	}
	return rec, nil
}

// parseRecord reads the HMGET g d e answer. All three absent is an absent
// record; anything else that is not a full, well-formed record matches
// tokencache.ErrCorrupt.
func parseRecord(vals []any) (tokencache.Record, error) {
	if len(vals) != 3 {
		return tokencache.Record{}, fmt.Errorf("%w: unexpected answer length %d", tokencache.ErrCorrupt, len(vals))
	}
	if vals[0] == nil && vals[1] == nil && vals[2] == nil {
		return tokencache.Record{}, nil
	}
	g, _ := vals[0].(string)
	d, okD := vals[1].(string)
	e, _ := vals[2].(string)
	gen, errG := strconv.ParseUint(g, 10, 64)
	exp, errE := strconv.ParseInt(e, 10, 64)
	if errG != nil || gen == 0 || !okD || errE != nil || exp < 0 {
		return tokencache.Record{}, fmt.Errorf("%w: the hash lacks a field or holds a malformed one", tokencache.ErrCorrupt)
	}
	rec := tokencache.Record{Generation: gen, Data: []byte(d)}
	if exp > 0 {
		rec.Expires = time.UnixMilli(exp)
	}
	return rec, nil
}

// saveScript stores the record if the stored generation is ARGV[1]-1.
// KEYS[1] record key; ARGV: generation, data, expires (unix ms, 0 unknown),
// ttl (ms). A key that is not a hash or has a malformed generation counts as
// generation 0. Returns {1, gen} on success, {0, stored} on conflict.
var saveScript = redis.NewScript(`
local cur = 0
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'hash' then
  local g = redis.call('HGET', KEYS[1], 'g')
  if g then cur = tonumber(g) or 0 end
end
if cur + 1 ~= tonumber(ARGV[1]) then
  return {0, tostring(cur)}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'g', ARGV[1], 'd', ARGV[2], 'e', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, ARGV[1]}
`)

// Save implements [tokencache.Store]: a compare-and-set on the generation.
// The key lives until rec.Expires (at least one second), or for
// [Options.TTL] when rec.Expires is zero.
func (s *Store) Save(ctx context.Context, partition string, rec tokencache.Record) error {
	if rec.Generation == 0 {
		return &Error{"save", partition, errors.New("generation must be at least 1")}
	}
	ttl := s.ttl
	var exp int64
	if !rec.Expires.IsZero() {
		exp = rec.Expires.UnixMilli()
		ttl = max(time.Until(rec.Expires), time.Second)
	}
	res, err := saveScript.Run(ctx, s.rdb, []string{s.recordKey(partition)},
		strconv.FormatUint(rec.Generation, 10), rec.Data, strconv.FormatInt(exp, 10), ttl.Milliseconds()).Slice()
	if err != nil {
		return &Error{"save", partition, err}
	}
	if len(res) != 2 {
		return &Error{"save", partition, errors.New("unexpected answer from the save script")}
	}
	if ok, _ := res[0].(int64); ok != 1 {
		return &Error{"save", partition, fmt.Errorf("%w: stored %v, saving %d", tokencache.ErrConflict, res[1], rec.Generation)}
	}
	return nil
}

// Delete implements [tokencache.Store].
func (s *Store) Delete(ctx context.Context, partition string) error {
	if err := s.rdb.Del(ctx, s.recordKey(partition)).Err(); err != nil {
		return &Error{"delete", partition, err}
	}
	return nil
}

// unlockScript deletes the lock only if it still holds our value, and then
// tells waiters on ARGV[2] that it is free.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], '1')
  return 1
end
return 0
`)

// renewScript extends the lock only if it still holds our value.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// Lock implements [tokencache.Locker]. It blocks until the partition's lock
// is taken or ctx ends, then renews it every LockTTL/3 until unlock is
// called. unlock releases the lock only if it is still ours and returns
// within a second even when Redis is unreachable.
//
// A waiter subscribes to the partition's release channel, so it retries as
// soon as the holder unlocks; it also retries on a timer (2 ms doubling to
// MaxLockWait), which covers a holder that crashed and a lost message.
func (s *Store) Lock(ctx context.Context, partition string) (unlock func(), err error) {
	key := s.lockKey(partition)
	var b [16]byte
	_, _ = rand.Read(b[:])
	val := hex.EncodeToString(b[:])
	ok, err := s.rdb.SetNX(ctx, key, val, s.lockTTL).Result()
	if err != nil {
		return nil, &Error{"lock", partition, err}
	}
	if !ok {
		if err := s.waitLock(ctx, partition, key, val); err != nil {
			return nil, err
		}
	}

	stop := make(chan struct{})
	done := make(chan struct{})
	go s.renew(key, val, partition, stop, done)
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-done
			uctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := unlockScript.Run(uctx, s.rdb, []string{key}, val, s.releaseChannel(partition)).Err(); err != nil && s.log != nil {
				s.log.Warn("redisstore: releasing a lock failed; it expires on its own", "partition", partition, "err", err)
			}
		})
	}, nil
}

func (s *Store) releaseChannel(partition string) string { return s.prefix + "u:" + partition }

// waitLock retries SET NX until it succeeds or ctx ends, woken by release
// messages and by a back-off timer.
func (s *Store) waitLock(ctx context.Context, partition, key, val string) error {
	var wake <-chan *redis.Message
	ps := s.rdb.Subscribe(ctx, s.releaseChannel(partition))
	defer ps.Close()
	// Only a confirmed subscription can be relied on; without one, poll.
	if _, err := ps.Receive(ctx); err == nil {
		wake = ps.Channel()
	}
	wait := 2 * time.Millisecond
	for {
		// Retry after subscribing, so a release in between is not missed.
		ok, err := s.rdb.SetNX(ctx, key, val, s.lockTTL).Result()
		if err != nil {
			return &Error{"lock", partition, err}
		}
		if ok {
			return nil
		}
		t := time.NewTimer(jitter(wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return &Error{"lock", partition, ctx.Err()}
		case <-wake:
		case <-t.C:
		}
		t.Stop()
		wait = min(wait*2, s.maxWait)
	}
}

func (s *Store) renew(key, val, partition string, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(s.lockTTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.lockTTL/3)
		n, err := renewScript.Run(ctx, s.rdb, []string{key}, val, s.lockTTL.Milliseconds()).Int64()
		cancel()
		if (err != nil || n == 0) && s.log != nil {
			s.log.Warn("redisstore: renewing a held lock failed", "partition", partition, "lost", err == nil, "err", err)
		}
	}
}

// jitter returns a duration in [d/2, d).
func jitter(d time.Duration) time.Duration {
	if d < 2 {
		return d
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	n := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24
	return d/2 + time.Duration(n%uint64(d/2))
}

func isWrongType(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && len(re.Error()) >= 9 && re.Error()[:9] == "WRONGTYPE"
}
