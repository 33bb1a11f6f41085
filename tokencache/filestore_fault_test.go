package tokencache

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// bounded runs f and fails the test if it takes longer than 2 s (a FIFO
// opened for reading blocks for ever).
func bounded(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Second):
		t.Fatalf("%s blocked", what)
		return nil
	}
}

// Each fault planted in the store directory gives its own typed error in
// bounded time, and the partition works again once the fault is removed.
func TestFileStoreFaults(t *testing.T) {
	ctx := context.Background()
	maxGen, err := json.Marshal(fileRecord{V: 1, Partition: "p", Generation: math.MaxUint64, Data: []byte("x")})
	require.NoError(t, err)
	cases := []struct {
		name    string
		plant   func(fs *FileStore, rec string) error
		loadErr error // Load's error
		saveErr error // Save's error
	}{
		{"FIFO", func(_ *FileStore, rec string) error { return syscall.Mkfifo(rec, 0o600) }, ErrNotRegularFile, ErrUnwritable},
		{"symlink to a FIFO", func(fs *FileStore, rec string) error {
			fifo := filepath.Join(filepath.Dir(fs.dir), "fifo")
			_ = os.Remove(fifo)
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				return err
			}
			return os.Symlink(fifo, rec)
		}, ErrSymlink, ErrUnwritable},
		{"symlink to a file", func(fs *FileStore, rec string) error {
			other := filepath.Join(filepath.Dir(fs.dir), "elsewhere.json")
			if err := os.WriteFile(other, maxGen, 0o600); err != nil {
				return err
			}
			return os.Symlink(other, rec)
		}, ErrSymlink, ErrUnwritable},
		{"directory", func(_ *FileStore, rec string) error { return os.Mkdir(rec, 0o700) }, ErrNotRegularFile, ErrUnwritable},
		{"overflowing generation", func(_ *FileStore, rec string) error { return os.WriteFile(rec, maxGen, 0o600) }, ErrGenerationOverflow, nil},
		{"0644 file", func(_ *FileStore, rec string) error {
			b, _ := json.Marshal(fileRecord{V: 1, Partition: "p", Generation: 1, Data: []byte("x")})
			return os.WriteFile(rec, b, 0o644)
		}, ErrPermissions, nil},
		// Root ignores permission bits, so the directory is made read-only
		// and a directory stands where the record goes: no user, root
		// included, can rename a file over it.
		{"unwritable directory", func(fs *FileStore, rec string) error {
			if err := os.Mkdir(rec, 0o700); err != nil {
				return err
			}
			return os.Chmod(fs.dir, 0o500)
		}, ErrNotRegularFile, ErrUnwritable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "tokens")
			fs, err := NewFileStore(dir)
			require.NoError(t, err)
			rec := fs.base("p") + ".json"
			require.NoError(t, c.plant(fs, rec))

			err = bounded(t, "Load", func() error { _, err := fs.Load(ctx, "p"); return err })
			t.Logf("Load: %v", err)
			require.ErrorIs(t, err, c.loadErr)
			err = bounded(t, "Save", func() error { return fs.Save(ctx, "p", Record{Generation: 1, Data: []byte("new")}) })
			t.Logf("Save: %v", err)
			if c.saveErr == nil {
				require.NoError(t, err, "a record whose generation cannot grow, or readable by others, is overwritten")
			} else {
				require.ErrorIs(t, err, c.saveErr)
			}

			// Remove the fault: the partition works again.
			require.NoError(t, os.Chmod(fs.dir, 0o700))
			if c.saveErr != nil {
				require.NoError(t, os.RemoveAll(rec))
			}
			got, err := fs.Load(ctx, "p")
			require.NoError(t, err)
			require.NoError(t, fs.Save(ctx, "p", Record{Generation: got.Generation + 1, Data: []byte("again")}))
			got, err = fs.Load(ctx, "p")
			require.NoError(t, err)
			assert.Equal(t, "again", string(got.Data))
		})
	}
}

// Lock files are opened without following links or blocking: a planted link
// creates nothing at its target, a FIFO does not hang.
func TestFileStoreLockFaults(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "tokens")
	fs, err := NewFileStore(dir)
	require.NoError(t, err)
	target := filepath.Join(filepath.Dir(dir), "planted")
	require.NoError(t, os.Symlink(target, fs.base("p")+".lock"))
	_, err = fs.Lock(ctx, "p")
	require.ErrorIs(t, err, ErrSymlink)
	_, err = os.Lstat(target)
	assert.True(t, os.IsNotExist(err), "the link's target was created")

	require.NoError(t, syscall.Mkfifo(fs.base("p")+".wlock", 0o600))
	err = bounded(t, "Save", func() error { return fs.Save(ctx, "p", Record{Generation: 1, Data: []byte("x")}) })
	require.ErrorIs(t, err, ErrNotRegularFile)

	require.NoError(t, os.Remove(fs.base("p")+".lock"))
	require.NoError(t, os.Remove(fs.base("p")+".wlock"))
	unlock, err := fs.Lock(ctx, "p")
	require.NoError(t, err)
	unlock()
	require.NoError(t, fs.Save(ctx, "p", Record{Generation: 1, Data: []byte("x")}))
}

