package popauth_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/internal/fake/hostile"
	"github.com/modernauth/mailauth/internal/fake/testpki"
	"github.com/modernauth/mailauth/popauth"
)

// popReplies answers CAPA with caps (or floods after reply when floodOn
// is CAPA), STLS with +OK, and floods after reply on floodOn.
func popReplies(caps, floodOn, reply string) func(string) (string, bool) {
	return func(line string) (string, bool) {
		cmd, _, _ := strings.Cut(strings.ToUpper(line), " ")
		if cmd == floodOn {
			return reply, true
		}
		switch cmd {
		case "CAPA":
			return caps, false
		}
		return "-ERR what\r\n", false
	}
}

// Hostile POP3 servers: an endless greeting line, endless CAPA lines, an
// endless CAPA line, endless SASL continuation. Every dial fails with "line
// too long" within its deadline and the heap grows by less than 8 MiB.
func TestHostileServerLineTooLong(t *testing.T) {
	ca, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	const caps = "+OK\r\nSASL XOAUTH2\r\nSTLS\r\n.\r\n"
	cases := []struct {
		name     string
		startTLS bool
		srv      *hostile.Server
	}{
		{"TLS/endless greeting", false, &hostile.Server{Greeting: "+OK ", Flood: "AAAAAAAA"}},
		{"TLS/endless CAPA lines", false, &hostile.Server{Greeting: "+OK hi\r\n", Flood: "X\r\n", Reply: popReplies(caps, "CAPA", "+OK\r\n")}},
		{"TLS/endless CAPA line", false, &hostile.Server{Greeting: "+OK hi\r\n", Flood: "XXXXXXXX", Reply: popReplies(caps, "CAPA", "+OK\r\n")}},
		{"TLS/endless challenge line", false, &hostile.Server{Greeting: "+OK hi\r\n", Flood: "AAAAAAAA", Reply: popReplies(caps, "AUTH", "+ ")}},
		{"plaintext/endless greeting", true, &hostile.Server{Greeting: "+OK ", Flood: "AAAAAAAA"}},
		{"plaintext/endless CAPA lines", true, &hostile.Server{Greeting: "+OK hi\r\n", Flood: "X\r\n", Reply: popReplies(caps, "CAPA", "+OK\r\n")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := c.srv
			if !c.startTLS {
				srv.TLS = ca.ServerConfig()
			}
			addr, err := srv.Start()
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			opts := &popauth.Options{Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"}), Mailbox: "alice@contoso.test",
				TLSConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}}
			hostile.ExpectLineTooLong(t, 5*time.Second, func(ctx context.Context) error {
				var err error
				if c.startTLS {
					_, err = popauth.DialStartTLS(ctx, addr, opts)
				} else {
					_, err = popauth.DialTLS(ctx, addr, opts)
				}
				return err
			})
		})
	}
}

// A 40 KB token that the server drops or refuses is reported with the
// token's size, and with the server's words when it gave any.
func TestBigTokenCause(t *testing.T) {
	ca, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	tok := hostile.BigToken("alice@contoso.test", 40<<10)
	for _, c := range []struct {
		name  string
		reply string
		drop  bool
	}{
		{"refused", "-ERR Line too long\r\n", false},
		{"dropped", "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := &hostile.Server{Greeting: "+OK hi\r\n", TLS: ca.ServerConfig(),
				Reply: func(line string) (string, bool) {
					switch {
					case len(line) > 8192:
						return c.reply, c.drop
					case strings.EqualFold(line, "CAPA"):
						return "+OK\r\nSASL XOAUTH2\r\n.\r\n", false
					case strings.HasPrefix(strings.ToUpper(line), "AUTH"):
						return "+ \r\n", false
					}
					return "-ERR what\r\n", false
				}}
			addr, err := srv.Start()
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err = popauth.DialTLS(ctx, addr, &popauth.Options{Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok}), Mailbox: "alice@contoso.test",
				TLSConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}})
			t.Logf("%v", err)
			var ae *mailauth.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want an AuthError", err)
			}
			if want := fmt.Sprintf("token is %d bytes", len(tok)); !strings.Contains(err.Error(), want) {
				t.Fatalf("the error does not name the token size (%q): %v", want, err)
			}
			if ae.ServerText == "" {
				t.Fatal("empty server text")
			}
			if !c.drop && !strings.Contains(err.Error(), "Line too long") {
				t.Fatalf("the server's words are lost: %v", err)
			}
		})
	}
}
