package relay

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"
)

// loopConn is one end of a net.Pipe that says it comes from loopback, so the login
// paths are reached.
type loopConn struct{ net.Conn }

func (loopConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000} }
func (loopConn) LocalAddr() net.Addr  { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 143} }

var fuzzRelayOnce struct {
	sync.Once
	r *Relay
}

// fuzzRelay has one account (user "u", password "p", a cheap bcrypt hash) whose
// upstream cannot be reached, no failure delay, and a transcript.
func fuzzRelay(t testing.TB) *Relay {
	fuzzRelayOnce.Do(func() {
		h, err := bcrypt.GenerateFromPassword([]byte("p"), bcrypt.MinCost)
		if err != nil {
			panic(err)
		}
		src := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"})
		r, err := New(&Options{
			Accounts:       []Account{{User: "u", PasswordHash: string(h), Mailbox: "u@example.com", Token: src}},
			IMAP:           Upstream{Addr: "127.0.0.1:1"},
			POP3:           Upstream{Addr: "127.0.0.1:1"},
			SMTP:           Upstream{Addr: "127.0.0.1:1"},
			FailureDelay:   time.Nanosecond,
			MaxFailures:    1 << 30,
			DeviceNetworks: nil,
			DebugWriter:    io.Discard, // the transcript renderers see every input too
		})
		if err != nil {
			panic(err)
		}
		fuzzRelayOnce.r = r
	})
	return fuzzRelayOnce.r
}

// session feeds input to serve on a pipe, closes the client side and returns what
// the relay wrote until then.
func session(t *testing.T, serve func(context.Context, net.Conn), input []byte) string {
	server, client := net.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		serve(ctx, loopConn{server})
		server.Close()
	}()
	var out strings.Builder
	rd := make(chan struct{})
	go func() { io.Copy(&out, client); close(rd) }()
	client.SetWriteDeadline(time.Now().Add(2 * time.Second))
	client.Write(input)
	client.Close()
	<-rd
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("session did not end after the client closed")
	}
	return out.String()
}

func FuzzIMAPSession(f *testing.F) {
	for _, s := range []string{
		"a CAPABILITY\r\nb NOOP\r\nc LOGOUT\r\n",
		"a LOGIN u p\r\n",
		"a LOGIN \"u\" \"wrong \\\" pw\"\r\n",
		"a LOGIN {1}\r\nu {1}\r\nx\r\n",
		"a LOGIN {1+}\r\nu {5+}\r\nwrong\r\n",
		"a AUTHENTICATE PLAIN\r\nAHUAcA==\r\n",
		"a AUTHENTICATE PLAIN AHUAeA==\r\n",
		"a AUTHENTICATE PLAIN\r\n*\r\n",
		"a AUTHENTICATE XOAUTH2\r\n",
		"a STARTTLS\r\n",
		"a SELECT INBOX\r\n",
		"a LOGIN {99999999999}\r\n",
		"\r\n\r\n* BAD\r\n",
	} {
		f.Add([]byte(s))
	}
	r := fuzzRelay(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		out := session(t, r.serveIMAP, in)
		if !strings.HasPrefix(out, "* OK") {
			t.Fatalf("no greeting: %q", out)
		}
		if strings.Contains(out, "tok") || strings.Contains(out, r.order[0].PasswordHash) {
			t.Fatalf("secret in output: %q", out)
		}
	})
}

func FuzzPOP3Session(f *testing.F) {
	for _, s := range []string{
		"CAPA\r\nNOOP\r\nQUIT\r\n",
		"USER u\r\nPASS p\r\n",
		"USER u\r\nPASS wrong pass with spaces\r\n",
		"PASS p\r\n",
		"AUTH\r\nAUTH PLAIN\r\nAHUAcA==\r\n",
		"AUTH PLAIN AHUAeA==\r\n",
		"AUTH PLAIN\r\n*\r\n",
		"AUTH XOAUTH2\r\nSTLS\r\nRETR 1\r\n",
		"USER \r\nuser  u\r\n",
	} {
		f.Add([]byte(s))
	}
	r := fuzzRelay(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		out := session(t, r.servePOP3, in)
		if !strings.HasPrefix(out, "+OK") {
			t.Fatalf("no greeting: %q", out)
		}
		if strings.Contains(out, "tok") || strings.Contains(out, r.order[0].PasswordHash) {
			t.Fatalf("secret in output: %q", out)
		}
	})
}

// oneListener hands out one connection, then blocks until closed.
type oneListener struct {
	c      chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *oneListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.c:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}
func (l *oneListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *oneListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 587} }

func FuzzSMTPSession(f *testing.F) {
	for _, s := range []string{
		"EHLO x\r\nMAIL FROM:<a@b>\r\nQUIT\r\n",
		"EHLO x\r\nAUTH PLAIN AHUAcA==\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n",
		"EHLO x\r\nAUTH PLAIN\r\nAHUAeA==\r\n",
		"EHLO x\r\nAUTH LOGIN\r\ndQ==\r\ncA==\r\n",
		"EHLO x\r\nAUTH LOGIN dQ==\r\neA==\r\n",
		"EHLO x\r\nAUTH LOGIN\r\n*\r\n",
		"EHLO x\r\nAUTH XOAUTH2 AAAA\r\nSTARTTLS\r\n",
		"HELO x\r\nDATA\r\nRSET\r\nNOOP\r\n",
	} {
		f.Add([]byte(s))
	}
	r := fuzzRelay(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		out := session(t, func(ctx context.Context, c net.Conn) {
			closed := make(chan struct{})
			var once sync.Once
			l := &oneListener{c: make(chan net.Conn, 1), closed: make(chan struct{})}
			l.c <- &closeConn{Conn: c, f: func() { once.Do(func() { close(closed) }) }}
			tr := r.newTracer(SMTP, c)
			srv := r.smtpServerFor(r.smtpPlan(), tr)
			srv.Debug = &smtpTrace{t: tr} // as a traced session has it
			go srv.Serve(l)
			select {
			case <-closed:
			case <-ctx.Done():
			}
			l.Close()
			srv.Close()
		}, in)
		if !strings.HasPrefix(out, "220 ") {
			t.Fatalf("no greeting: %q", out)
		}
		if strings.Contains(out, "tok") || strings.Contains(out, r.order[0].PasswordHash) {
			t.Fatalf("secret in output: %q", out)
		}
	})
}

// closeConn calls f when closed.
type closeConn struct {
	net.Conn
	f func()
}

func (c *closeConn) Close() error { c.f(); return c.Conn.Close() }
