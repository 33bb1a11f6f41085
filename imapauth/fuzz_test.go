package imapauth

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"
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
		c1, c2 := net.Pipe()
		defer c1.Close()
		go func() {
			defer c2.Close()
			_ = c2.SetDeadline(time.Now().Add(time.Second))
			go func() {
				buf := make([]byte, 256)
				for {
					if _, err := c2.Read(buf); err != nil {
						return
					}
				}
			}()
			_, _ = c2.Write(server)
		}()
		_ = c1.SetDeadline(time.Now().Add(2 * time.Second))
		_ = startTLSRaw(c1)
	})
}
