package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modernauth/mailauth/internal/fake/poptest"
	"github.com/modernauth/mailauth/internal/fake/testpki"
)

func TestFetchWithTokenFileAndCAFile(t *testing.T) {
	ca, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := poptest.New(poptest.Options{
		TLSConfig: ca.ServerConfig(),
		Authorize: func(user, token string) error {
			if user == "alice@example.com" && token == "file-token" {
				return nil
			}
			return errors.New("no")
		},
		Mailboxes: map[string][]string{"alice@example.com": {"Subject: Hello\r\n\r\nbody\r\n.dot\r\n"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "tok")
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(tokFile, []byte("file-token\n"), 0o600)
	os.WriteFile(caFile, ca.CertPEM(), 0o600)
	base := []string{"-mailbox", "alice@example.com", "-addr", srv.Addr(), "-access-token-file", tokFile, "-ca-file", caFile}

	var out, errOut bytes.Buffer
	if code := run(base, &out, &errOut); code != 0 {
		t.Fatalf("list: exit %d, stderr %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "1 message(s)") || !strings.Contains(out.String(), "Hello") {
		t.Fatalf("list output: %q", out.String())
	}

	out.Reset()
	if code := run(append(base, "-retr", "1"), &out, &errOut); code != 0 {
		t.Fatalf("retr: exit %d, stderr %s", code, errOut.String())
	}
	if out.String() != "Subject: Hello\r\n\r\nbody\r\n.dot\r\n" {
		t.Fatalf("retr output: %q", out.String())
	}

	// A refused token prints the failure and a hint, never the token.
	os.WriteFile(tokFile, []byte("wrong-token"), 0o600)
	errOut.Reset()
	if code := run(base, &out, &errOut); code != 1 {
		t.Fatalf("refused token: exit %d", code)
	}
	if !strings.Contains(errOut.String(), "hint:") || strings.Contains(errOut.String(), "wrong-token") {
		t.Fatalf("stderr: %q", errOut.String())
	}

	// Without the CA the TLS handshake fails.
	errOut.Reset()
	if code := run(base[:6], &out, &errOut); code != 1 {
		t.Fatalf("no CA: exit %d, stderr %s", code, errOut.String())
	}
}
