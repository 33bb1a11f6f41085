package tokencache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// A Store keeps one [Record] per partition. A partition is one tenant's
// app-only tokens for one client, or one signed-in account's tokens for one
// client. The partition name is built by the cache (see [PartitionName]); it
// names a tenant, a client and an account and holds no secret, so a store
// may use it in file names or keys after escaping it.
//
// The cache calls a Store only when it acquires a token, signs in, signs out
// or starts up; never on a cache hit.
//
// Implementations must be safe for concurrent use, must honour ctx on every
// call and must treat [Record.Data] as secret: never log it or put it in an
// error.
//
// # Generations
//
// Every record carries a generation number. Save is a compare-and-set: it
// stores rec only if the generation currently stored is rec.Generation-1
// (0 when the partition is absent) and otherwise returns an error that
// matches [ErrConflict] with [errors.Is]. A writer that loaded generation 4,
// redeemed the refresh token and saves generation 5 therefore never
// overwrites generation 5 written by a faster peer with an older rotated
// refresh token; the cache reloads, merges and retries instead.
//
// # Cross-process locking
//
// A Store that is shared between processes should also implement [Locker].
// The cache takes the partition lock around "reload the record, call the
// identity provider if the stored token is not good enough, save", so N
// processes that miss at once redeem a refresh token once: the first one
// redeems and saves, the others find its token on reload.
type Store interface {
	// Load returns the partition's record. A partition that was never
	// saved, or was deleted, yields a zero Record (Generation 0) and a nil
	// error. A record that exists but cannot be read (truncated, corrupt,
	// undecryptable) yields an error matching [ErrCorrupt]; the cache
	// reports it and carries on as if the record were absent.
	Load(ctx context.Context, partition string) (Record, error)

	// Save stores rec if the stored generation is rec.Generation-1, and
	// returns an error matching [ErrConflict] otherwise. rec.Generation is
	// always at least 1. A corrupt stored record counts as generation 0.
	Save(ctx context.Context, partition string, rec Record) error

	// Delete removes the partition's record. Deleting an absent record is
	// not an error.
	Delete(ctx context.Context, partition string) error
}

// A Locker is a [Store] that can serialize work on one partition across
// processes (a lock file, a Redis SET NX PX lock, ...).
//
// Lock blocks until the partition's lock is held or ctx ends. The returned
// unlock function releases it; it is called exactly once and must not
// block for long. A lock that is abandoned (a process crashed while
// holding it) must expire on its own. Locks are advisory and are used only
// by the cache's miss path, so a slow lock never delays a cache hit.
type Locker interface {
	Lock(ctx context.Context, partition string) (unlock func(), err error)
}

// Record is what a [Store] keeps for one partition.
//
// Its String, GoString and Format methods never print Data.
type Record struct {
	// Generation is 0 for an absent record and increases by one with
	// every successful Save.
	Generation uint64

	// Data is the cache's encoding of the partition: refresh token,
	// account and access tokens. It is secret. Stores keep it as opaque
	// bytes; [EncryptedStore] encrypts it.
	Data []byte

	// Expires is when Data becomes useless (the last access token and the
	// refresh token have expired), or zero when unknown. A store may use
	// it as a time-to-live.
	Expires time.Time
}

// String describes the record without its data.
func (r Record) String() string {
	exp := "unknown"
	if !r.Expires.IsZero() {
		exp = r.Expires.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("tokencache.Record{Generation: %d, Data: [%d bytes redacted], Expires: %s}", r.Generation, len(r.Data), exp)
}

// GoString is like String, so %#v redacts the data too.
func (r Record) GoString() string { return r.String() }

// Format implements [fmt.Formatter] so every verb prints the redacted form.
func (r Record) Format(f fmt.State, _ rune) { fmt.Fprint(f, r.String()) }

var (
	// ErrConflict is matched (errors.Is) by the error of a [Store.Save]
	// that lost a compare-and-set race against another writer.
	ErrConflict = errors.New("tokencache: record changed since it was loaded (generation conflict)")

	// ErrCorrupt is matched (errors.Is) by the error of a [Store.Load]
	// that found a record it cannot read.
	ErrCorrupt = errors.New("tokencache: stored record is corrupt or unreadable")
)

// MemoryStore is a [Store] in process memory: the default when
// [Options.Store] is nil. It keeps the records only as long as the process
// lives. The zero value is ready to use; a MemoryStore must not be copied
// after first use. It is safe for concurrent use.
type MemoryStore struct {
	mu      sync.Mutex // guards records
	records map[string]Record
}

// NewMemoryStore returns an empty [MemoryStore].
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// Load implements [Store]. It does no I/O.
func (m *MemoryStore) Load(ctx context.Context, partition string) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.records[partition]
	r.Data = append([]byte(nil), r.Data...)
	return r, nil
}

// Save implements [Store]. It does no I/O.
func (m *MemoryStore) Save(ctx context.Context, partition string, rec Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.records == nil {
		m.records = make(map[string]Record)
	}
	if cur := m.records[partition].Generation; cur+1 != rec.Generation {
		return fmt.Errorf("%w: stored %d, saving %d", ErrConflict, cur, rec.Generation)
	}
	rec.Data = append([]byte(nil), rec.Data...)
	m.records[partition] = rec
	return nil
}

// Delete implements [Store]. It does no I/O.
func (m *MemoryStore) Delete(ctx context.Context, partition string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.records, partition)
	return nil
}

var _ Store = (*MemoryStore)(nil)
