package tokencache

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// TestFileStoreTwoProcesses re-executes the test binary twice; both
// children ask at the same instant for a token of a scope the file store
// does not have yet. Exactly one refresh-token redemption must happen and
// the rotated refresh token must survive.
func TestFileStoreTwoProcesses(t *testing.T) {
	if os.Getenv("TOKENCACHE_CHILD") != "" {
		t.Skip("child")
	}
	t.Run("locked", func(t *testing.T) { twoProcesses(t, false) })
	// A store without the lock (or whose lock is down): both processes
	// redeem, the loser's refresh token is dead, and it recovers by
	// reloading the rotated one its peer stored.
	t.Run("unlocked", func(t *testing.T) { twoProcesses(t, true) })
}

func twoProcesses(t *testing.T, unlocked bool) {
	latency := 50 * time.Millisecond
	if unlocked {
		// Both must redeem: the first redemption stays in flight long enough
		// that the second child, however late a loaded machine starts it,
		// finds nothing stored yet.
		latency = 2 * time.Second
	}
	idp, cl := newIdP(t, fakeidp.Options{Latency: latency})
	dir := filepath.Join(t.TempDir(), "tokens") // NewFileStore creates it private
	certFile := filepath.Join(t.TempDir(), "idp.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.Certificate().Raw}), 0o600))

	fs, err := NewFileStore(dir)
	require.NoError(t, err)
	u := delegatedUser(t, newTestCache(idp, &Options{Store: fs}), cl)
	require.NoError(t, u.ImportRefreshToken(t.Context(), idp.IssueRefreshToken(tTenant, tPublic, tUser, u.scopes)))
	idp.ResetCounters()

	startAt := time.Now().Add(1500 * time.Millisecond)
	var outs [2]bytes.Buffer
	var cmds [2]*exec.Cmd
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFileStoreChild$", "-test.v")
		cmd.Env = append(os.Environ(), "TOKENCACHE_CHILD=1", "TOKENCACHE_DIR="+dir, "TOKENCACHE_IDP="+idp.URL(),
			"TOKENCACHE_CA="+certFile, "TOKENCACHE_NOLOCK="+strconv.FormatBool(unlocked), "TOKENCACHE_START="+strconv.FormatInt(startAt.UnixNano(), 10))
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		require.NoError(t, cmd.Start())
		cmds[i] = cmd
	}
	var toks [2]string
	storeHits := 0
	for i, cmd := range cmds {
		err := cmd.Wait()
		require.NoError(t, err, "child %d:\n%s", i, outs[i].String())
		_, after, ok := strings.Cut(outs[i].String(), "TOKEN=")
		require.True(t, ok, "child %d printed no token:\n%s", i, outs[i].String())
		toks[i], _, _ = strings.Cut(after, "\n")
		if strings.Contains(outs[i].String(), "StoreHits:1 ") {
			storeHits++
		}
	}
	if unlocked {
		assert.EqualValues(t, 2, idp.Requests(fakeidp.GrantRefreshToken), "without the lock both redeem")
		idp.ResetCounters()
	} else {
		assert.EqualValues(t, 1, idp.Requests(fakeidp.GrantRefreshToken), "two processes, one redemption")
		assert.Equal(t, toks[0], toks[1], "the second process used the token the first one stored")
		assert.Equal(t, 1, storeHits, "one child took the token the other had just stored")
		idp.ResetCounters()
	}

	// Neither process lost the rotated refresh token: a third cache on the
	// directory redeems it for another scope.
	fs3, err := NewFileStore(dir)
	require.NoError(t, err)
	u3 := delegatedUser(t, newTestCache(idp, &Options{Store: fs3}), cl)
	_, err = u3.Source(cl.DelegatedScopes(cloud.POP)...).TokenContext(t.Context())
	require.NoError(t, err)
	assert.EqualValues(t, 1, idp.Requests(fakeidp.GrantRefreshToken))
	assert.Equal(t, 1, idp.LiveRefreshTokens())
}

