package interop

import (
	"context"
	"testing"

	"github.com/modernauth/mailauth/popauth"
)

// BenchmarkPOP3LoginDovecot measures one POP3 session against Dovecot on
// loopback: TCP connect, TLS handshake, greeting, CAPA, two-step AUTH
// XOAUTH2 with a token Dovecot verifies (RS256), the STAT probe and QUIT.
func BenchmarkPOP3LoginDovecot(b *testing.B) {
	l := newLab(b)
	o := &popauth.Options{Mailbox: alice, Token: newSource(l.token(b, alice)), TLSConfig: l.tls}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c, err := popauth.DialTLS(ctx, l.dc.POP3SAddr, o)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Quit(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
