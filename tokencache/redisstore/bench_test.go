package redisstore

import (
	"context"
	"testing"

	"github.com/modernauth/mailauth/tokencache"
)

// benchSetup returns a warm app-only source over the given store.
func benchSetup(b *testing.B, store tokencache.Store) *tokencache.Source {
	b.Helper()
	idp, cl := replicaIdP(b, 0)
	c := tokencache.New(&tokencache.Options{Store: store, HTTPClient: idp.HTTPClient()})
	app, err := c.AppOnly(tokencache.AppOnlyConfig{Cloud: cl, TenantID: rTenant, ClientID: rApp, Credential: tokencache.ClientSecret(rSecret)})
	if err != nil {
		b.Fatal(err)
	}
	src := app.Source(cl.AppOnlyScope())
	if _, err := src.TokenContext(context.Background()); err != nil {
		b.Fatal(err)
	}
	return src
}

func benchStores(b *testing.B) map[string]func() tokencache.Store {
	srv := startRedis(b)
	rdb := srv.client(b)
	n := 0
	prefix := func() string { n++; return "bench" + string(rune('a'+n)) + ":" }
	return map[string]func() tokencache.Store{
		"memory": func() tokencache.Store { return tokencache.NewMemoryStore() },
		"redis":  func() tokencache.Store { return New(rdb, &Options{Prefix: prefix()}) },
		"redis+aes": func() tokencache.Store {
			s, err := tokencache.NewEncryptedStore(New(rdb, &Options{Prefix: prefix()}), []byte(aesKey))
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
}

// BenchmarkHit shows that the hit path does not touch the store.
func BenchmarkHit(b *testing.B) {
	stores := benchStores(b)
	for _, name := range []string{"memory", "redis", "redis+aes"} {
		b.Run("store="+name, func(b *testing.B) {
			src := benchSetup(b, stores[name]())
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := src.TokenContext(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFlight is one whole miss: take the partition lock, reload the
// record, ask the IdP (fakeidp on loopback, no added latency), save by
// compare-and-set, release the lock.
func BenchmarkFlight(b *testing.B) {
	stores := benchStores(b)
	for _, name := range []string{"memory", "redis", "redis+aes"} {
		b.Run("store="+name, func(b *testing.B) {
			src := benchSetup(b, stores[name]())
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				tok, err := src.TokenContext(ctx)
				if err != nil {
					b.Fatal(err)
				}
				src.Invalidate(tok)
				if _, err := src.TokenContext(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStoreOps measures the Redis round trips a flight adds.
func BenchmarkStoreOps(b *testing.B) {
	srv := startRedis(b)
	st := New(srv.client(b), &Options{Prefix: "ops:"})
	ctx := context.Background()
	data := make([]byte, 4096)
	b.Run("op=lock+unlock", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			u, err := st.Lock(ctx, "p")
			if err != nil {
				b.Fatal(err)
			}
			u()
		}
	})
	b.Run("op=save-4KiB", func(b *testing.B) {
		rec, err := st.Load(ctx, "p") // b.Run calls this function more than once
		if err != nil {
			b.Fatal(err)
		}
		gen := rec.Generation
		b.ReportAllocs()
		for b.Loop() {
			gen++
			if err := st.Save(ctx, "p", tokencache.Record{Generation: gen, Data: data}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=load-4KiB", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := st.Load(ctx, "p"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