// TestFileStoreChild is the child half of TestFileStoreTwoProcesses.
func TestFileStoreChild(t *testing.T) {
	if os.Getenv("TOKENCACHE_CHILD") == "" {
		t.Skip("run by TestFileStoreTwoProcesses")
	}
	pemData, err := os.ReadFile(os.Getenv("TOKENCACHE_CA"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pemData))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	fs, err := NewFileStore(os.Getenv("TOKENCACHE_DIR"))
	require.NoError(t, err)
	var store Store = fs
	if os.Getenv("TOKENCACHE_NOLOCK") == "true" {
		store = struct{ Store }{fs} // hides Lock
	}
	c := New(&Options{Store: store, HTTPClient: hc})
	cl := cloud.Global
	cl.AuthorityHost = os.Getenv("TOKENCACHE_IDP")
	u := delegatedUser(t, c, cl)
	src := u.Source(cl.DelegatedScopes(cloud.IMAP)...)
	ns, _ := strconv.ParseInt(os.Getenv("TOKENCACHE_START"), 10, 64)
	time.Sleep(time.Until(time.Unix(0, ns)))
	tok, err := src.TokenContext(t.Context())
	require.NoError(t, err)
	fmt.Printf("TOKEN=%s\n", tok.AccessToken)
	fmt.Printf("STATS=%+v\n", c.Stats())
}

func TestFileStoreCorruptAndTruncated(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	dir := filepath.Join(t.TempDir(), "tokens") // NewFileStore creates it private
	fs, err := NewFileStore(dir)
	require.NoError(t, err)
	c := newTestCache(idp, &Options{Store: fs})
	app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: ClientSecret(tSecret)})
	require.NoError(t, err)
	_, err = app.Source(cl.AppOnlyScope()).TokenContext(t.Context())
	require.NoError(t, err)
	file := fs.base(app.p.name) + ".json"
	good, err := os.ReadFile(file)
	require.NoError(t, err)

	for _, bad := range map[string][]byte{
		"truncated": good[:len(good)/2],
		"garbage":   []byte("\x00\xffnot json at all"),
		"empty":     {},
		"other":     []byte(`{"v":1,"partition":"someone else","generation":3,"data":"e30="}`),
	} {
		require.NoError(t, os.WriteFile(file, bad, 0o600))
		_, err := fs.Load(t.Context(), app.p.name)
		require.ErrorIs(t, err, ErrCorrupt)

		var logs bytes.Buffer
		c2 := newTestCache(idp, &Options{Store: fs, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		app2, err := c2.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: ClientSecret(tSecret)})
		require.NoError(t, err)
		tok, err := app2.Source(cl.AppOnlyScope()).TokenContext(t.Context())
		require.NoError(t, err, "a corrupt file is never fatal")
		assert.NotEmpty(t, tok.AccessToken)
		assert.EqualValues(t, 1, c2.Stats().StoreErrors, "the corrupt file is reported")
		assert.Contains(t, logs.String(), "store load failed")
		rec, err := fs.Load(t.Context(), app.p.name)
		require.NoError(t, err, "the next save replaced the corrupt file")
		assert.EqualValues(t, 1, rec.Generation)
	}
}

func TestFileStorePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tokens")
	fs, err := NewFileStore(dir)
	require.NoError(t, err)
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	ctx := context.Background()
	require.NoError(t, fs.Save(ctx, "p1", Record{Generation: 1, Data: []byte("secret")}))
	fi, err = os.Stat(fs.base("p1") + ".json")
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "record file mode")
	unlock, err := fs.Lock(ctx, "p1")
	require.NoError(t, err)
	unlock()
	fi, err = os.Stat(fs.base("p1") + ".lock")
	require.NoError(t, err)
	assert.Zero(t, fi.Mode().Perm()&0o077, "lock file mode %v", fi.Mode())

	require.NoError(t, os.Chmod(fs.base("p1")+".json", 0o644))
	_, err = fs.Load(ctx, "p1")
	require.ErrorIs(t, err, ErrPermissions)

	// generations: compare-and-set
	require.NoError(t, os.Chmod(fs.base("p1")+".json", 0o600))
	err = fs.Save(ctx, "p1", Record{Generation: 1, Data: []byte("late writer")})
	require.ErrorIs(t, err, ErrConflict)
	require.NoError(t, fs.Save(ctx, "p1", Record{Generation: 2, Data: []byte("next")}))
	rec, err := fs.Load(ctx, "p1")
	require.NoError(t, err)
	assert.Equal(t, "next", string(rec.Data))

	// A save that cannot land (here: a directory stands where the record file goes,
	// which no user, root included, can rename a file over) fails and is reported.
	require.NoError(t, os.Mkdir(fs.base("p2")+".json", 0o700))
	err = fs.Save(ctx, "p2", Record{Generation: 1, Data: []byte("x")})
	require.Error(t, err)
	require.NoError(t, os.Remove(fs.base("p2")+".json"))
	// the file name does not reveal the partition
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), "p1")
	}
}

