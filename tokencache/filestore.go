package tokencache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"
)

// FileStore is a [Store] and [Locker] that keeps one file per partition in
// a directory, for command-line tools and single-host services:
//
//   - files are created with mode 0600 in a directory created with 0700;
//     a record file readable by other users is refused (see
//     [ErrPermissions]);
//   - every save writes a temporary file, syncs it and renames it over the
//     old one, so a crash leaves the old record or the new one, never half;
//   - a lock file per partition (flock(2)) serializes the cache's refreshes
//     across processes, and a second, short lock makes the compare-and-set
//     of Save atomic;
//   - record and lock files are opened without following symbolic links
//     and without blocking, and only regular files are accepted: a link
//     is [ErrSymlink], a FIFO, directory or device [ErrNotRegularFile];
//   - a corrupt or truncated file is reported by Load as [ErrCorrupt] and
//     overwritten by the next save; it is never fatal. So is a record whose
//     generation cannot grow ([ErrGenerationOverflow]);
//   - a save that cannot write its file fails with [ErrUnwritable].
//
// File names are the SHA-256 of the partition name, so no account name
// appears in the directory listing. Record data is stored as given: wrap
// the store with [EncryptedStore] to encrypt it. A FileStore is safe for
// concurrent use by goroutines and processes.
type FileStore struct {
	dir string
}

// ErrPermissions is matched (errors.Is) by the error of a [FileStore.Load]
// that found a record file other users may read or write, and by the error of
// [NewFileStore] for a directory other users may enter, read or write. The file
// or directory is left alone; fix its mode (chmod 600, chmod 700) or delete it.
var ErrPermissions = errors.New("tokencache: token storage is accessible to other users")

// Errors of a [FileStore] that found something other than its own files, or
// cannot write; test with errors.Is.
var (
	// ErrSymlink: a record or lock file is a symbolic link. It is not
	// followed; remove it.
	ErrSymlink = errors.New("tokencache: a token file is a symbolic link")
	// ErrNotRegularFile: a record or lock file is a FIFO, a directory, a
	// socket or a device. It is not opened for reading; remove it.
	ErrNotRegularFile = errors.New("tokencache: a token file is not a regular file")
	// ErrGenerationOverflow: a record's generation is 2^64-1, so the next
	// save could not advance it. Load reports it with [ErrCorrupt] and the
	// next save starts the record again at generation 1.
	ErrGenerationOverflow = errors.New("tokencache: the record's generation cannot grow")
	// ErrUnwritable: a save could not write the record file (a read-only
	// directory, a full disk, something else in the file's place).
	ErrUnwritable = errors.New("tokencache: the token file cannot be written")
)

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a regular file"
}

// NewFileStore returns a store in dir, creating dir (mode 0700) if needed. An
// existing dir must be private: a directory with any group or other permission
// bits, or not a directory, is refused (the error matches [ErrPermissions] for
// the first), because whoever can list or write it can replace token files.
func NewFileStore(dir string) (*FileStore, error) {
	if dir == "" {
		return nil, errors.New("tokencache: NewFileStore needs a directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tokencache: creating the token directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("tokencache: the token directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("tokencache: %s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: the token directory %s has mode %v; run chmod 700 %s (or pick a private directory)", ErrPermissions, dir, perm, dir)
	}
	return &FileStore{dir: dir}, nil
}

// String names the directory.
func (s *FileStore) String() string { return "tokencache.FileStore(" + s.dir + ")" }

func (s *FileStore) base(partition string) string {
	sum := sha256.Sum256([]byte(partition))
	return filepath.Join(s.dir, hex.EncodeToString(sum[:16]))
}

// fileRecord is the JSON layout of a record file.
type fileRecord struct {
	V          int       `json:"v"`
	Partition  string    `json:"partition"`
	Generation uint64    `json:"generation"`
	Expires    time.Time `json:"expires,omitzero"`
	Data       []byte    `json:"data"`
}

// Load implements [Store]. It reads one small file.
func (s *FileStore) Load(ctx context.Context, partition string) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	return s.read(partition)
}

