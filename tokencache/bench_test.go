package tokencache

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// The anchors and ours, hit path only. Run all four in one go test run:
//
//	go test -run '^$' -bench 'BenchmarkHit|BenchmarkSave' -benchmem -count 5 ./tokencache

type failSource struct{}

func (failSource) Token() (*oauth2.Token, error) { panic("unexpected fetch") }

// hitFixture holds one valid cached token in each contender.
type hitFixture struct {
	exp    time.Time
	src    *Source
	reuse  oauth2.TokenSource
	cca    confidential.Client
	scopes []string
}

func newHitFixture(b *testing.B) *hitFixture {
	f := &hitFixture{exp: time.Now().Add(time.Hour), scopes: []string{"https://outlook.office365.com/.default"}}

	c := New(nil)
	f.src = c.Wrap("bench", oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x", Expiry: f.exp}))
	if _, err := f.src.Token(); err != nil {
		b.Fatal(err)
	}

	f.reuse = oauth2.ReuseTokenSource(&oauth2.Token{AccessToken: "x", Expiry: f.exp}, failSource{})

	idp, err := fakeidp.New(fakeidp.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(idp.Close)
	idp.AddApp(fakeidp.App{TenantID: tTenant, ClientID: tApp, Secret: tSecret})
	cred, err := confidential.NewCredFromSecret(tSecret)
	if err != nil {
		b.Fatal(err)
	}
	f.cca, err = confidential.New(idp.Authority(tTenant), tApp, cred,
		confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(idp.HTTPClient()))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.cca.AcquireTokenByCredential(context.Background(), f.scopes); err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkHit compares single-goroutine hits. Each contender has its own
// loop (no closure call in between), so the figures are directly
// comparable with the clock floor.
func BenchmarkHit(b *testing.B) {
	f := newHitFixture(b)
	// One clock read and a compare: the floor of any hit that checks expiry.
	b.Run("clock-floor", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if time.Now().Before(f.exp) {
				n++
			}
		}
		if n == 0 {
			b.Fatal("expired")
		}
	})
	b.Run("mailauth", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.src.Token(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("x-oauth2-reuse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.reuse.Token(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("msal-app-only", func(b *testing.B) {
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.cca.AcquireTokenByCredential(ctx, f.scopes); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHitParallel is BenchmarkHit with every goroutine of
// RunParallel (GOMAXPROCS of them) hitting the same key.
func BenchmarkHitParallel(b *testing.B) {
	f := newHitFixture(b)
	b.Run("clock-floor", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			n := 0
			for pb.Next() {
				if time.Now().Before(f.exp) {
					n++
				}
			}
			if n < 0 {
				b.Error("unreachable")
			}
		})
	})
	b.Run("mailauth", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := f.src.Token(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("x-oauth2-reuse", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := f.reuse.Token(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("msal-app-only", func(b *testing.B) {
		ctx := context.Background()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := f.cca.AcquireTokenByCredential(ctx, f.scopes); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkHitSize measures a hit while the cache holds N keys. Each size
// cycles over up to 64 of its sources, spread over the whole cache, so the
// working set fits the CPU caches at every size and the figure shows what
// the number of entries held costs per hit (MSAL scans all of them).
func BenchmarkHitSize(b *testing.B) {
	for _, n := range []int{1, 100, 10_000, 100_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			c := New(nil)
			exp := time.Now().Add(time.Hour)
			hot := make([]*Source, 0, 64)
			step := max(n/64, 1)
			for i := range n {
				s := c.Wrap(fmt.Sprintf("user%06d@contoso.com", i), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x", Expiry: exp}))
				if _, err := s.Token(); err != nil {
					b.Fatal(err)
				}
				if i%step == 0 && len(hot) < cap(hot) {
					hot = append(hot, s)
				}
			}
			if c.Len() != n {
				b.Fatalf("cache holds %d keys, want %d", c.Len(), n)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := hot[i].Token(); err != nil {
					b.Fatal(err)
				}
				i++
				if i == len(hot) {
					i = 0
				}
			}
		})
	}
}

// BenchmarkSave measures the persistence of one partition after a token
// was acquired (encode, compare-and-set under the write lock,
// write-temp-fsync-rename) in a file store that holds N partitions. The
// store lives on tmpfs (/dev/shm) when there is one, so the figure is the
// cache's own work and not the disk's fsync latency.
func BenchmarkSave(b *testing.B) {
	for _, n := range []int{1, 10_000} {
		b.Run(fmt.Sprintf("partitions=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			if d, err := os.MkdirTemp("/dev/shm", "tokencache-bench-"); err == nil {
				dir = d
				b.Cleanup(func() { os.RemoveAll(d) })
			}
			fs, err := NewFileStore(filepath.Join(dir, "tokens"))
			if err != nil {
				b.Fatal(err)
			}
			c := New(&Options{Store: fs})
			ctx := context.Background()
			tok := storedToken{AccessToken: strings.Repeat("a", 1700), TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}
			parts := make([]*partition, n)
			for i := range parts {
				// Seed the other partitions' files directly (no fsync), as
				// earlier saves would have left them.
				name := PartitionName("https://login.microsoftonline.com", fmt.Sprintf("tenant-%05d", i), "app1", "")
				parts[i] = newPartition(c, name)
				parts[i].data.Tokens = map[string]storedToken{"k": tok}
				data, _ := json.Marshal(&parts[i].data)
				raw, _ := json.Marshal(fileRecord{V: 1, Partition: name, Generation: 1, Data: data})
				if err := os.WriteFile(fs.base(name)+".json", raw, 0o600); err != nil {
					b.Fatal(err)
				}
				parts[i].gen = 1
			}
			p := parts[n/2]
			b.ReportAllocs()
			for b.Loop() {
				p.save(ctx, func(d *partitionData) { d.Tokens["k"] = tok })
			}
			if c.Stats().StoreErrors != 0 {
				b.Fatal("store errors")
			}
		})
	}
}
