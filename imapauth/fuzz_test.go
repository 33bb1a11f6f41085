package imapauth

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/internal/core/budget"
)

// FuzzByeWatcher feeds server bytes, cut in two reads at an arbitrary point, to the BYE
// detector: it must not panic, and a leading "* BYE <text>\r\n" must be found.
func FuzzByeWatcher(f *testing.F) {
	f.Add([]byte("* BYE Session invalidated - AccessTokenExpired\r\n"), uint16(3))
	f.Add([]byte("* OK hi\r\n* 1 EXISTS\r\n* BYE bye\r\n"), uint16(12))
	f.Add([]byte("* bye lower\n"), uint16(0))
	f.Add([]byte("a1 OK done\r\n"), uint16(100))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		w := newByeWatcher(nil)
		i := int(cut) % (len(data) + 1)
		w.scan(data[:i])
		w.scan(data[i:])
		got := w.text()
		if line, _, ok := bytes.Cut(data, []byte("\n")); ok && len(line) > 6 && strings.EqualFold(string(line[:6]), "* BYE ") && len(line) < 500 {
			want := strings.TrimRight(string(line[6:]), "\r")
			if got != want {
				t.Fatalf("bye text %q, want %q", got, want)
			}
		}
	})
}

// FuzzStartTLSReply runs the raw STARTTLS step against arbitrary server bytes: it must
// return (error or not) without panicking or hanging.
func FuzzStartTLSReply(f *testing.F) {
	f.Add([]byte("* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\nS1 OK Begin TLS\r\n"))
	f.Add([]byte("* OK hi\r\n* CAPABILITY X\r\nS1 NO nope\r\n"))
	f.Add([]byte("* BYE go away\r\n"))
	f.Add([]byte("* OK hi\r\nS1 OK go\r\ninjected\r\n"))
	f.Fuzz(func(t *testing.T, server []byte) {
		c1 := scriptedServer(server)
		defer c1.Close()
		_ = startTLSRaw(c1)
	})
}

// scriptedServer returns the client end of a pipe whose server end sends server, reads
// and drops whatever the client writes, and hangs up after a second. The client end has
// a two-second deadline.
func scriptedServer(server []byte) net.Conn {
	c1, c2 := net.Pipe()
	go func() {
		defer c2.Close()
		_ = c2.SetDeadline(time.Now().Add(time.Second))
		go func() {
			buf := make([]byte, 4096)
			for {
				if _, err := c2.Read(buf); err != nil {
					return
				}
			}
		}()
		_, _ = c2.Write(server)
	}()
	_ = c1.SetDeadline(time.Now().Add(2 * time.Second))
	return c1
}

// FuzzRawLogin runs RawConn's greeting, CAPABILITY, AUTHENTICATE and probe against
// arbitrary server bytes: it must return without panicking or hanging, and a success
// needs a tagged OK to the AUTHENTICATE.
func FuzzRawLogin(f *testing.F) {
	f.Add([]byte("* OK hi\r\n* CAPABILITY IMAP4rev1 AUTH=XOAUTH2 SASL-IR\r\nA1 OK done\r\nA2 OK [CAPABILITY IMAP4rev1] Logged in\r\n* LIST () \"/\" \"\"\r\nA3 OK LIST done\r\n"))
	f.Add([]byte("* OK hi\r\n* CAPABILITY IMAP4rev1 AUTH=XOAUTH2\r\nA1 OK done\r\n+ \r\nA2 OK Logged in\r\nA3 BAD User is authenticated but not connected.\r\n"))
	f.Add([]byte("* OK hi\r\n* CAPABILITY IMAP4rev1 AUTH=OAUTHBEARER\r\nA1 OK done\r\n+ \r\n+ eyJzdGF0dXMiOiI0MDEifQ==\r\nA2 NO [AUTHENTICATIONFAILED] no\r\n"))
	f.Add([]byte("* OK hi\r\n* CAPABILITY {5}\r\nAB CD\r\nA1 OK done\r\n* BYE going\r\n"))
	f.Add([]byte("* OK hi\r\n* CAPABILITY AUTH=XOAUTH2\r\nA1 OK\r\n+ !!\r\n+ \r\n+ \r\nA2 BAD cancelled\r\n"))
	f.Fuzz(func(t *testing.T, server []byte) {
		c1 := scriptedServer(server)
		defer c1.Close()
		o := &config{Options: Options{Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"}), Mailbox: "a@b.c"}}
		c := &RawConn{o: o, conn: c1, br: bufio.NewReaderSize(c1, 4096), bc: budget.New(c1, 0)}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := c.greetAndCaps(); err != nil {
			return
		}
		if err := c.login(ctx); err == nil && !strings.HasPrefix(strings.ToUpper(c.AuthText()), "OK") {
			t.Fatalf("logged in without a tagged OK: %q", c.AuthText())
		}
	})
}
