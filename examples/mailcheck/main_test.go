package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/lab"
	"github.com/modernauth/mailauth/internal/fake/smtptest"
)

type fixture struct {
	lab    *lab.Lab
	caFile string
	dir    string
	// secrets are every token minted for the test: no output may contain one.
	secrets []string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	l, err := lab.Start(lab.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	dir := t.TempDir()
	ca, err := l.WriteCAFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{lab: l, caFile: ca, dir: dir, secrets: []string{l.AppSecret}}
}

// token mints a token with the lab's key, writes it to a file and returns the path.
func (f *fixture) token(t *testing.T, c fakeidp.Claims) string {
	t.Helper()
	if c.Audience == "" {
		c.Audience = "https://outlook.office365.com"
	}
	if c.TenantID == "" {
		c.TenantID = lab.Tenant
	}
	if c.ExpiresAt.IsZero() {
		c.ExpiresAt = time.Now().Add(time.Hour)
	}
	c.IssuedAt = time.Now().Add(-time.Minute)
	tok, err := f.lab.IdP.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	f.secrets = append(f.secrets, tok)
	p := filepath.Join(f.dir, "tok-"+strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.WriteFile(p, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) delegated(t *testing.T, upn string, scp ...string) string {
	if scp == nil {
		scp = []string{"IMAP.AccessAsUser.All", "POP.AccessAsUser.All", "SMTP.Send", "EWS.AccessAsUser.All", "EAS.AccessAsUser.All"}
	}
	return f.token(t, fakeidp.Claims{UPN: upn, PreferredUsername: upn, AppID: lab.PublicClientID, Scp: scp, OID: "oid-" + upn})
}

func (f *fixture) appOnly(t *testing.T, roles ...string) string {
	if roles == nil {
		roles = []string{"IMAP.AccessAsApp", "POP.AccessAsApp", "SMTP.SendAsApp", "full_access_as_app"}
	}
	return f.token(t, fakeidp.Claims{AppID: lab.AppClientID, OID: "sp-oid", Roles: roles})
}

// run runs mailcheck with the lab's addresses and returns exit status, stdout and stderr.
func (f *fixture) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	base := []string{"-ca-file", f.caFile,
		"-imap-addr", f.lab.IMAP.Addr(), "-pop-addr", f.lab.POP.PlainAddr(), "-smtp-addr", f.lab.SMTP.Addr(),
		"-ews-url", f.lab.EWS.URL(), "-eas-url", f.lab.EAS.URL(), "-timeout", "30s"}
	var out, errOut bytes.Buffer
	code := run(context.Background(), append(base, args...), &out, &errOut)
	for _, s := range f.secrets {
		if strings.Contains(out.String(), s) || strings.Contains(errOut.String(), s) || (len(s) > 40 && strings.Contains(out.String()+errOut.String(), s[len(s)-40:])) {
			t.Fatalf("output contains a token or secret:\n%s\n%s", out.String(), errOut.String())
		}
	}
	return code, out.String(), errOut.String()
}

func TestPass(t *testing.T) {
	f := newFixture(t)
	tok := f.delegated(t, lab.User)
	code, out, errOut := f.run(t, "-access-token-file", tok, "-mailbox", lab.User, "-protocols", "imap,pop,smtp,ews,eas", "-send-test-to", lab.Other, "-v")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if n := len(f.lab.SMTP.Messages()); n != 1 {
		t.Errorf("-send-test-to: server received %d messages, want 1", n)
	}
	for _, p := range []string{"imap", "pop", "smtp", "ews", "eas"} {
		if !strings.Contains(out, p) {
			t.Errorf("output lacks %s:\n%s", p, out)
		}
	}
	if strings.Contains(out, "FAIL") || !strings.Contains(out, "all checks passed") {
		t.Fatalf("unexpected output:\n%s", out)
	}
	if !strings.Contains(errOut, "AUTHENTICATE") || !strings.Contains(errOut, "> POST") {
		t.Errorf("-v transcript lacks the IMAP or HTTP exchange:\n%s", errOut)
	}
}

// failure runs one failing case in text and JSON and checks the cause.
func failure(t *testing.T, f *fixture, protocol, wantCause string, args ...string) {
	t.Helper()
	code, out, errOut := f.run(t, append(args, "-protocols", protocol)...)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "FAIL") || !strings.Contains(strings.ToLower(out), strings.ToLower(wantCause)) {
		t.Fatalf("text output lacks FAIL / %q:\n%s", wantCause, out)
	}
	code, out, _ = f.run(t, append(args, "-protocols", protocol, "-json")...)
	if code != 1 {
		t.Fatalf("-json: exit %d, want 1", code)
	}
	var rep struct {
		Mailbox string
		Results []struct {
			Protocol string
			OK       bool
			Cause    string
			Fix      string
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("-json output is not JSON: %v\n%s", err, out)
	}
	if len(rep.Results) != 1 || rep.Results[0].Protocol != protocol || rep.Results[0].OK ||
		!strings.Contains(strings.ToLower(rep.Results[0].Cause), strings.ToLower(wantCause)) || rep.Results[0].Fix == "" {
		t.Fatalf("JSON result: %+v", rep.Results)
	}
}

func TestAuthenticateFailedAppOnly(t *testing.T) {
	f := newFixture(t)
	// The app has no permission on alice's mailbox: Exchange answers AUTHENTICATE failed.
	failure(t, f, "imap", "service principal", "-access-token-file", f.appOnly(t), "-mailbox", lab.User)
}

func TestNotConnected(t *testing.T) {
	f := newFixture(t)
	// bob's valid token for alice's mailbox.
	failure(t, f, "imap", "User is authenticated but not connected", "-access-token-file", f.delegated(t, lab.Other), "-mailbox", lab.User)
}

func TestGraphAudience(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t, fakeidp.Claims{Audience: "https://graph.microsoft.com", UPN: lab.User, Scp: []string{"IMAP.AccessAsUser.All"}})
	failure(t, f, "imap", "audience is https://graph.microsoft.com", "-access-token-file", tok, "-mailbox", lab.User)
}

func TestMissingScope(t *testing.T) {
	f := newFixture(t)
	tok := f.delegated(t, lab.User, "EWS.AccessAsUser.All")
	failure(t, f, "imap", "lack IMAP.AccessAsUser.All", "-access-token-file", tok, "-mailbox", lab.User)
}

func TestExpiredToken(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t, fakeidp.Claims{UPN: lab.User, Scp: []string{"IMAP.AccessAsUser.All"}, ExpiresAt: time.Now().Add(-time.Hour)})
	failure(t, f, "imap", "expired", "-access-token-file", tok, "-mailbox", lab.User)
}

