package imapauth_test

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
	"github.com/modernauth/mailauth/imapauth"
	"github.com/modernauth/mailauth/internal/fake/hostile"
	"github.com/modernauth/mailauth/internal/fake/testpki"
)

// floodAfter returns a Reply that answers the client's first line (tag
// first) with reply and then floods.
func floodAfter(reply string) func(string) (string, bool) {
	return func(line string) (string, bool) {
		tag, _, _ := strings.Cut(line, " ")
		return strings.ReplaceAll(reply, "TAG", tag), true
	}
}

// Hostile servers that never end a line or never end their capability or
// challenge lines: every dial fails with "line too long" well within its
// deadline, and the heap grows by less than 8 MiB.
func TestHostileServerLineTooLong(t *testing.T) {
	ca, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	const capsOK = "* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=XOAUTH2 SASL-IR] hi\r\n"
	cases := []struct {
		name     string
		startTLS bool
		srv      *hostile.Server
	}{
		{"TLS/endless greeting", false, &hostile.Server{Greeting: "* OK ", Flood: "AAAAAAAA"}},
		{"TLS/endless capability line", false, &hostile.Server{Greeting: "* OK hi\r\n", Flood: "AUTH=X ", Reply: floodAfter("* CAPABILITY IMAP4rev1 ")}},
		// The flooded lines offer XOAUTH2: go-imap asks for CAPABILITY by itself after a
		// greeting without them, and a client that reads the first flooded line before it
		// looks may go on to AUTHENTICATE; either way only the budget can end the dial.
		// (Lines without XOAUTH2 let such a client stop early with ErrNoOAuthMechanism.)
		{"TLS/endless capability lines", false, &hostile.Server{Greeting: "* OK hi\r\n", Flood: "* CAPABILITY IMAP4rev1 AUTH=XOAUTH2\r\n", Reply: floodAfter("")}},
		{"TLS/endless challenge", false, &hostile.Server{Greeting: capsOK, Flood: "AAAAAAAA", Reply: floodAfter("+ ")}},
		{"plaintext/endless greeting", true, &hostile.Server{Greeting: "* OK ", Flood: "AAAAAAAA"}},
		{"plaintext/endless untagged lines", true, &hostile.Server{Greeting: "* OK hi\r\n", Flood: "* CAPABILITY IMAP4rev1\r\n", Reply: floodAfter("")}},
	}
	for _, c := range cases {
		for _, raw := range []bool{false, true} {
			name := c.name
			if raw {
				name = "raw/" + name // RawConn: the same budget, line by line
			}
			hostileDial(t, name, ca, c.startTLS, raw, &hostile.Server{Greeting: c.srv.Greeting, Flood: c.srv.Flood, Reply: c.srv.Reply})
		}
	}
}

// hostileDial dials srv with DialTLS or DialStartTLS (raw: their Raw forms) and checks
// that the dial fails with ErrLineTooLong, in time, with bounded memory.
func hostileDial(t *testing.T, name string, ca *testpki.CA, startTLS, raw bool, srv *hostile.Server) {
	t.Run(name, func(t *testing.T) {
		if !startTLS {
			srv.TLS = ca.ServerConfig()
		}
		addr, err := srv.Start()
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		opts := &imapauth.Options{Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"}), Mailbox: alice,
			TLSConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}}
		hostile.ExpectLineTooLong(t, 5*time.Second, func(ctx context.Context) error {
			var err error
			switch {
			case raw && startTLS:
				_, err = imapauth.DialStartTLSRaw(ctx, addr, opts)
			case raw:
				_, err = imapauth.DialTLSRaw(ctx, addr, opts)
			case startTLS:
				_, err = imapauth.DialStartTLS(ctx, addr, opts)
			default:
				_, err = imapauth.DialTLS(ctx, addr, opts)
			}
			return err
		})
		t.Logf("server sent %d bytes", srv.Sent())
	})
}

// A 40 KB token that the server drops or refuses is reported with the
// token's size, keeping the server's own words.
func TestBigTokenCause(t *testing.T) {
	ca, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	tok := hostile.BigToken(alice, 40<<10)
	for _, c := range []struct {
		name  string
		reply string // "" drops the connection
	}{
		{"dropped", ""},
		{"refused", "TAG BAD Line too long\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := &hostile.Server{Greeting: "* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2 SASL-IR] hi\r\n", TLS: ca.ServerConfig(),
				Reply: func(line string) (string, bool) {
					tag, _, _ := strings.Cut(line, " ")
					if len(line) > 8192 {
						return strings.ReplaceAll(c.reply, "TAG", tag), true
					}
					return tag + " NO what\r\n", false
				}}
			addr, err := srv.Start()
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err = imapauth.DialTLS(ctx, addr, &imapauth.Options{Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok}), Mailbox: alice,
				TLSConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}})
			t.Logf("%v", err)
			var ae *mailauth.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want an AuthError", err)
			}
			if want := fmt.Sprintf("token is %d bytes", len(tok)); !strings.Contains(err.Error(), want) {
				t.Fatalf("the error does not name the token size (%q): %v", want, err)
			}
			if c.reply != "" && !strings.Contains(err.Error(), "Line too long") {
				t.Fatalf("the server's words are lost: %v", err)
			}
			if strings.Contains(err.Error(), tok[:40]) {
				t.Fatal("the token appears in the error")
			}
		})
	}
}
