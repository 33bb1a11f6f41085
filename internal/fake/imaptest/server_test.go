package imaptest

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/testpki"
)

// Before STARTTLS the server offers no mechanism and refuses AUTHENTICATE with
// PRIVACYREQUIRED, byte for byte as RFC 9051 §6.2.1 and Dovecot do.
func TestPlaintextPhaseRefusesAuth(t *testing.T) {
	idp, err := fakeidp.New(fakeidp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	ca, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Verify: idp.Verify, TLSConfig: ca.ServerConfig(), Mode: StartTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	line := func() string { l, _ := br.ReadString('\n'); return l }
	if g := line(); !strings.HasPrefix(g, "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED]") {
		t.Fatalf("greeting %q", g)
	}
	c.Write([]byte("a1 AUTHENTICATE XOAUTH2 dXNlcj1hAWF1dGg9QmVhcmVyIHgBAQ==\r\n"))
	if r := line(); r != "a1 NO [PRIVACYREQUIRED] TLS is required to authenticate\r\n" {
		t.Fatalf("reply %q", r)
	}
	c.Write([]byte("a2 CAPABILITY\r\n"))
	if r := line(); strings.Contains(r, "AUTH=") {
		t.Fatalf("mechanisms advertised before TLS: %q", r)
	}
	if st := s.Stats(); st.AuthAttempts != 0 {
		t.Fatalf("stats %+v", st)
	}
}
