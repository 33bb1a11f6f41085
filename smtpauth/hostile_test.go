package smtpauth_test

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
	"github.com/modernauth/mailauth/smtpauth"
)

// smtpReplies answers EHLO with caps and floods after the command named
// floodOn (with reply as the first bytes).
func smtpReplies(caps, floodOn, reply string) func(string) (string, bool) {
	return func(line string) (string, bool) {
		cmd, _, _ := strings.Cut(strings.ToUpper(line), " ")
		if cmd == floodOn {
			return reply, true
		}
		switch cmd {
		case "EHLO":
			return caps, false
		case "STARTTLS":
			return "454 4.7.0 no\r\n", false
		}
		return "502 5.5.2 what\r\n", false
	}
}

// Hostile servers: an endless greeting line, endless "250-" EHLO lines,
// endless 334 challenge lines. Every dial fails with "line too long" within
// its deadline and the heap grows by less than 8 MiB.
func TestHostileServerLineTooLong(t *testing.T) {
	ca, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	const caps = "250-mx.contoso.test\r\n250-STARTTLS\r\n250 AUTH XOAUTH2\r\n"
	cases := []struct {
		name     string
		startTLS bool
		srv      *hostile.Server
	}{
		{"TLS/endless greeting", false, &hostile.Server{Greeting: "220 ", Flood: "AAAAAAAA"}},
		{"TLS/endless EHLO lines", false, &hostile.Server{Greeting: "220 hi\r\n", Flood: "250-X\r\n", Reply: smtpReplies(caps, "EHLO", "250-mx\r\n")}},
		{"TLS/endless challenge", false, &hostile.Server{Greeting: "220 hi\r\n", Flood: "334-AAAA\r\n", Reply: smtpReplies(caps, "AUTH", "")}},
		{"TLS/endless challenge line", false, &hostile.Server{Greeting: "220 hi\r\n", Flood: "AAAAAAAA", Reply: smtpReplies(caps, "AUTH", "334 ")}},
		{"plaintext/endless greeting", true, &hostile.Server{Greeting: "220 ", Flood: "AAAAAAAA"}},
		{"plaintext/endless EHLO lines", true, &hostile.Server{Greeting: "220 hi\r\n", Flood: "250-X\r\n", Reply: smtpReplies(caps, "EHLO", "250-mx\r\n")}},
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
			opts := &smtpauth.Options{Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"}), Mailbox: alice,
				TLSConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}}
			hostile.ExpectLineTooLong(t, 5*time.Second, func(ctx context.Context) error {
				var err error
				if c.startTLS {
					_, err = smtpauth.DialStartTLS(ctx, addr, opts)
				} else {
					_, err = smtpauth.DialTLS(ctx, addr, opts)
				}
				return err
			})
		})
	}
}

// A TLS server whose greeting is garbage is reported as a bad greeting, not
// as a server without XOAUTH2.
func TestGarbageGreetingTLS(t *testing.T) {
	ca, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, greeting := range []string{"garbage\r\n", "HTTP/1.1 400 Bad Request\r\n\r\n", "\x00\x01\x02\r\n", "554 5.7.1 go away\r\n"} {
		srv := &hostile.Server{Greeting: greeting, Flood: "", TLS: ca.ServerConfig(), Reply: func(string) (string, bool) { return "", false }}
		addr, err := srv.Start()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = smtpauth.DialTLS(ctx, addr, &smtpauth.Options{Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"}), Mailbox: alice,
			TLSConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}})
		cancel()
		srv.Close()
		t.Logf("%q: %v", greeting, err)
		if err == nil || errors.Is(err, smtpauth.ErrNoOAuthMechanism) || !strings.Contains(err.Error(), "greeting") {
			t.Fatalf("greeting %q: err = %v, want a bad greeting", greeting, err)
		}
	}
}

// A 40 KB token that the server refuses ("500 5.5.2 Line too long", what
// go-smtp and Exchange answer) or drops is reported with the token's size
// and the server's words, not as a mailbox permission problem.
func TestBigTokenCause(t *testing.T) {
	ca, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	tok := hostile.BigToken(alice, 40<<10)
	const caps = "250-mx.contoso.test\r\n250 AUTH XOAUTH2\r\n"
	for _, c := range []struct {
		name  string
		reply string
		drop  bool
	}{
		{"refused", "500 5.5.2 Line too long\r\n", false},
		{"dropped", "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := &hostile.Server{Greeting: "220 mx ESMTP\r\n", TLS: ca.ServerConfig(),
				Reply: func(line string) (string, bool) {
					switch {
					case len(line) > 8192:
						return c.reply, c.drop
					case strings.HasPrefix(strings.ToUpper(line), "EHLO"):
						return caps, false
					case strings.HasPrefix(strings.ToUpper(line), "AUTH"):
						return "334 \r\n", false
					}
					return "502 5.5.2 what\r\n", false
				}}
			addr, err := srv.Start()
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err = smtpauth.DialTLS(ctx, addr, &smtpauth.Options{Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok}), Mailbox: alice,
				TLSConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}})
			t.Logf("%v", err)
			var ae *mailauth.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want an AuthError", err)
			}
			if want := fmt.Sprintf("token is %d bytes", len(tok)); !strings.Contains(err.Error(), want) {
				t.Fatalf("the error does not name the token size (%q): %v", want, err)
			}
			if !c.drop && !strings.Contains(err.Error(), "Line too long") {
				t.Fatalf("the server's words are lost: %v", err)
			}
			var mae *mailauth.MailboxAccessError
			if errors.As(err, &mae) {
				t.Fatalf("reported as a mailbox access problem: %v", err)
			}
		})
	}
}
