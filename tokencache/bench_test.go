package tokencache

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/internal/fakeidp"
)

// The anchors and ours, hit path only. Run all four in one go test run:
//
//	go test -run '^$' -bench 'BenchmarkHit|BenchmarkSave' -benchmem -count 5 ./tokencache

type failSource struct{}

func (failSource) Token() (*oauth2.Token, error) { panic("unexpected fetch") }

// hitCases returns the hit functions compared by BenchmarkHit and
// BenchmarkHitParallel, each with a valid cached token.
func hitCases(b *testing.B) []struct {
	name string
	hit  func() bool
} {
	exp := time.Now().Add(time.Hour)

	c := New(nil)
	src := c.Wrap("bench", oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x", Expiry: exp}))
	if _, err := src.Token(); err != nil {
		b.Fatal(err)
	}

	reuse := oauth2.ReuseTokenSource(&oauth2.Token{AccessToken: "x", Expiry: exp}, failSource{})

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
	cca, err := confidential.New(idp.Authority(tTenant), tApp, cred,
		confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(idp.HTTPClient()))
	if err != nil {
		b.Fatal(err)
	}
	scopes := []string{"https://outlook.office365.com/.default"}
	ctx := context.Background()
	if _, err := cca.AcquireTokenByCredential(ctx, scopes); err != nil {
		b.Fatal(err)
	}

	return []struct {
		name string
		hit  func() bool
	}{
		// One clock read and a compare: the floor of any hit that checks expiry.
		{"clock-floor", func() bool { return time.Now().Before(exp) }},
		{"mailauth", func() bool { t, err := src.Token(); return err == nil && t != nil }},
		{"x-oauth2-reuse", func() bool { t, err := reuse.Token(); return err == nil && t != nil }},
		{"msal-app-only", func() bool {
			r, err := cca.AcquireTokenByCredential(ctx, scopes)
			return err == nil && r.AccessToken != ""
		}},
	}
}

func BenchmarkHit(b *testing.B) {
	for _, tc := range hitCases(b) {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !tc.hit() {
					b.Fatal("miss")
				}
			}
		})
	}
}

func BenchmarkHitParallel(b *testing.B) {
	for _, tc := range hitCases(b) {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !tc.hit() {
						b.Error("miss")
						return
					}
				}
			})
		})
	}
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
			fs, err := NewFileStore(dir)
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
