package imapauth_test

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/modernauth/mailauth/imapauth"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/imaptest"
)

// BenchmarkDial measures one full IMAP connection on loopback (TCP, TLS, greeting,
// AUTHENTICATE XOAUTH2 with a cached token, LIST probe) and reports the round trips the
// AUTHENTICATE command itself cost, as counted by the server: 1 with SASL-IR, 2 without.
func BenchmarkDial(b *testing.B) {
	for _, bc := range []struct {
		name     string
		noSASLIR bool
	}{{"sasl-ir", false}, {"no-sasl-ir", true}} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnv(b, fakeidp.Options{})
			srv := e.server(imaptest.Options{NoSASLIR: bc.noSASLIR})
			opts := &imapauth.Options{Token: e.appSource(time.Minute), Mailbox: shared, TLSConfig: e.tlsConfig()}
			ctx := context.Background()
			c, err := imapauth.DialTLS(ctx, srv.Addr(), opts) // warm the token cache
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
			srv.ResetStats()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c, err := imapauth.DialTLS(ctx, srv.Addr(), opts)
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
			b.StopTimer()
			st := srv.Stats()
			b.ReportMetric(float64(st.AuthRoundTrips)/float64(st.AuthAttempts), "auth-roundtrips/op")
			if want := map[bool]int64{false: 1, true: 2}[bc.noSASLIR]; st.AuthRoundTrips != want*st.AuthAttempts {
				b.Fatalf("round trips %d for %d authentications, want %d each", st.AuthRoundTrips, st.AuthAttempts, want)
			}
		})
	}
}

// BenchmarkAuthenticate times AUTHENTICATE alone (token from a warm cache, no probe) on an
// already greeted TLS connection, so the extra round trip without SASL-IR shows.
func BenchmarkAuthenticate(b *testing.B) {
	for _, bc := range []struct {
		name     string
		noSASLIR bool
	}{{"sasl-ir", false}, {"no-sasl-ir", true}} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnv(b, fakeidp.Options{})
			srv := e.server(imaptest.Options{NoSASLIR: bc.noSASLIR})
			src := e.appSource(time.Minute)
			if _, err := src.Token(); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			srv.ResetStats()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				conn, err := tls.Dial("tcp", srv.Addr(), e.tlsConfig())
				if err != nil {
					b.Fatal(err)
				}
				c := imapclient.New(conn, nil)
				if err := c.WaitGreeting(); err != nil {
					b.Fatal(err)
				}
				c.Caps()
				b.StartTimer()
				if _, err := imapauth.Authenticate(ctx, c, &imapauth.Options{Token: src, Mailbox: shared, Conn: conn, NoProbe: true}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				c.Close()
				b.StartTimer()
			}
			b.StopTimer()
			st := srv.Stats()
			b.ReportMetric(float64(st.AuthRoundTrips)/float64(st.AuthAttempts), "auth-roundtrips/op")
		})
	}
}
