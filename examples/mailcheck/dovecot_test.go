package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/testpki"
	"github.com/modernauth/mailauth/internal/interop/dovecot"
)

// TestDovecot runs mailcheck against a real Dovecot 2.3 (a server nobody here wrote) that
// validates the tokens itself: the same binary that diagnoses Exchange Online passes
// against it, and fails with the right cause for an expired token.
func TestDovecot(t *testing.T) {
	const user = "alice@example.com"
	idp, err := fakeidp.New(fakeidp.Options{DovecotClaims: true})
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	ca, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	const scopes = "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send"
	srv := dovecot.Start(t, dovecot.Options{
		PublicKeyPEM: idp.PublicKeyPEM(), KeyID: idp.KeyID(),
		ClientID: "https://outlook.office365.com", Scope: scopes,
		CertPEM: certPEM, KeyPEM: keyPEM, Users: []string{user},
		Messages: map[string][]string{user: {"From: <carol@example.com>\r\nSubject: hi\r\n\r\nhello\r\n"}},
	})
	if srv == nil {
		return // skipped: Dovecot is not installed
	}
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, ca.CertPEM(), 0o644)
	mint := func(exp time.Time) string {
		tok, err := idp.Mint(fakeidp.Claims{Audience: "https://outlook.office365.com", Subject: "sub-alice", TenantID: "t1",
			UPN: user, Email: user, Scope: scopes, Scp: strings.Fields(scopes),
			IssuedAt: time.Now().Add(-2 * time.Hour), ExpiresAt: exp})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "tok")
		os.WriteFile(p, []byte(tok), 0o600)
		return p
	}
	check := func(tokFile string, wantCode int, want ...string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{"-access-token-file", tokFile, "-ca-file", caFile, "-mailbox", user,
			"-protocols", "imap,pop,smtp", "-imap-addr", srv.IMAPAddr, "-pop-addr", srv.POP3Addr, "-smtp-addr", srv.SubmissionAddr,
			"-timeout", "60s"}, &out, &errOut)
		tok, _ := os.ReadFile(tokFile)
		if strings.Contains(out.String()+errOut.String(), string(tok)) {
			t.Fatal("mailcheck printed the token")
		}
		if code != wantCode {
			t.Fatalf("exit %d, want %d\n%s\n%s", code, wantCode, out.String(), errOut.String())
		}
		for _, w := range want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("output lacks %q:\n%s", w, out.String())
			}
		}
	}
	check(mint(time.Now().Add(time.Hour)), 0, "all checks passed")
	check(mint(time.Now().Add(-time.Minute)), 1, "FAIL", "expired")
}
