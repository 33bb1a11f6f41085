package tokencache

import (
	"context"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

type failSource struct{}

func (failSource) Token() (*oauth2.Token, error) { panic("unexpected fetch") }

func BenchmarkHit(b *testing.B) {
	b.Run("clock-floor", func(b *testing.B) {
		exp := time.Now().Add(time.Hour)
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if time.Now().Before(exp) {
				n++
			}
		}
		if n == 0 {
			b.Fatal("no hit")
		}
	})
	b.Run("mailauth", func(b *testing.B) {
		c := New(nil)
		tok := &oauth2.Token{AccessToken: "x", Expiry: time.Now().Add(time.Hour)}
		src := c.Wrap("bench", oauth2.StaticTokenSource(tok))
		if _, err := src.Token(); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := src.Token(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("x-oauth2-reuse", func(b *testing.B) {
		tok := &oauth2.Token{AccessToken: "x", Expiry: time.Now().Add(time.Hour)}
		src := oauth2.ReuseTokenSource(tok, failSource{})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := src.Token(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

var _ = context.Background
