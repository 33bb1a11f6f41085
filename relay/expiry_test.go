package relay_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/internal/fake/testpki"
	"github.com/modernauth/mailauth/relay"
)

// fakeExchangeIMAP is an implicit-TLS IMAP server that accepts any XOAUTH2 login (with
// or without an initial response), answers the LIST "" "" probe, and ends the session
// as Exchange does when the token expires: an untagged BYE naming AccessTokenExpired on
// the next command, then the connection closes.
func fakeExchangeIMAP(t *testing.T, ca *testpki.CA) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ca.ServerConfig("127.0.0.1"))
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				c.Write([]byte("* OK Exchange ready\r\n"))
				loggedIn := false
				for {
					l, err := br.ReadString('\n')
					if err != nil {
						return
					}
					tag, rest, _ := strings.Cut(strings.TrimSpace(l), " ")
					switch {
					case loggedIn && rest == `LIST "" ""`: // the relay's probe after login
						c.Write([]byte("* LIST (\\Noselect \\HasChildren) \"/\" \"\"\r\n" + tag + " OK LIST completed.\r\n"))
					case loggedIn:
						c.Write([]byte("* BYE Session invalidated - AccessTokenExpired\r\n"))
						return
					case strings.HasPrefix(rest, "CAPABILITY"):
						c.Write([]byte("* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+\r\n" + tag + " OK CAPABILITY completed.\r\n"))
					case strings.HasPrefix(rest, "AUTHENTICATE XOAUTH2"):
						if rest == "AUTHENTICATE XOAUTH2" { // no initial response (SASL-IR)
							c.Write([]byte("+ \r\n"))
							if _, err := br.ReadString('\n'); err != nil {
								return
							}
						}
						c.Write([]byte(tag + " OK AUTHENTICATE completed.\r\n"))
						loggedIn = true
					case strings.HasPrefix(rest, "LOGOUT"):
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// An upstream session that Exchange ends on token expiry ends cleanly for the client:
// it gets the BYE and then the end of the connection. The capabilities shown before
// login are Exchange's with AUTH=PLAIN only.
func TestUpstreamTokenExpiryEndsClientSession(t *testing.T) {
	t.Parallel()
	ca, err := testpki.New()
	require.NoError(t, err)
	up := fakeExchangeIMAP(t, ca)
	r, err := relay.New(&relay.Options{
		Accounts:  []relay.Account{{User: "alice", PasswordHash: aliceHash(t), Mailbox: alice, Token: &countingSource{tok: "t"}}},
		IMAP:      relay.Upstream{Addr: up, ImplicitTLS: true},
		TLSConfig: ca.ClientConfig(),
	})
	require.NoError(t, err)
	ln, err := r.Listen(relay.IMAP, "127.0.0.1:0", false)
	require.NoError(t, err)
	go r.Serve(t.Context(), relay.IMAP, ln)
	defer r.Shutdown(t.Context())

	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	lr := newLineReader(c)
	greet := lr.line(t)
	assert.Contains(t, greet, "UIDPLUS MOVE")
	assert.Contains(t, greet, "AUTH=PLAIN")
	assert.NotContains(t, greet, "XOAUTH2")
	_, err = c.Write([]byte("a LOGIN alice \"" + alicePW + "\"\r\n"))
	require.NoError(t, err)
	assert.Equal(t, "a OK AUTHENTICATE completed.\r\n", lr.line(t), "the upstream's tagged OK under the client's tag")
	_, err = c.Write([]byte("b NOOP\r\n"))
	require.NoError(t, err)
	assert.Contains(t, lr.line(t), "AccessTokenExpired")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = lr.br.ReadString('\n')
	assert.ErrorIs(t, err, io.EOF, "the relay closes the client's connection")
}

// Shutdown stops accepting at once, waits for open sessions until its context ends,
// then cuts them.
func TestShutdownDrainsThenCuts(t *testing.T) {
	t.Parallel()
	ca, err := testpki.New()
	require.NoError(t, err)
	up := fakeExchangeIMAP(t, ca)
	r, err := relay.New(&relay.Options{
		Accounts:  []relay.Account{{User: "alice", PasswordHash: aliceHash(t), Mailbox: alice, Token: &countingSource{tok: "t"}}},
		IMAP:      relay.Upstream{Addr: up, ImplicitTLS: true},
		TLSConfig: ca.ClientConfig(),
	})
	require.NoError(t, err)
	ln, err := r.Listen(relay.IMAP, "127.0.0.1:0", false)
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- r.Serve(t.Context(), relay.IMAP, ln) }()

	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	lr := newLineReader(c)
	lr.line(t)
	_, err = c.Write([]byte("a LOGIN alice \"" + alicePW + "\"\r\n"))
	require.NoError(t, err)
	require.Contains(t, lr.line(t), "a OK")

	start := time.Now() // before the deadline is set, so the wait is never measured short
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err = r.Shutdown(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "an idle session outlives the drain")
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "it waited for the session")
	assert.ErrorIs(t, <-served, relay.ErrClosed)
	_, err = lr.br.ReadString('\n')
	assert.Error(t, err, "the session was cut")
	_, err = net.DialTimeout("tcp", ln.Addr().String(), time.Second)
	assert.Error(t, err, "no longer accepting")
}
