package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/testpki"
	"github.com/modernauth/mailauth/internal/interop/dovecot"
	"github.com/modernauth/mailauth/relay"
)

func TestHashPassword(t *testing.T) {
	for _, args := range [][]string{{"hash-password"}, {"hash-password", "-bcrypt", "-bcrypt-cost", "4"}} {
		var out, errOut bytes.Buffer
		code := run(t.Context(), args, strings.NewReader("s3cret pw\n"), &out, &errOut, nil)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut.String())
		}
		hash := strings.TrimSpace(out.String())
		if !relay.CheckPassword(hash, "s3cret pw") || relay.CheckPassword(hash, "s3cret") {
			t.Fatalf("%v: hash %q does not check", args, hash)
		}
	}
}

// A plaintext listener on an address that is not loopback is refused at start.
func TestPlaintextNonLoopbackRefused(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(tok, []byte("opaque-token-value"), 0o600)
	t.Setenv("RELAY_PW", "pw")
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"-plaintext", "-imap-listen", "0.0.0.0:0", "-imap-upstream", "127.0.0.1:1",
		"-access-token-file", tok, "-mailbox", "a@example.com", "-local-password-env", "RELAY_PW"}, nil, &out, &errOut, nil)
	if code != 2 || !strings.Contains(errOut.String(), "not loopback") {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if strings.Contains(errOut.String(), "opaque-token-value") {
		t.Fatal("token printed")
	}
}

func TestHelpListsFlags(t *testing.T) {
	var errOut bytes.Buffer
	run(t.Context(), []string{"-h"}, nil, &bytes.Buffer{}, &errOut, nil)
	for _, f := range []string{"-imap-listen", "-pop-listen", "-smtp-listen", "-imap-upstream", "-pop-upstream", "-smtp-upstream",
		"-graph-url", "-mailbox", "-local-user", "-local-password-env", "-tls-cert", "-tls-key", "-smtp-allow-unauthenticated",
		"-access-token-file", "-cache", "-tenant", "-client-id", "-ca-file", "-config", "MAILAUTH_IMAP_LISTEN"} {
		if !strings.Contains(errOut.String(), f) {
			t.Errorf("-h lacks %s", f)
		}
	}
}

const pyRead = `
import imaplib, poplib, os, ssl
ctx = ssl.create_default_context(cafile=os.environ.get("CAFILE")) if os.environ.get("CAFILE") else None
M = imaplib.IMAP4(os.environ["HOST"], int(os.environ["PORT"]))
if ctx:
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    M.starttls(ctx)
M.login(os.environ["USER_"], os.environ["PW"])
M.select("INBOX")
typ, data = M.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
print(data[0][1].decode().strip())
M.logout()
`

// The program in front of a real Dovecot: flags and environment variables for one
// account, then a -config file with two; Python's imaplib logs in with the local
// password; SIGTERM-style cancellation shuts down cleanly; nothing secret is printed.
func TestDovecot(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		dovecot.Skip(t, "python3 is not installed")
	}
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
		Messages: map[string][]string{user: {"From: <carol@example.com>\r\nSubject: hi from dovecot\r\n\r\nhello\r\n"}},
	})
	if srv == nil {
		return
	}
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, ca.CertPEM(), 0o644)
	tok, err := idp.Mint(fakeidp.Claims{Audience: "https://outlook.office365.com", Subject: "sub-alice", TenantID: "t1",
		UPN: user, Email: user, Scope: scopes, Scp: strings.Fields(scopes),
		IssuedAt: time.Now().Add(-time.Minute), ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	tokFile := filepath.Join(dir, "tok")
	os.WriteFile(tokFile, []byte(tok), 0o600)
	const pw = "printer-pw-42"

	start := func(args []string) (map[relay.Protocol]string, func() (int, string)) { return startProgram(t, args) }
	login := func(addr, localUser string, tls bool) string {
		host, port, _ := strings.Cut(addr, ":")
		cmd := exec.Command(py, "-c", pyRead)
		cmd.Env = append(os.Environ(), "HOST="+host, "PORT="+port, "USER_="+localUser, "PW="+pw)
		if tls {
			cmd.Env = append(cmd.Env, "CAFILE="+caFile)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("python: %v\n%s", err, out)
		}
		return string(out)
	}

	// One account from flags and MAILAUTH_ variables; STARTTLS with a self-signed
	// certificate made in -state-dir.
	t.Setenv("RELAY_PW", pw)
	t.Setenv("MAILAUTH_IMAP_LISTEN", "127.0.0.1:0")
	t.Setenv("MAILAUTH_IMAP_UPSTREAM", srv.IMAPAddr)
	addrs, stop := start([]string{"-access-token-file", tokFile, "-ca-file", caFile, "-mailbox", user, "-local-user", "printer",
		"-local-password-env", "RELAY_PW", "-state-dir", filepath.Join(dir, "state"), "-failure-delay", "10ms", "-v"})
	if out := login(addrs[relay.IMAP], "printer", true); !strings.Contains(out, "Subject: hi from dovecot") {
		t.Fatalf("read through relay: %s", out)
	}
	code, log := stop()
	if code != 0 {
		t.Fatalf("exit %d: %s", code, log)
	}
	// -v: the session transcript, both legs, the password and the token masked.
	for _, want := range []string{"SHA-256 fingerprint", "shutting down", "sessions=1",
		"-- TLS started", ` LOGIN "printer" [REDACTED]`, "upstream ", "AUTHENTICATE XOAUTH2", "-- logged in; bytes are copied"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	for _, secret := range []string{tok, pw} {
		if strings.Contains(log, secret) {
			t.Fatal("log holds a secret")
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "state", "key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("self-signed key: %v %v", fi, err)
	}

	// Two accounts from a -config file (keys are the flag names).
	os.Unsetenv("MAILAUTH_IMAP_LISTEN")
	h, err := relay.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	cfg := "imap-listen: 127.0.0.1:0\nimap_upstream: " + srv.IMAPAddr + "\nca-file: " + caFile + "\nplaintext: true\nfailure-delay: 10ms\n" +
		"access-token-file: " + tokFile + "\naccounts:\n" +
		"  - user: scanner\n    password_hash: '" + h + "'\n    mailbox: " + user + "\n" +
		"  - user: script\n    password_hash: '" + h + "'\n    mailbox: " + user + "\n"
	cfgFile := filepath.Join(dir, "relay.yaml")
	os.WriteFile(cfgFile, []byte(cfg), 0o600)
	addrs, stop = start([]string{"-config", cfgFile})
	for _, u := range []string{"scanner", "script"} {
		if out := login(addrs[relay.IMAP], u, false); !strings.Contains(out, "Subject: hi from dovecot") {
			t.Fatalf("%s: %s", u, out)
		}
	}
	code, log = stop()
	if code != 0 || strings.Contains(log, h) || strings.Contains(log, tok) {
		t.Fatalf("exit %d: %s", code, log)
	}
}

// startProgram runs the program with args until it is listening and returns its
// listeners' addresses and a stop function that cancels it and returns its exit code and
// log.
func startProgram(t *testing.T, args []string) (addrs map[relay.Protocol]string, stop func() (int, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var errOut syncBuf
	got := make(chan map[relay.Protocol]string, 1)
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, args, nil, &bytes.Buffer{}, &errOut, func(m map[relay.Protocol]string) { got <- m })
	}()
	select {
	case addrs = <-got:
	case c := <-code:
		cancel()
		t.Fatalf("exit %d: %s", c, errOut.String())
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("not ready")
	}
	return addrs, func() (int, string) { cancel(); return <-code, errOut.String() }
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
