package redisstore

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/tokencache"
)

const (
	rTenant = "contoso"
	rApp    = "33333333-0000-0000-0000-00000000a003"
	rSecret = "replica-secret"
	rPublic = "44444444-0000-0000-0000-00000000b004"
	rUser   = "bob@contoso.test"
	// aesKey is a test key for the AES-GCM wrapper.
	aesKey = "0123456789abcdef0123456789abcdef"
)

func replicaIdP(t testing.TB, latency ...time.Duration) (*fakeidp.IdP, cloud.Cloud) {
	t.Helper()
	lat := 50 * time.Millisecond
	if len(latency) > 0 {
		lat = latency[0]
	}
	idp, err := fakeidp.New(fakeidp.Options{Latency: lat})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Close)
	idp.AddApp(fakeidp.App{TenantID: rTenant, ClientID: rApp, Secret: rSecret, Roles: []string{"IMAP.AccessAsApp"}})
	idp.AddApp(fakeidp.App{ClientID: rPublic})
	idp.AddUser(fakeidp.User{TenantID: rTenant, UPN: rUser})
	c := cloud.Global
	c.AuthorityHost = idp.URL()
	return idp, c
}

// replicaStore is what every replica uses: the Redis store under the
// AES-GCM wrapper, so nothing in Redis is readable.
func replicaStore(t testing.TB, rdb redis.UniversalClient) tokencache.Store {
	t.Helper()
	enc, err := tokencache.NewEncryptedStore(New(rdb, &Options{Prefix: "replicas:"}), []byte(aesKey))
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// TestReplicas re-executes the test binary as 4 processes with 1,000
// goroutines each, all asking at the same instant for a token nobody has:
// first an app-only token, then a delegated one whose refresh token is in
// Redis. The IdP takes 50 ms per request. Exactly one token request must
// reach it each time, and every process must serve the same token.
func TestReplicas(t *testing.T) {
	if os.Getenv("REDISSTORE_CHILD") != "" {
		t.Skip("child")
	}
	srv := startRedis(t)
	rdb := srv.client(t)
	idp, cl := replicaIdP(t)
	certFile := filepath.Join(t.TempDir(), "idp.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(mode string) []string {
		t.Helper()
		startAt := time.Now().Add(2 * time.Second)
		secondAt := startAt.Add(3 * time.Second)
		outs := make([]bytes.Buffer, 4)
		cmds := make([]*exec.Cmd, 4)
		for i := range cmds {
			cmd := exec.Command(os.Args[0], "-test.run=^TestReplicaChild$", "-test.v")
			cmd.Env = append(os.Environ(), "REDISSTORE_CHILD="+mode, "REDISSTORE_ADDR="+srv.Addr(), "REDISSTORE_IDP="+idp.URL(),
				"REDISSTORE_CA="+certFile, "REDISSTORE_START="+strconv.FormatInt(startAt.UnixNano(), 10),
				"REDISSTORE_START2="+strconv.FormatInt(secondAt.UnixNano(), 10))
			cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds[i] = cmd
		}
		toks := make([]string, 4)
		for i, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Fatalf("child %d: %v\n%s", i, err, outs[i].String())
			}
			_, after, ok := strings.Cut(outs[i].String(), "TOKEN=")
			if !ok {
				t.Fatalf("child %d printed no token:\n%s", i, outs[i].String())
			}
			toks[i], _, _ = strings.Cut(after, "\n")
			if toks[i] != toks[0] {
				t.Errorf("child %d served another token than child 0", i)
			}
		}
		return toks
	}

	// App-only: one client_credentials request for 4 x 1,000 callers.
	toks := run("app")
	if got := idp.Requests(fakeidp.GrantClientCredentials); got != 1 {
		t.Errorf("app-only: %d token requests from 4 processes, want 1", got)
	}
	if _, err := idp.Verify(toks[0]); err != nil {
		t.Errorf("app-only token: %v", err)
	}

	// Delegated: the refresh token is imported once, then 4 x 1,000 callers.
	parent := tokencache.New(&tokencache.Options{Store: replicaStore(t, rdb), HTTPClient: idp.HTTPClient()})
	u, err := parent.Delegated(tokencache.DelegatedConfig{Cloud: cl, TenantID: rTenant, ClientID: rPublic, Account: rUser})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if err := u.ImportRefreshToken(ctx, idp.IssueRefreshToken(rTenant, rPublic, rUser, cl.DelegatedScopes(cloud.IMAP))); err != nil {
		t.Fatal(err)
	}
	idp.ResetCounters()
	toks = run("user")
	// Two rounds in every child: IMAP, then (3 s later, on whatever refresh
	// token each process holds by then) POP. One redemption per round.
	if got := idp.Requests(fakeidp.GrantRefreshToken); got != 2 {
		t.Errorf("delegated: %d refresh-token redemptions from 4 processes in two rounds, want 2", got)
	}
	if c, err := idp.Verify(toks[0]); err != nil || c.UPN != rUser {
		t.Errorf("delegated token: %v %+v", err, c)
	}
	if n := idp.LiveRefreshTokens(); n != 1 {
		t.Errorf("%d live refresh tokens, want 1 (the rotated one)", n)
	}
	// Redis holds the rotated refresh token: a new replica redeems it.
	fresh := tokencache.New(&tokencache.Options{Store: replicaStore(t, rdb), HTTPClient: idp.HTTPClient()})
	u2, err := fresh.Delegated(tokencache.DelegatedConfig{Cloud: cl, TenantID: rTenant, ClientID: rPublic, Account: rUser})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u2.Source(cl.DelegatedScopes(cloud.EWS)...).TokenContext(ctx); err != nil {
		t.Fatalf("a new replica cannot use the stored refresh token: %v", err)
	}
	if got := idp.Requests(fakeidp.GrantRefreshToken); got != 3 {
		t.Errorf("refresh redemptions = %d, want 3", got)
	}

	// Nothing readable at rest.
	keys, err := rdb.Keys(ctx, "replicas:*").Result()
	if err != nil || len(keys) < 2 {
		t.Fatalf("keys %v %v", keys, err)
	}
	for _, k := range keys {
		if rdb.Type(ctx, k).Val() != "hash" {
			continue
		}
		d := rdb.HGet(ctx, k, "d").Val()
		if strings.Contains(d, toks[0][:40]) || strings.Contains(d, "0.AAAA") || strings.Contains(d, "access_token") || strings.Contains(d, rUser) {
			t.Errorf("%s holds readable token material", k)
		}
	}
}

