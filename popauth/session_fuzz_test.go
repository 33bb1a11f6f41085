package popauth

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// FuzzSession plays arbitrary server bytes against a whole client session
// (greeting, CAPA, AUTH with challenges, STAT probe, LIST, UIDL, RETR, TOP,
// QUIT): whatever the server sends, the client must not panic and must
// return within its deadline.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"+OK hi\r\n+OK\r\nSASL XOAUTH2\r\n.\r\n+ \r\n+OK Logged in.\r\n+OK 1 5\r\n+OK\r\n1 5\r\n.\r\n+OK\r\n1 abc\r\n.\r\n+OK\r\nhello\r\n..x\r\n.\r\n+OK\r\nh\r\n.\r\n+OK bye\r\n",
		"+OK\r\n-ERR\r\n+ \r\n+ eyJzdGF0dXMiOiI0MDEifQ==\r\n-ERR [AUTH] no\r\n",
		"+OK\r\n+OK\r\n.\r\n+ \r\n+ e30=\r\n+ e30=\r\n+ e30=\r\n-ERR x\r\n",
		"+OK\r\n+OK\r\n.\r\n+ \r\n+ !!!\r\n-ERR\r\n",
		"-ERR [SYS/TEMP] busy\r\n",
		"+OK\r\n+OK\r\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		client, server := net.Pipe()
		defer client.Close()
		go func() {
			defer server.Close()
			go io.Copy(io.Discard, server)
			server.SetWriteDeadline(time.Now().Add(time.Second))
			server.Write(script)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		c, err := NewClient(ctx, client, &Options{InsecureAllowPlaintext: true})
		if err == nil {
			src := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"})
			c.Authenticate(ctx, "u@example.com", src)
			c.List(ctx)
			c.UIDL(ctx)
			if r, err := c.Retr(ctx, 1); err == nil {
				io.Copy(io.Discard, r)
				r.Close()
			}
			if r, err := c.Top(ctx, 1, 0); err == nil {
				r.Close()
			}
			c.Quit(ctx)
		}
		if time.Since(start) > 3*time.Second {
			t.Fatalf("session took %v", time.Since(start))
		}
	})
}
