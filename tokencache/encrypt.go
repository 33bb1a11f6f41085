package tokencache

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// EncryptedStore wraps a [Store] so record data is sealed with AES-GCM
// before it reaches the inner store, and opened after it is loaded. The
// partition name is bound as additional data, so a record copied to another
// partition does not open. Generations and expiry times stay in clear
// (they are not secret; stores need them).
//
// If the inner store is a [Locker], so is the EncryptedStore. It is safe
// for concurrent use if the inner store is.
type EncryptedStore struct {
	inner Store
	aead  cipher.AEAD
}

// NewEncryptedStore returns inner wrapped with AES-GCM under key, which
// must be 16, 24 or 32 bytes (AES-128, -192, -256). Keep the key outside
// the store (an environment variable, a secret manager, a KMS). A record
// that does not open under key (wrong key, tampering) is reported by Load
// as [ErrCorrupt] and ignored by the cache.
func NewEncryptedStore(inner Store, key []byte) (*EncryptedStore, error) {
	if inner == nil {
		return nil, errors.New("tokencache: NewEncryptedStore needs a store")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("tokencache: encryption key must be 16, 24 or 32 bytes, got %d", len(key))
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("tokencache: %w", err)
	}
	return &EncryptedStore{inner: inner, aead: aead}, nil
}

// String describes the store without its key.
func (s *EncryptedStore) String() string {
	return fmt.Sprintf("tokencache.EncryptedStore{%v, key redacted}", s.inner)
}

// GoString is like String.
func (s *EncryptedStore) GoString() string { return s.String() }

const sealedVersion = 1

// Load implements [Store].
func (s *EncryptedStore) Load(ctx context.Context, partition string) (Record, error) {
	rec, err := s.inner.Load(ctx, partition)
	if err != nil || rec.Generation == 0 {
		return rec, err
	}
	ns := s.aead.NonceSize()
	if len(rec.Data) < 1+ns+s.aead.Overhead() || rec.Data[0] != sealedVersion {
		return Record{}, fmt.Errorf("%w: encrypted record too short or of unknown version", ErrCorrupt)
	}
	plain, err := s.aead.Open(nil, rec.Data[1:1+ns], rec.Data[1+ns:], []byte(partition))
	if err != nil {
		return Record{}, fmt.Errorf("%w: encrypted record does not open with this key", ErrCorrupt)
	}
	rec.Data = plain
	return rec, nil
}

// Save implements [Store].
func (s *EncryptedStore) Save(ctx context.Context, partition string, rec Record) error {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(rec.Data)+s.aead.Overhead())
	out[0] = sealedVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return fmt.Errorf("tokencache: %w", err)
	}
	rec.Data = s.aead.Seal(out, out[1:1+ns], rec.Data, []byte(partition))
	return s.inner.Save(ctx, partition, rec)
}

// Delete implements [Store].
func (s *EncryptedStore) Delete(ctx context.Context, partition string) error {
	return s.inner.Delete(ctx, partition)
}

// Lock implements [Locker] by delegating to the inner store; when the
// inner store has no lock it returns at once.
func (s *EncryptedStore) Lock(ctx context.Context, partition string) (func(), error) {
	if l, ok := s.inner.(Locker); ok {
		return l.Lock(ctx, partition)
	}
	return func() {}, ctx.Err()
}

var (
	_ Store  = (*EncryptedStore)(nil)
	_ Locker = (*EncryptedStore)(nil)
)