// TestReplicaChild is one replica of TestReplicas.
func TestReplicaChild(t *testing.T) {
	mode := os.Getenv("REDISSTORE_CHILD")
	if mode == "" {
		t.Skip("run by TestReplicas")
	}
	pemData, err := os.ReadFile(os.Getenv("REDISSTORE_CA"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemData)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 16}}
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("REDISSTORE_ADDR"), PoolSize: 16})
	defer rdb.Close()
	c := tokencache.New(&tokencache.Options{Store: replicaStore(t, rdb), HTTPClient: hc})
	cl := cloud.Global
	cl.AuthorityHost = os.Getenv("REDISSTORE_IDP")
	var src, second *tokencache.Source
	switch mode {
	case "app":
		app, err := c.AppOnly(tokencache.AppOnlyConfig{Cloud: cl, TenantID: rTenant, ClientID: rApp, Credential: tokencache.ClientSecret(rSecret)})
		if err != nil {
			t.Fatal(err)
		}
		src = app.Source(cl.AppOnlyScope())
	default:
		u, err := c.Delegated(tokencache.DelegatedConfig{Cloud: cl, TenantID: rTenant, ClientID: rPublic, Account: rUser})
		if err != nil {
			t.Fatal(err)
		}
		src = u.Source(cl.DelegatedScopes(cloud.IMAP)...)
		second = u.Source(cl.DelegatedScopes(cloud.POP)...)
	}
	ns, _ := strconv.ParseInt(os.Getenv("REDISSTORE_START"), 10, 64)
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]int{}
	var firstErr error
	for range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			tok, err := src.TokenContext(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				firstErr = err
				return
			}
			seen[tok.AccessToken]++
		}()
	}
	time.Sleep(time.Until(time.Unix(0, ns)))
	close(start)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	if len(seen) != 1 {
		t.Fatalf("%d distinct tokens in one process", len(seen))
	}
	for tok := range seen {
		fmt.Printf("TOKEN=%s\n", tok)
	}
	if second != nil {
		ns2, _ := strconv.ParseInt(os.Getenv("REDISSTORE_START2"), 10, 64)
		time.Sleep(time.Until(time.Unix(0, ns2)))
		var wg2 sync.WaitGroup
		errs := make(chan error, 100)
		for range 100 {
			wg2.Add(1)
			go func() {
				defer wg2.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if _, err := second.TokenContext(ctx); err != nil {
					errs <- err
				}
			}()
		}
		wg2.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("second round: %v", err)
		}
	}
	fmt.Printf("STATS=%+v\n", c.Stats())
}

