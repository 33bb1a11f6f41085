package relay_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/modernauth/mailauth/imapauth"
	"github.com/modernauth/mailauth/relay"
)

const benchUser = "bench@example.com"

var benchLab struct {
	once sync.Once
	l    *lab
	size int64
	err  error
}

// bigLab is a Dovecot whose bench@example.com INBOX holds 100 messages of 1 MiB (100 MiB).
func bigLab(b *testing.B) (*lab, int64) {
	benchLab.once.Do(func() {
		body := strings.Repeat(strings.Repeat("0123456789abcdef", 4)+"\r\n", (1<<20)/66)
		var msgs []string
		for i := range 100 {
			m := fmt.Sprintf("From: <carol@example.com>\r\nTo: <%s>\r\nSubject: big %d\r\n\r\n%s", benchUser, i, body)
			msgs = append(msgs, m)
			benchLab.size += int64(len(m))
		}
		benchLab.l, benchLab.err = buildLab(map[string][]string{benchUser: msgs})
	})
	if benchLab.err != nil {
		b.Fatal(benchLab.err)
	}
	return benchLab.l, benchLab.size
}

// fetchAll selects INBOX and reads every message's full body into io.Discard.
func fetchAll(b *testing.B, c *imapclient.Client) int64 {
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		b.Fatal(err)
	}
	var set imap.SeqSet
	set.AddRange(1, sel.NumMessages)
	cmd := c.Fetch(set, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	var n int64
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			if body, ok := item.(imapclient.FetchItemDataBodySection); ok {
				k, _ := io.Copy(io.Discard, body.Literal)
				n += k
			}
		}
	}
	if err := cmd.Close(); err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkIMAPFetch100MB fetches a 100 MiB mailbox (100 x 1 MiB, BODY.PEEK[]) directly
// from Dovecot (STARTTLS, XOAUTH2) and through the relay (a plaintext loopback client
// with LOGIN; the relay speaks STARTTLS and XOAUTH2 to the same Dovecot).
func BenchmarkIMAPFetch100MB(b *testing.B) {
	if testing.Short() {
		b.Skip("100 MiB mailbox")
	}
	l, size := bigLab(b)
	tok := l.token(b, benchUser)
	b.Run("direct", func(b *testing.B) {
		cfg := l.tls.Clone()
		cfg.ServerName = "localhost"
		c, err := imapauth.DialStartTLS(context.Background(), l.dc.IMAPAddr,
			&imapauth.Options{Mailbox: benchUser, Token: &countingSource{tok: tok}, TLSConfig: cfg})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.SetBytes(size)
		for b.Loop() {
			if n := fetchAll(b, c.Client); n < size {
				b.Fatalf("read %d of %d bytes", n, size)
			}
		}
	})
	b.Run("relay", func(b *testing.B) {
		rn := startRelay(b, l, func(o *relay.Options) {
			o.Accounts[0].Mailbox = benchUser
			o.Accounts[0].Token = &countingSource{tok: tok}
		})
		conn, err := net.Dial("tcp", rn.imap)
		if err != nil {
			b.Fatal(err)
		}
		c := imapclient.New(conn, nil)
		defer c.Close()
		if err := c.Login("alice", alicePW).Wait(); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(size)
		for b.Loop() {
			if n := fetchAll(b, c); n < size {
				b.Fatalf("read %d of %d bytes", n, size)
			}
		}
	})
}

// BenchmarkIMAPLogin is one IMAP login with a cached token: directly to Dovecot
// (connect, STARTTLS, AUTHENTICATE XOAUTH2, LOGOUT) and through the relay (connect,
// LOGIN with the local password, which the relay checks against its argon2id hash
// before it does the same upstream, LOGOUT). The difference is the latency the relay adds.
func BenchmarkIMAPLogin(b *testing.B) {
	l := newLab(b)
	src := &countingSource{tok: l.token(b, alice)}
	b.Run("direct", func(b *testing.B) {
		cfg := l.tls.Clone()
		cfg.ServerName = "localhost"
		o := &imapauth.Options{Mailbox: alice, Token: src, TLSConfig: cfg, NoProbe: true}
		for b.Loop() {
			c, err := imapauth.DialStartTLS(context.Background(), l.dc.IMAPAddr, o)
			if err != nil {
				b.Fatal(err)
			}
			c.Logout().Wait()
			c.Close()
		}
	})
	b.Run("relay", func(b *testing.B) {
		rn := startRelay(b, l, nil)
		for b.Loop() {
			conn, err := net.Dial("tcp", rn.imap)
			if err != nil {
				b.Fatal(err)
			}
			c := imapclient.New(conn, nil)
			if err := c.Login("alice", alicePW).Wait(); err != nil {
				b.Fatal(err)
			}
			c.Logout().Wait()
			c.Close()
		}
	})
}
