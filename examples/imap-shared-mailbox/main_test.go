package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/imaptest"
	"github.com/modernauth/mailauth/internal/fake/testpki"
)

func TestSharedMailboxWithTokenFile(t *testing.T) {
	idp, err := fakeidp.New(fakeidp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	ca, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := imaptest.New(imaptest.Options{Verify: idp.Verify, TLSConfig: ca.ServerConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.AddMailbox("shared@contoso.test", "alice@contoso.test")
	srv.AddMailbox("private@contoso.test")
	srv.Deliver("shared@contoso.test", []byte("From: bob@example.com\r\nSubject: Quarterly numbers\r\n\r\nhi\r\n"))

	tok, err := idp.Mint(fakeidp.Claims{UPN: "alice@contoso.test", Audience: "https://outlook.office365.com",
		Scp: []string{"IMAP.AccessAsUser.All"}, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tokFile, caFile := filepath.Join(dir, "tok"), filepath.Join(dir, "ca.pem")
	os.WriteFile(tokFile, []byte(tok+"\n"), 0o600)
	os.WriteFile(caFile, ca.CertPEM(), 0o600)

	var out, errOut bytes.Buffer
	args := []string{"-addr", srv.Addr(), "-access-token-file", tokFile, "-ca-file", caFile, "-v"}
	if code := run(append(args, "-mailbox", "shared@contoso.test"), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"PASS: opened shared@contoso.test as alice@contoso.test with XOAUTH2", "INBOX: 1 message(s)", "Quarterly numbers"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(errOut.String(), tok[:40]) {
		t.Fatal("transcript shows the token")
	}

	// No permission on the mailbox: the typed failure and its explanation.
	out.Reset()
	errOut.Reset()
	if code := run(append(args, "-mailbox", "private@contoso.test"), &out, &errOut); code != 1 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(errOut.String(), "not connected") || !strings.Contains(errOut.String(), "FullAccess") {
		t.Errorf("stderr: %s", errOut.String())
	}

	// The legacy form is refused before connecting.
	errOut.Reset()
	if code := run(append(args, "-mailbox", `alice@contoso.test\shared@contoso.test`), &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "not supported") {
		t.Errorf("legacy form: %s", errOut.String())
	}
}