func TestEncryptedStore(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "tokens") // NewFileStore creates it private
	fs, err := NewFileStore(dir)
	require.NoError(t, err)
	key := bytes.Repeat([]byte{7}, 32)
	es, err := NewEncryptedStore(fs, key)
	require.NoError(t, err)
	secret := []byte(`{"rt":"0.AAAA-very-secret-refresh-token"}`)
	require.NoError(t, es.Save(ctx, "p", Record{Generation: 1, Data: secret}))
	raw, err := os.ReadFile(fs.base("p") + ".json")
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "very-secret")
	rec, err := es.Load(ctx, "p")
	require.NoError(t, err)
	assert.Equal(t, secret, rec.Data)

	other, err := NewEncryptedStore(fs, bytes.Repeat([]byte{8}, 32))
	require.NoError(t, err)
	_, err = other.Load(ctx, "p")
	require.ErrorIs(t, err, ErrCorrupt, "wrong key")

	// a record moved to another partition does not open
	ms := NewMemoryStore()
	em, err := NewEncryptedStore(ms, key)
	require.NoError(t, err)
	require.NoError(t, em.Save(ctx, "a", Record{Generation: 1, Data: secret}))
	r, err := ms.Load(ctx, "a")
	require.NoError(t, err)
	require.NoError(t, ms.Save(ctx, "b", r))
	_, err = em.Load(ctx, "b")
	require.ErrorIs(t, err, ErrCorrupt)

	_, err = NewEncryptedStore(ms, []byte("short"))
	require.Error(t, err)
	_, isLocker := any(em).(Locker)
	assert.True(t, isLocker)
}

// hungStore never answers: every call waits for its context. It records
// the time each call was given (its context's deadline as the call began).
type hungStore struct {
	mu     sync.Mutex
	budget map[string][]time.Duration
}

func (h *hungStore) wait(ctx context.Context, op string) error {
	d, ok := ctx.Deadline()
	h.mu.Lock()
	if h.budget == nil {
		h.budget = map[string][]time.Duration{}
	}
	if ok {
		h.budget[op] = append(h.budget[op], time.Until(d))
	} else {
		h.budget[op] = append(h.budget[op], -1) // no deadline: would hang
	}
	h.mu.Unlock()
	<-ctx.Done()
	return ctx.Err()
}

func (h *hungStore) Load(ctx context.Context, _ string) (Record, error) {
	return Record{}, h.wait(ctx, "load")
}
func (h *hungStore) Save(ctx context.Context, _ string, _ Record) error { return h.wait(ctx, "save") }
func (h *hungStore) Delete(ctx context.Context, _ string) error         { return h.wait(ctx, "delete") }
func (h *hungStore) Lock(ctx context.Context, _ string) (func(), error) {
	return nil, h.wait(ctx, "lock")
}

