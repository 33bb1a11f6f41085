package main

import (
	"context"
	"encoding/pem"
	"flag"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/testpki"
	"github.com/modernauth/mailauth/internal/interop/dovecot"
	"github.com/modernauth/mailauth/internal/tool/cli"
	"github.com/modernauth/mailauth/relay"
)

// The token-cache modes end to end: mailrelay gets its tokens from the fake Entra ID
// through the token cache (delegated from a cache file signed in beforehand, app-only
// with a client secret from the environment) and Python's imaplib reads alice's and a
// shared mailbox on a real Dovecot through it. A token Dovecot refuses is invalidated
// and a fresh one fetched, once.
func TestDovecotTokenCacheModes(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		dovecot.Skip(t, "python3 is not installed")
	}
	const (
		tenant    = "contoso.test"
		pubClient = "relay-public-client"
		appClient = "relay-daemon"
		secret    = "app-secret-7f3c-never-printed"
		alice     = "alice@contoso.test"
		shared    = "shared@contoso.test"
		pw        = "printer-pw-42"
		audience  = "https://outlook.office365.com"
	)
	idp, err := fakeidp.New(fakeidp.Options{DovecotClaims: true, DefaultUser: alice, AutoApproveDevice: true})
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	idp.AddUser(fakeidp.User{TenantID: tenant, UPN: alice})
	idp.AddApp(fakeidp.App{TenantID: tenant, ClientID: pubClient})
	idp.AddApp(fakeidp.App{TenantID: tenant, ClientID: appClient, Secret: secret, Roles: []string{"IMAP.AccessAsApp"}, Mailbox: shared})
	ca, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srv := dovecot.Start(t, dovecot.Options{
		PublicKeyPEM: idp.PublicKeyPEM(), KeyID: idp.KeyID(), AZPs: []string{pubClient, appClient},
		Issuers: []string{idp.URL() + "/" + tenant + "/v2.0"}, ClientID: audience,
		CertPEM: certPEM, KeyPEM: keyPEM, Users: []string{alice, shared},
		Messages: map[string][]string{
			alice:  {"From: <carol@contoso.test>\r\nSubject: for alice\r\n\r\nhello\r\n"},
			shared: {"From: <carol@contoso.test>\r\nSubject: for the shared mailbox\r\n\r\nhello\r\n"},
		},
	})
	if srv == nil {
		return
	}
	dir := t.TempDir()
	// One CA file for every TLS connection: the IdP's certificate and Dovecot's CA.
	caFile := filepath.Join(dir, "ca.pem")
	caPEM := append(ca.CertPEM(), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.Certificate().Raw})...)
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	cacheFile := filepath.Join(dir, "tokens")
	idpFlags := []string{"-authority-host", idp.URL(), "-tenant", tenant, "-ca-file", caFile, "-cache", cacheFile}

	start := func(args []string) (string, func() (int, string)) {
		addrs, stop := startProgram(t, args)
		return addrs[relay.IMAP], stop
	}
	read := func(addr string) (string, error) {
		host, port, _ := strings.Cut(addr, ":")
		cmd := exec.Command(py, "-c", pyRead)
		cmd.Env = append(os.Environ(), "HOST="+host, "PORT="+port, "USER_=printer", "PW="+pw)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	relayArgs := func(mailbox string, more ...string) []string {
		return append(append([]string{"-imap-listen", "127.0.0.1:0", "-imap-upstream", srv.IMAPAddr, "-plaintext",
			"-mailbox", mailbox, "-local-user", "printer", "-local-password-env", "RELAY_PW", "-failure-delay", "10ms"},
			idpFlags...), more...)
	}
	t.Setenv("RELAY_PW", pw)

	t.Run("delegated", func(t *testing.T) {
		// Sign in once into the cache file, as `token login` does (device code, approved
		// by the fake IdP), through the same cli package.
		fs := flag.NewFlagSet("login", flag.ContinueOnError)
		f := cli.Register(fs)
		if err := cli.Parse(fs, append([]string{"-client-id", pubClient, "-mailbox", alice, "-device-code"}, idpFlags...)); err != nil {
			t.Fatal(err)
		}
		env, err := cli.Setup(f, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		if err := env.EnsureSignedIn(ctx); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(cacheFile); err != nil || fi.Mode().Perm()&0o077 != 0 {
			t.Fatalf("cache file: %v %v", fi, err)
		}
		devicePolls := idp.Requests(fakeidp.GrantDeviceCode)

		// The relay, without -device-code: it uses the signed-in account from the file.
		addr, stop := start(relayArgs(alice, "-client-id", pubClient))
		out, err := read(addr)
		code, log := stop()
		if err != nil || !strings.Contains(out, "Subject: for alice") {
			t.Fatalf("read through relay: %v\n%s\nrelay log:\n%s", err, out, log)
		}
		if code != 0 {
			t.Fatalf("exit %d: %s", code, log)
		}
		if n := idp.Requests(fakeidp.GrantDeviceCode); n != devicePolls {
			t.Fatalf("the relay signed in again (%d device code requests, %d before)", n, devicePolls)
		}
		if idp.Requests(fakeidp.GrantRefreshToken) == 0 {
			t.Fatal("the relay did not redeem the stored refresh token")
		}
		if !strings.Contains(log, "sessions=1") {
			t.Fatalf("log lacks sessions=1:\n%s", log)
		}
	})

	t.Run("app-only", func(t *testing.T) {
		t.Setenv("MAILAUTH_CLIENT_SECRET", secret)
		idp.ResetCounters()
		addr, stop := start(relayArgs(shared, "-client-id", appClient))
		out, err := read(addr)
		code, log := stop()
		if err != nil || !strings.Contains(out, "Subject: for the shared mailbox") {
			t.Fatalf("read through relay: %v\n%s\nrelay log:\n%s", err, out, log)
		}
		if code != 0 || strings.Contains(log, secret) {
			t.Fatalf("exit %d: %s", code, log)
		}
		if n := idp.Requests(fakeidp.GrantClientCredentials); n != 1 {
			t.Fatalf("%d client credentials requests, want 1", n)
		}
	})

	t.Run("refused-token-retried-once", func(t *testing.T) {
		t.Setenv("MAILAUTH_CLIENT_SECRET", secret)
		idp.ResetCounters()
		// The next client-credentials answer carries a well-formed token for the wrong
		// audience: the cache takes it, Dovecot refuses it.
		now := time.Now()
		bad, err := idp.Mint(fakeidp.Claims{Audience: "https://wrong.example", Issuer: idp.URL() + "/" + tenant + "/v2.0",
			TenantID: tenant, AppID: appClient, Email: shared, Roles: []string{"IMAP.AccessAsApp"},
			IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		idp.InjectFaults(fakeidp.Fault{Grant: fakeidp.GrantClientCredentials, Status: http.StatusOK,
			Body: `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"` + bad + `"}`})
		// A cache file of its own, so that the app-only token stored above is not used.
		addr, stop := start(relayArgs(shared, "-client-id", appClient, "-cache", filepath.Join(dir, "tokens-retry"), "-v"))
		out, err := read(addr)
		code, log := stop()
		if err != nil || !strings.Contains(out, "Subject: for the shared mailbox") {
			t.Fatalf("read through relay: %v\n%s\nrelay log:\n%s", err, out, log)
		}
		if !strings.Contains(log, "retrying once with a fresh token") {
			t.Errorf("log does not record the retry:\n%s", log)
		}
		if code != 0 || strings.Contains(log, bad) || strings.Contains(log, bad[len(bad)-20:]) {
			t.Fatalf("exit %d: %s", code, log)
		}
		if idp.PendingFaults() != 0 {
			t.Fatal("the refused token was never fetched")
		}
		if n := idp.Requests(fakeidp.GrantClientCredentials); n != 2 {
			t.Fatalf("%d client credentials requests, want 2 (the refused token, then one fresh)", n)
		}
	})
}