func (s *FileStore) read(partition string) (Record, error) {
	name := s.base(partition) + ".json"
	f, err := openFile(name, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return Record{}, nil
	}
	if err != nil {
		return Record{}, fmt.Errorf("tokencache: reading %s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Record{}, fmt.Errorf("tokencache: reading %s: %w", name, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return Record{}, fmt.Errorf("%w: %s has mode %#o", ErrPermissions, name, fi.Mode().Perm())
	}
	if fi.Size() > 16<<20 {
		return Record{}, fmt.Errorf("%w: %s is %d bytes", ErrCorrupt, name, fi.Size())
	}
	b := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return Record{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, name, err)
	}
	var fr fileRecord
	if err := json.Unmarshal(b, &fr); err != nil {
		return Record{}, fmt.Errorf("%w: %s: %s", ErrCorrupt, name, jsonErrText(err))
	}
	if fr.V != 1 || fr.Generation == 0 || fr.Partition != partition {
		return Record{}, fmt.Errorf("%w: %s: not a record of this partition", ErrCorrupt, name)
	}
	if fr.Generation == math.MaxUint64 {
		return Record{}, fmt.Errorf("%w: %w: %s has generation %d", ErrCorrupt, ErrGenerationOverflow, name, fr.Generation)
	}
	return Record{Generation: fr.Generation, Data: fr.Data, Expires: fr.Expires}, nil
}

// Save implements [Store]: under a short lock it checks the stored
// generation and atomically replaces the file.
func (s *FileStore) Save(ctx context.Context, partition string, rec Record) error {
	unlock, err := s.lockFile(ctx, s.base(partition)+".wlock")
	if err != nil {
		return err
	}
	defer unlock()
	if rec.Generation == 0 {
		return fmt.Errorf("%w: generation 0 cannot be saved", ErrGenerationOverflow)
	}
	cur, err := s.read(partition)
	if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrPermissions) {
		if errors.Is(err, ErrNotRegularFile) || errors.Is(err, ErrSymlink) {
			return fmt.Errorf("%w: %w", ErrUnwritable, err)
		}
		return err
	}
	if cur.Generation+1 != rec.Generation {
		return fmt.Errorf("%w: stored %d, saving %d", ErrConflict, cur.Generation, rec.Generation)
	}
	b, err := json.Marshal(fileRecord{V: 1, Partition: partition, Generation: rec.Generation, Expires: rec.Expires, Data: rec.Data})
	if err != nil {
		return fmt.Errorf("tokencache: encoding record: %w", err)
	}
	if err := s.writeAtomic(s.base(partition)+".json", b); err != nil {
		return fmt.Errorf("%w: %w", ErrUnwritable, err)
	}
	return nil
}

func (s *FileStore) writeAtomic(name string, b []byte) error {
	tmp, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("tokencache: writing token file: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("tokencache: writing token file: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		return fmt.Errorf("tokencache: writing token file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("tokencache: writing token file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("tokencache: writing token file: %w", err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("tokencache: writing token file: %w", err)
	}
	ok = true
	if d, err := os.Open(s.dir); err == nil {
		_ = d.Sync() // make the rename durable; not all file systems support it
		d.Close()
	}
	return nil
}

// Delete implements [Store].
func (s *FileStore) Delete(ctx context.Context, partition string) error {
	unlock, err := s.lockFile(ctx, s.base(partition)+".wlock")
	if err != nil {
		return err
	}
	defer unlock()
	err = os.Remove(s.base(partition) + ".json")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("tokencache: deleting token file: %w", err)
	}
	return nil
}

// Lock implements [Locker] with an flock(2) lock on a per-partition lock
// file. The kernel releases it if the process dies.
func (s *FileStore) Lock(ctx context.Context, partition string) (func(), error) {
	return s.lockFile(ctx, s.base(partition)+".lock")
}

var (
	_ Store  = (*FileStore)(nil)
	_ Locker = (*FileStore)(nil)
)
