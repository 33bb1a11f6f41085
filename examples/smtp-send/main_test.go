package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/smtptest"
	"github.com/modernauth/mailauth/internal/fake/testpki"
)

func TestSendWithTokenFile(t *testing.T) {
	idp, err := fakeidp.New(fakeidp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	ca, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := smtptest.New(smtptest.Options{Verify: idp.Verify, TLSConfig: ca.ServerConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tok, err := idp.Mint(fakeidp.Claims{UPN: "alice@contoso.test", Audience: "https://outlook.office365.com",
		Scp: []string{"SMTP.Send"}, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tokFile, caFile := filepath.Join(dir, "tok"), filepath.Join(dir, "ca.pem")
	os.WriteFile(tokFile, []byte(tok), 0o600)
	os.WriteFile(caFile, ca.CertPEM(), 0o600)
	args := []string{"-addr", srv.Addr(), "-access-token-file", tokFile, "-ca-file", caFile, "-mailbox", "alice@contoso.test", "-to", "bob@example.com"}

	var out, errOut bytes.Buffer
	if code := run(append(args, "-subject", "Hello", "-body-file", "-"), strings.NewReader("line one\nline two\n"), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].From != "alice@contoso.test" || !strings.Contains(string(msgs[0].Data), "Subject: Hello\r\n") ||
		!strings.Contains(string(msgs[0].Data), "line one\r\nline two\r\n") {
		t.Fatalf("delivered: %+v", msgs)
	}
	if st := srv.Stats(); st.LongAuthLines != 0 || st.AuthRoundTrips != 2 {
		t.Fatalf("stats %+v: the token must go in a continuation line", st)
	}

	// Sending as a shared mailbox without SendAs: the typed refusal with its fix.
	errOut.Reset()
	if code := run(append(args, "-from", "shared@contoso.test"), nil, &out, &errOut); code != 1 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(errOut.String(), "SendAs") || strings.Contains(errOut.String(), tok[:40]) {
		t.Fatalf("stderr: %s", errOut.String())
	}

	// SMTP AUTH disabled for the tenant.
	srv.FailNextAuth(smtptest.ReplyAuthDisabled)
	errOut.Reset()
	if code := run(args, nil, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "Set-CASMailbox") {
		t.Fatalf("exit %d, stderr: %s", code, errOut.String())
	}
}
