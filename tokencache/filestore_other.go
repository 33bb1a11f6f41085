//go:build !unix

package tokencache

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// openFile opens name, refusing a symbolic link and anything but a regular
// file (checked before and after the open).
func openFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	if fi, err := os.Lstat(name); err == nil {
		if fi.Mode()&os.ModeSymlink != 0 {
			return nil, fmt.Errorf("%w: %s", ErrSymlink, name)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%w: %s is %s", ErrNotRegularFile, name, fileKind(fi.Mode()))
		}
	}
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %s", ErrNotRegularFile, name)
	}
	return f, nil
}

func (s *FileStore) lockFile(ctx context.Context, name string) (func(), error) {
	f, err := openFile(name, os.O_CREATE|os.O_RDONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("tokencache: lock file %s: %w", filepath.Base(name), err)
	}
	f.Close()
	l := flock.New(name, flock.SetFlag(os.O_CREATE|os.O_RDONLY), flock.SetPermissions(0o600))
	ok, err := l.TryLockContext(ctx, 5*time.Millisecond)
	if err != nil || !ok {
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("tokencache: locking %s: %w", filepath.Base(name), err)
	}
	return func() { _ = l.Unlock() }, nil
}
