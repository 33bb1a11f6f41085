package poptest_test

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/poptest"
	"github.com/modernauth/mailauth/internal/fake/testpki"
)

func TestFakeIdPAuthorizer(t *testing.T) {
	idp, err := fakeidp.New(fakeidp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	auth := poptest.FakeIdPAuthorizer(idp, map[string][]string{"alice@contoso.test": {"shared@contoso.test"}})
	exp := time.Now().Add(time.Hour)
	mint := func(c fakeidp.Claims) string {
		c.ExpiresAt = exp
		s, err := idp.Mint(c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	aliceTok := mint(fakeidp.Claims{Audience: poptest.ExchangeAudience, UPN: "alice@contoso.test", Scp: []string{"POP.AccessAsUser.All"}})
	appTok := mint(fakeidp.Claims{Audience: poptest.ExchangeAudience, Roles: []string{"POP.AccessAsApp"}})
	graphTok := mint(fakeidp.Claims{Audience: "https://graph.microsoft.com", UPN: "alice@contoso.test", Scp: []string{"POP.AccessAsUser.All"}})
	noScope := mint(fakeidp.Claims{Audience: poptest.ExchangeAudience, UPN: "alice@contoso.test", Scp: []string{"IMAP.AccessAsUser.All"}})
	for _, tc := range []struct {
		name, user, tok string
		ok              bool
	}{
		{"own mailbox", "Alice@Contoso.test", aliceTok, true},
		{"delegated shared mailbox", "shared@contoso.test", aliceTok, true},
		{"someone else", "bob@contoso.test", aliceTok, false},
		{"app-only", "bob@contoso.test", appTok, true},
		{"graph audience", "alice@contoso.test", graphTok, false},
		{"imap scope only", "alice@contoso.test", noScope, false},
		{"not a token", "alice@contoso.test", "garbage", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := auth(tc.user, tc.tok); (err == nil) != tc.ok {
				t.Fatalf("Authorize(%q) = %v, want ok=%v", tc.user, err, tc.ok)
			}
		})
	}
}

// TestWireTranscript checks the server's bytes against RFC 1939/5034 and the
// Exchange behaviour it models, without going through popauth.
func TestWireTranscript(t *testing.T) {
	ca, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := poptest.New(poptest.Options{
		TLSConfig: ca.ServerConfig(),
		Authorize: func(user, token string) error {
			if user == "a@b.test" && token == "tok" {
				return nil
			}
			return errors.New("no")
		},
		Mailboxes: map[string][]string{"a@b.test": {"Subject: s\n\n.x\n"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	conn, err := tls.Dial("tcp", srv.Addr(), ca.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	expect := func(want string) {
		t.Helper()
		got, err := br.ReadString('\n')
		if err != nil || got != want+"\r\n" {
			t.Fatalf("got %q (%v), want %q", got, err, want+"\r\n")
		}
	}
	send := func(s string) { conn.Write([]byte(s + "\r\n")) }
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

	expect("+OK poptest ready.")
	send("AUTH XOAUTH2")
	expect("+ ")
	send(b64("user=a@b.test\x01auth=Bearer bad\x01\x01"))
	expect(poptest.ExchangeAuthFailure)
	send("AUTH XOAUTH2")
	expect("+ ")
	send(b64("user=a@b.test\x01auth=Bearer tok\x01\x01"))
	expect("+OK Logged in.")
	send("RETR 1")
	expect("+OK 18 octets")
	expect("Subject: s")
	expect("")
	expect("..x")
	expect(".")
	send("QUIT")
	expect("+OK Bye.")

	// AUTH before STLS is refused without reading a payload.
	c2, err := net.Dial("tcp", srv.PlainAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetDeadline(time.Now().Add(10 * time.Second))
	r2 := bufio.NewReader(c2)
	r2.ReadString('\n')
	c2.Write([]byte("AUTH XOAUTH2 " + b64("user=a@b.test\x01auth=Bearer tok\x01\x01") + "\r\n"))
	line, _ := r2.ReadString('\n')
	if !strings.HasPrefix(line, "-ERR [AUTH] Plaintext") {
		t.Fatalf("AUTH before STLS: %q", line)
	}

	// One-line AUTH is refused and the connection closed, as Exchange does.
	c3, err := tls.Dial("tcp", srv.Addr(), ca.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	c3.SetDeadline(time.Now().Add(10 * time.Second))
	r3 := bufio.NewReader(c3)
	r3.ReadString('\n')
	c3.Write([]byte("AUTH XOAUTH2 " + b64("user=a@b.test\x01auth=Bearer tok\x01\x01") + "\r\n"))
	line, _ = r3.ReadString('\n')
	if line != "-ERR Protocol error. Connection is closed. 10\r\n" {
		t.Fatalf("one-line AUTH: %q", line)
	}
	if _, err := r3.ReadString('\n'); err == nil {
		t.Fatal("connection still open after a one-line AUTH")
	}
	if srv.TokensReceived() != 2 {
		t.Fatalf("TokensReceived = %d, want 2", srv.TokensReceived())
	}
}
