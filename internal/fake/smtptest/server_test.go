package smtptest

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/testpki"
)

// The server's own contract: TLS required before AUTH on STARTTLS, OnMessage called,
// SendAs enforced, and its XOAUTH2 parser strict.
func TestServerContract(t *testing.T) {
	idp, err := fakeidp.New(fakeidp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	ca, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan Message, 1)
	s, err := New(Options{Verify: idp.Verify, TLSConfig: ca.ServerConfig(), OnMessage: func(m Message) { got <- m }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tok, _ := idp.Mint(fakeidp.Claims{UPN: "a@x.test", Audience: DefaultAudience, Scp: []string{"SMTP.Send"}, ExpiresAt: time.Now().Add(time.Hour)})

	// Plaintext AUTH before STARTTLS is refused with 523 5.7.10 ... or not offered at all.
	pc, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if pc.SupportsAuth("XOAUTH2") {
		t.Fatal("AUTH advertised before TLS")
	}
	pc.Close()

	c, err := smtp.DialStartTLS(s.Addr(), &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(xoauth2{"a@x.test", tok}); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@x.test", []string{"b@y.test"}, strings.NewReader("Subject: s\r\n\r\nb\r\n")); err != nil {
		t.Fatal(err)
	}
	if m := <-got; m.From != "a@x.test" || m.AuthUser != "a@x.test" {
		t.Fatalf("OnMessage got %+v", m)
	}
	err = c.SendMail("other@x.test", []string{"b@y.test"}, strings.NewReader("Subject: s\r\n\r\nb\r\n"))
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 554 {
		t.Fatalf("SendAs not enforced: %v", err)
	}
}

type xoauth2 struct{ user, tok string }

func (x xoauth2) Start() (string, []byte, error) { return "XOAUTH2", nil, nil }
func (x xoauth2) Next([]byte) ([]byte, error) {
	return []byte("user=" + x.user + "\x01auth=Bearer " + x.tok + "\x01\x01"), nil
}
