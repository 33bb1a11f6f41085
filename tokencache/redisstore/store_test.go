package redisstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modernauth/mailauth/tokencache"
)

func TestStoreContract(t *testing.T) {
	srv := startRedis(t)
	rdb := srv.client(t)
	st := New(rdb, &Options{Prefix: "t1:"})
	ctx := ctxT(t)
	const p = "app|https://login.example|t|c"

	rec, err := st.Load(ctx, p)
	if err != nil || rec.Generation != 0 || rec.Data != nil {
		t.Fatalf("absent: %v %v", rec, err)
	}
	exp := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	if err := st.Save(ctx, p, tokencache.Record{Generation: 1, Data: []byte("one\x00\xff"), Expires: exp}); err != nil {
		t.Fatal(err)
	}
	err = st.Save(ctx, p, tokencache.Record{Generation: 1, Data: []byte("late")})
	if !errors.Is(err, tokencache.ErrConflict) {
		t.Fatalf("second generation 1: err = %v, want ErrConflict", err)
	}
	if err := st.Save(ctx, p, tokencache.Record{Generation: 3, Data: []byte("skip")}); !errors.Is(err, tokencache.ErrConflict) {
		t.Fatalf("generation 3 over 1: err = %v", err)
	}
	rec, err = st.Load(ctx, p)
	if err != nil || rec.Generation != 1 || string(rec.Data) != "one\x00\xff" || !rec.Expires.Equal(exp) {
		t.Fatalf("load: %v %v", rec, err)
	}
	if ttl := rdb.PTTL(ctx, "t1:r:"+p).Val(); ttl < 59*time.Minute || ttl > time.Hour {
		t.Errorf("TTL = %s, want about 1h (Expires)", ttl)
	}
	if err := st.Save(ctx, p, tokencache.Record{Generation: 2, Data: []byte("two")}); err != nil {
		t.Fatal(err)
	}
	rec, _ = st.Load(ctx, p)
	if rec.Generation != 2 || string(rec.Data) != "two" || !rec.Expires.IsZero() {
		t.Fatalf("after gen 2: %v", rec)
	}
	if ttl := rdb.PTTL(ctx, "t1:r:"+p).Val(); ttl < DefaultTTL-time.Minute {
		t.Errorf("TTL without Expires = %s, want %s", ttl, DefaultTTL)
	}
	if err := st.Delete(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, p); err != nil {
		t.Fatalf("deleting an absent record: %v", err)
	}
	if rec, err := st.Load(ctx, p); err != nil || rec.Generation != 0 {
		t.Fatalf("after delete: %v %v", rec, err)
	}
	if err := st.Save(ctx, p, tokencache.Record{Generation: 0}); err == nil {
		t.Error("generation 0 saved")
	}

	// Corrupt records: reported on Load, counted as generation 0 by Save.
	for name, set := range map[string]func(){
		"string key":    func() { rdb.Set(ctx, "t1:r:"+p, "garbage", 0) },
		"bad gen":       func() { rdb.HSet(ctx, "t1:r:"+p, "g", "x", "d", "y", "e", "0") },
		"missing data":  func() { rdb.HSet(ctx, "t1:r:"+p, "g", "4", "e", "0") },
		"negative time": func() { rdb.HSet(ctx, "t1:r:"+p, "g", "4", "d", "z", "e", "nope") },
	} {
		rdb.Del(ctx, "t1:r:"+p)
		set()
		_, err := st.Load(ctx, p)
		var se *Error
		if !errors.Is(err, tokencache.ErrCorrupt) || !errors.As(err, &se) || se.Op != "load" {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
		if name != "missing data" && name != "negative time" {
			if err := st.Save(ctx, p, tokencache.Record{Generation: 1, Data: []byte("fresh")}); err != nil {
				t.Errorf("%s: save over corrupt: %v", name, err)
			}
		}
	}
	// Prefixes isolate stores.
	other := New(rdb, nil)
	if rec, err := other.Load(ctx, p); err != nil || rec.Generation != 0 {
		t.Errorf("default prefix sees another prefix: %v %v", rec, err)
	}
}

func TestSaveRace(t *testing.T) {
	srv := startRedis(t)
	st := New(srv.client(t), nil)
	ctx := ctxT(t)
	var wins atomic.Int64
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := st.Save(ctx, "p", tokencache.Record{Generation: 1, Data: []byte(fmt.Sprint(i))})
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, tokencache.ErrConflict):
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d writers won generation 1, want 1", wins.Load())
	}
}