// TestStoreDown: a shared store that hangs (Redis down) costs bounded time;
// tokens keep coming from the IdP and the errors are counted.
func TestStoreDown(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	hung := &hungStore{}
	c := newTestCache(idp, &Options{Store: hung, FetchTimeout: 20 * time.Second})
	app, err := c.AppOnly(AppOnlyConfig{Cloud: cl, TenantID: tTenant, ClientID: tApp, Credential: ClientSecret(tSecret)})
	require.NoError(t, err)
	tok, err := app.Source(cl.AppOnlyScope()).TokenContext(t.Context())
	require.NoError(t, err)
	assert.NotEmpty(t, tok.AccessToken)
	// What bounds the time is the budget each store call gets, not how fast
	// a loaded machine runs: the lock wait is at most half the 10 s attempt,
	// a load or save at most 2 s.
	hung.mu.Lock()
	defer hung.mu.Unlock()
	for op, max := range map[string]time.Duration{"lock": 5 * time.Second, "load": 2 * time.Second, "save": 2 * time.Second} {
		require.NotEmpty(t, hung.budget[op], "the cache called %s", op)
		for _, d := range hung.budget[op] {
			assert.True(t, d > 0 && d <= max, "%s was given %v (at most %v)", op, d, max)
		}
	}
	assert.GreaterOrEqual(t, c.Stats().StoreErrors, uint64(3), "lock, load and save failures are counted")
}

// flakyStore wraps a store and fails every call while down is set.
type flakyStore struct {
	Store
	down atomic.Bool
}

var errDown = errors.New("store unreachable")

func (f *flakyStore) Load(ctx context.Context, p string) (Record, error) {
	if f.down.Load() {
		return Record{}, errDown
	}
	return f.Store.Load(ctx, p)
}

func (f *flakyStore) Save(ctx context.Context, p string, r Record) error {
	if f.down.Load() {
		return errDown
	}
	return f.Store.Save(ctx, p, r)
}

// TestStoreOutageKeepsRotatedToken: refresh tokens rotated while the store
// is down are kept in memory and written through when it returns.
func TestStoreOutageKeepsRotatedToken(t *testing.T) {
	idp, cl := newIdP(t, fakeidp.Options{})
	fs := &flakyStore{Store: NewMemoryStore()}
	c := newTestCache(idp, &Options{Store: fs})
	u := delegatedUser(t, c, cl)
	require.NoError(t, u.ImportRefreshToken(t.Context(), idp.IssueRefreshToken(tTenant, tPublic, tUser, u.scopes)))
	before, err := fs.Store.Load(t.Context(), u.p.name)
	require.NoError(t, err)

	fs.down.Store(true)
	src := u.Source(cl.DelegatedScopes(cloud.IMAP)...)
	for range 3 { // three redemptions, three rotations, none stored
		tok, err := src.TokenContext(t.Context())
		require.NoError(t, err)
		src.Invalidate(tok)
	}
	assert.GreaterOrEqual(t, c.Stats().StoreErrors, uint64(6))
	fs.down.Store(false)

	_, err = u.Source(cl.DelegatedScopes(cloud.SMTP)...).TokenContext(t.Context())
	require.NoError(t, err, "the newest refresh token survived the outage")
	after, err := fs.Store.Load(t.Context(), u.p.name)
	require.NoError(t, err)
	assert.Equal(t, before.Generation+1, after.Generation, "written through after the outage")
	assert.Equal(t, 1, idp.LiveRefreshTokens())

	// a fresh process on the store redeems the stored (newest) refresh token
	c2 := newTestCache(idp, &Options{Store: fs.Store})
	_, err = delegatedUser(t, c2, cl).Source(cl.DelegatedScopes(cloud.POP)...).TokenContext(t.Context())
	require.NoError(t, err)
}

func TestNewFileStoreRefusesOpenDirectory(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "open")
	require.NoError(t, os.Mkdir(open, 0o700))
	require.NoError(t, os.Chmod(open, 0o755)) // as the umask would not
	_, err := NewFileStore(open)
	require.ErrorIs(t, err, ErrPermissions)
	assert.Contains(t, err.Error(), "chmod 700")

	fresh := filepath.Join(base, "fresh", "tokens")
	_, err = NewFileStore(fresh)
	require.NoError(t, err)
	fi, err := os.Stat(fresh)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())

	file := filepath.Join(base, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, err = NewFileStore(file)
	require.Error(t, err)
}
