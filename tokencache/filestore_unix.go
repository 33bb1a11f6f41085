//go:build unix

package tokencache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// openFile opens name without following a symbolic link and without
// blocking (a FIFO would block a plain open for ever), and accepts only a
// regular file.
func openFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	fd, err := syscall.Open(name, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, uint32(perm))
	if err != nil {
		if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EMLINK) {
			return nil, fmt.Errorf("%w: %s", ErrSymlink, name)
		}
		if errors.Is(err, syscall.EISDIR) {
			return nil, fmt.Errorf("%w: %s is a directory", ErrNotRegularFile, name)
		}
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %s is %s", ErrNotRegularFile, name, fileKind(fi.Mode()))
	}
	return f, nil
}

func (s *FileStore) lockFile(ctx context.Context, name string) (func(), error) {
	f, err := openFile(name, os.O_CREATE|os.O_RDONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("tokencache: lock file %s: %w", filepath.Base(name), err)
	}
	fd := int(f.Fd())
	for {
		err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(fd, syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("tokencache: locking %s: %w", filepath.Base(name), err)
		}
		t := time.NewTimer(5 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("tokencache: locking %s: %w", filepath.Base(name), ctx.Err())
		case <-t.C:
		}
	}
}