func TestLock(t *testing.T) {
	srv := startRedis(t)
	rdb := srv.client(t)
	// The TTL is short so that renewal must happen, but generous enough for
	// a loaded test machine to renew in time.
	st := New(rdb, &Options{LockTTL: 3 * time.Second, MaxLockWait: 20 * time.Millisecond})
	ctx := ctxT(t)

	unlock, err := st.Lock(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	// Held past its TTL thanks to renewal: another locker times out.
	short, cancel := context.WithTimeout(ctx, 7*time.Second) // over twice the TTL
	_, err = st.Lock(short, "p")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("busy lock: err = %v, want deadline exceeded", err)
	}
	// Another partition is independent.
	u2, err := st.Lock(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	u2()
	got := make(chan time.Time, 1)
	go func() {
		u, err := st.Lock(ctx, "p")
		if err != nil {
			t.Error(err)
		}
		got <- time.Now()
		u()
	}()
	time.Sleep(100 * time.Millisecond)
	released := time.Now()
	unlock()
	unlock() // twice is harmless
	if at := <-got; at.Before(released) {
		t.Error("second locker got the lock before it was released")
	}

	// A crashed holder's lock expires.
	rdb.Set(ctx, st.lockKey("crashed"), "someone-else", 200*time.Millisecond)
	start := time.Now()
	u3, err := st.Lock(ctx, "crashed")
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Error("took a lock held by another process")
	}
	// Our unlock does not delete a lock that is no longer ours.
	rdb.Set(ctx, st.lockKey("crashed"), "thief", time.Minute)
	u3()
	if v := rdb.Get(ctx, st.lockKey("crashed")).Val(); v != "thief" {
		t.Errorf("unlock removed another holder's lock (value now %q)", v)
	}
}

func TestMutualExclusion(t *testing.T) {
	srv := startRedis(t)
	ctx := ctxT(t)
	// Four stores with their own clients stand in for four processes.
	var inside, maxInside, total atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		st := New(srv.client(t), &Options{MaxLockWait: 5 * time.Millisecond})
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					u, err := st.Lock(ctx, "p")
					if err != nil {
						t.Error(err)
						return
					}
					n := inside.Add(1)
					for m := maxInside.Load(); n > m && !maxInside.CompareAndSwap(m, n); m = maxInside.Load() {
					}
					time.Sleep(time.Millisecond)
					inside.Add(-1)
					total.Add(1)
					u()
				}
			}()
		}
	}
	wg.Wait()
	if maxInside.Load() != 1 || total.Load() != 160 {
		t.Errorf("max holders %d (want 1), total %d (want 160)", maxInside.Load(), total.Load())
	}
}

func TestRedisDown(t *testing.T) {
	srv := startRedis(t)
	var logs bytes.Buffer
	st := New(srv.client(t), &Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := ctxT(t)
	if err := st.Save(ctx, "p", tokencache.Record{Generation: 1, Data: []byte("secret-data")}); err != nil {
		t.Fatal(err)
	}
	srv.stop()
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	for name, err := range map[string]error{
		"load":   func() error { _, err := st.Load(short, "p"); return err }(),
		"save":   st.Save(short, "p", tokencache.Record{Generation: 2, Data: []byte("secret-data")}),
		"delete": st.Delete(short, "p"),
		"lock":   func() error { _, err := st.Lock(short, "p"); return err }(),
	} {
		var se *Error
		if err == nil || !errors.As(err, &se) || se.Op != name || strings.Contains(err.Error(), "secret-data") {
			t.Errorf("%s with Redis down: err = %v", name, err)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("calls with Redis down took %s, beyond their ctx", d)
	}
	srv.restart()
	if err := st.Save(ctx, "p", tokencache.Record{Generation: 1, Data: []byte("again")}); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestRedaction(t *testing.T) {
	st := New(nil, &Options{Prefix: "x:"})
	err := &Error{Op: "save", Partition: "p", Err: tokencache.ErrConflict}
	for _, s := range []string{fmt.Sprintf("%v %+v %#v", st, st, st), err.Error()} {
		if strings.Contains(s, "rdb") || strings.Contains(s, "0x") {
			t.Errorf("%q", s)
		}
	}
}

// TestLockWakeup shows that a waiter retries when the holder releases, not
// only on its back-off timer: with a 5 s back-off cap, a waiter that has
// waited 3 s would otherwise sleep for seconds more.
func TestLockWakeup(t *testing.T) {
	srv := startRedis(t)
	ctx := ctxT(t)
	holder := New(srv.client(t), nil)
	waiter := New(srv.client(t), &Options{MaxLockWait: 5 * time.Second})
	unlock, err := holder.Lock(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan time.Time, 1)
	go func() {
		u, err := waiter.Lock(ctx, "p")
		if err != nil {
			t.Error(err)
			got <- time.Time{}
			return
		}
		got <- time.Now()
		u()
	}()
	time.Sleep(3 * time.Second)
	released := time.Now()
	unlock()
	at := <-got
	if d := at.Sub(released); d < 0 || d > 500*time.Millisecond {
		t.Errorf("waiter took the lock %s after the release, want it within 500ms", d)
	}
}