// TestRedisOutage stops redis-server (by the pid the test started) while
// callers keep asking for tokens, then starts it again: callers keep
// getting valid tokens, the cache counts the store errors, and once Redis
// is back the partition is written to it again.
func TestRedisOutage(t *testing.T) {
	if os.Getenv("REDISSTORE_CHILD") != "" {
		t.Skip("child")
	}
	srv := startRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	idp, cl := replicaIdP(t)
	st := New(rdb, nil)
	var logs lockedBuffer
	c := tokencache.New(&tokencache.Options{Store: st, HTTPClient: idp.HTTPClient(), Logger: slogTo(&logs)})
	app, err := c.AppOnly(tokencache.AppOnlyConfig{Cloud: cl, TenantID: rTenant, ClientID: rApp, Credential: tokencache.ClientSecret(rSecret)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	partition := app.Partition()
	if _, err := app.Source(cl.AppOnlyScope()).TokenContext(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, err := st.Load(ctx, partition); err != nil || rec.Generation == 0 {
		t.Fatalf("record after the first token: %v %v", rec, err)
	}

	// Callers on the cached token keep going throughout.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var served, failed int64
	var mu sync.Mutex
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				tok, err := app.Source(cl.AppOnlyScope()).TokenContext(cctx)
				cancel()
				mu.Lock()
				if err != nil || !tok.Valid() {
					failed++
				} else {
					served++
				}
				mu.Unlock()
				time.Sleep(time.Millisecond)
			}
		}()
	}

	srv.stop()
	before := c.Stats().StoreErrors
	// A token nobody has yet, while Redis is down: fetched anyway.
	start := time.Now()
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	tok, err := app.Source("https://graph.microsoft.com/.default").TokenContext(tctx)
	cancel()
	if err != nil || !tok.Valid() {
		t.Fatalf("token during the outage: %v", err)
	}
	// Bounded by the caller's 5 s deadline (checked above), not by Redis:
	// the duration is logged, not asserted, so a loaded machine cannot fail it.
	t.Logf("a miss during the outage took %s", time.Since(start))
	if c.Stats().StoreErrors <= before {
		t.Errorf("store errors not counted: %+v", c.Stats())
	}

	srv.restart() // empty: it keeps nothing on disk
	tok, err = app.Source("https://outlook.office.com/.default").TokenContext(ctx)
	if err != nil || !tok.Valid() {
		t.Fatalf("token after the restart: %v", err)
	}
	close(stop)
	wg.Wait()
	rec, err := st.Load(ctx, partition)
	if err != nil || rec.Generation == 0 || len(rec.Data) == 0 {
		t.Errorf("after the restart the partition was not written again: %v %v", rec, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if failed != 0 || served == 0 {
		t.Errorf("callers on the cached token: %d served, %d failed", served, failed)
	}
	if strings.Contains(logs.String(), rSecret) || strings.Contains(logs.String(), tok.AccessToken) {
		t.Error("the log holds secret material")
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