func TestImpersonationDenied(t *testing.T) {
	f := newFixture(t)
	f.lab.EWS.SetDenyImpersonation(true)
	failure(t, f, "ews", "impersonation denied", "-access-token-file", f.appOnly(t), "-mailbox", lab.Shared)
}

func TestSMTPAuthDisabled(t *testing.T) {
	f := newFixture(t)
	f.lab.SMTP.FailNextAuth(smtptest.ReplyAuthDisabled, smtptest.ReplyAuthDisabled)
	failure(t, f, "smtp", "SMTP AUTH is disabled", "-access-token-file", f.delegated(t, lab.User), "-mailbox", lab.User)
}

func TestSMTPAuthUnsuccessful(t *testing.T) {
	f := newFixture(t)
	f.lab.SMTP.FailNextAuth(smtptest.ReplyAuthUnsuccessful, smtptest.ReplyAuthUnsuccessful)
	failure(t, f, "smtp", "535 5.7.3", "-access-token-file", f.delegated(t, lab.User), "-mailbox", lab.User)
}

func TestUsage(t *testing.T) {
	f := newFixture(t)
	if code, _, _ := f.run(t, "-protocols", "imap"); code != 2 {
		t.Errorf("missing -mailbox: exit %d, want 2", code)
	}
	if code, _, _ := f.run(t, "-mailbox", "a@b.test", "-protocols", "gopher"); code != 2 {
		t.Errorf("unknown protocol: exit %d, want 2", code)
	}
	var errOut bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &bytes.Buffer{}, &errOut); code != 0 || !strings.Contains(errOut.String(), "-smtp-addr") || !strings.Contains(errOut.String(), "MAILAUTH_TENANT") {
		t.Errorf("-h: exit %d\n%s", code, errOut.String())
	}
}