// Sign-in returns the save error instead of claiming success; SignedIn
// reports a load error (ErrPermissions for a 0644 file, ErrNotRegularFile
// for a FIFO, in bounded time) instead of "not signed in".
func TestSignInStoreErrors(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	dir := filepath.Join(t.TempDir(), "tokens")
	fs, err := NewFileStore(dir)
	require.NoError(t, err)
	c := newTestCache(idp, &Options{Store: fs})
	u := delegatedUser(t, c, cl)
	rec := fs.base(u.p.name) + ".json"

	signIn := func() error {
		return u.SignInDeviceCode(t.Context(), func(dc DeviceCode) {
			go func() { _ = idp.ApproveDevice(dc.UserCode, tUser) }()
		})
	}
	// The record path cannot be written (a directory stands there).
	require.NoError(t, os.Mkdir(rec, 0o700))
	err = signIn()
	t.Logf("sign-in: %v", err)
	require.ErrorIs(t, err, ErrUnwritable)
	_, err = u.SignedIn(t.Context())
	require.ErrorIs(t, err, ErrNotRegularFile)
	require.NoError(t, os.Remove(rec))

	ok, err := u.SignedIn(t.Context())
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, signIn())
	ok, err = u.SignedIn(t.Context())
	require.NoError(t, err)
	assert.True(t, ok)

	require.NoError(t, os.Chmod(rec, 0o644))
	_, err = u.SignedIn(t.Context())
	require.ErrorIs(t, err, ErrPermissions)
	require.NoError(t, os.Chmod(rec, 0o600))

	require.NoError(t, os.Rename(rec, rec+".bak"))
	require.NoError(t, syscall.Mkfifo(rec, 0o600))
	err = bounded(t, "SignedIn", func() error { _, err := u.SignedIn(t.Context()); return err })
	require.ErrorIs(t, err, ErrNotRegularFile)
	require.NoError(t, os.Remove(rec))
	require.NoError(t, os.Rename(rec+".bak", rec))
	ok, err = u.SignedIn(t.Context())
	require.NoError(t, err)
	assert.True(t, ok)
}

// A token request for an account whose record other users may read fails
// with ErrPermissions, not ErrNotSignedIn.
func TestTokenReportsLoadError(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	dir := filepath.Join(t.TempDir(), "tokens")
	fs, err := NewFileStore(dir)
	require.NoError(t, err)
	c := newTestCache(idp, &Options{Store: fs})
	u := delegatedUser(t, c, cl)
	b, _ := json.Marshal(fileRecord{V: 1, Partition: u.p.name, Generation: 1, Data: []byte(`{}`)})
	require.NoError(t, os.WriteFile(fs.base(u.p.name)+".json", b, 0o644))
	_, err = u.Source().TokenContext(t.Context())
	require.ErrorIs(t, err, ErrPermissions)
	require.NotErrorIs(t, err, ErrNotSignedIn)
}

// ImportRefreshToken returns the save error too; once the fault is gone a
// new import is stored.
func TestImportSaveError(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	dir := filepath.Join(t.TempDir(), "tokens")
	fs, err := NewFileStore(dir)
	require.NoError(t, err)
	u := delegatedUser(t, newTestCache(idp, &Options{Store: fs}), cl)
	rec := fs.base(u.p.name) + ".json"
	require.NoError(t, syscall.Mkfifo(rec, 0o600))
	err = bounded(t, "ImportRefreshToken", func() error {
		return u.ImportRefreshToken(t.Context(), idp.IssueRefreshToken(tTenant, tPublic, tUser, u.scopes))
	})
	t.Logf("import: %v", err)
	require.ErrorIs(t, err, ErrUnwritable)
	require.ErrorIs(t, err, ErrNotRegularFile)
	require.NoError(t, os.Remove(rec))
	require.NoError(t, u.ImportRefreshToken(t.Context(), idp.IssueRefreshToken(tTenant, tPublic, tUser, u.scopes)))
	ok, err := u.SignedIn(t.Context())
	require.NoError(t, err)
	assert.True(t, ok)
}
