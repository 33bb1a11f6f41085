package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/core/redact"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

func TestParseEnv(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	f := Register(fs)
	extra := fs.String("ews-url", "", "")
	t.Setenv("MAILAUTH_TENANT", "from-env")
	t.Setenv("MAILAUTH_CLIENT_ID", "env-client")
	t.Setenv("MAILAUTH_EWS_URL", "https://ews.test/EWS/Exchange.asmx")
	t.Setenv("MAILAUTH_V", "true")
	if err := Parse(fs, []string{"-client-id", "flag-client"}); err != nil {
		t.Fatal(err)
	}
	if f.Tenant != "from-env" || f.ClientID != "flag-client" || !f.Verbose || *extra != "https://ews.test/EWS/Exchange.asmx" {
		t.Fatalf("got tenant=%q client=%q v=%v ews=%q", f.Tenant, f.ClientID, f.Verbose, *extra)
	}
	t.Setenv("MAILAUTH_DEVICE_CODE", "maybe")
	fs2 := flag.NewFlagSet("y", flag.ContinueOnError)
	Register(fs2)
	if err := Parse(fs2, nil); err == nil || !strings.Contains(err.Error(), "MAILAUTH_DEVICE_CODE") {
		t.Fatalf("bad env value: err = %v", err)
	}
}

func TestUsageListsEnv(t *testing.T) {
	fs := flag.NewFlagSet("prog", flag.ContinueOnError)
	Register(fs)
	var b bytes.Buffer
	Usage(fs, &b, "prog does things")
	for _, want := range []string{"-client-secret-env", "MAILAUTH_CLIENT_SECRET_ENV", "-access-token-file", "-ca-file", "-cloud", "MAILAUTH_TENANT"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}

func fakeJWT(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc([]byte(claims)) + ".c2lnbmF0dXJlc2lnbmF0dXJl"
}

func TestRedactor(t *testing.T) {
	var r redact.Redactor // the one redactor, as the tools use it
	tok := fakeJWT(`{"upn":"alice@contoso.test"}`)
	r.Add("s3cret-value-123")
	r.Add(tok)
	xo := base64.StdEncoding.EncodeToString([]byte("user=a@b\x01auth=Bearer " + tok + "\x01\x01"))
	var out bytes.Buffer
	w := r.Writer(&out)
	io.WriteString(w, "C: A1 AUTHENTICATE XOAUTH2 "+xo+"\r\n")
	io.WriteString(w, "Authorization: Bearer "+tok+"\n")
	io.WriteString(w, "secret is s3cret-value-123 and b64 "+base64.StdEncoding.EncodeToString([]byte("s3cret-value-123"))+"\n")
	io.WriteString(w, xo+"\n")
	io.WriteString(w, "partial "+tok)
	w.Flush()
	got := out.String()
	for _, bad := range []string{tok, xo, "s3cret-value-123", tok[:40]} {
		if strings.Contains(got, bad) {
			t.Fatalf("transcript leaks a secret:\n%s", got)
		}
	}
	if !strings.Contains(got, "AUTHENTICATE XOAUTH2 [REDACTED]") || !strings.Contains(got, "Bearer [REDACTED]") {
		t.Fatalf("unexpected redaction:\n%s", got)
	}
}

func TestStaticToken(t *testing.T) {
	dir := t.TempDir()
	exp := time.Now().Add(time.Hour).Unix()
	tok := fakeJWT(`{"aud":"https://outlook.office365.com","roles":["IMAP.AccessAsApp"],"tid":"t1","exp":` + itoa(exp) + `}`)
	p := filepath.Join(dir, "tok")
	os.WriteFile(p, []byte(tok+"\n"), 0o600)
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	f := Register(fs)
	if err := Parse(fs, []string{"-access-token-file", p}); err != nil {
		t.Fatal(err)
	}
	e, err := Setup(f, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if e.Mode() != ModeStatic || !e.AppOnly() {
		t.Fatalf("mode %s appOnly %v", e.Mode(), e.AppOnly())
	}
	got, err := e.Source("imap").Token()
	if err != nil || got.AccessToken != tok || e.static.Expiry().Unix() != exp {
		t.Fatalf("token %v err %v", got.Expiry, err)
	}
	if s := e.Redactor.String("x " + tok); strings.Contains(s, tok) {
		t.Fatal("static token not registered with the redactor")
	}

	expired := fakeJWT(`{"exp":1000}`)
	os.WriteFile(p, []byte(expired), 0o600)
	e, err = Setup(f, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// An expired token is still handed out: the server has the last word.
	if got, err := e.Source("imap").Token(); err != nil || got.AccessToken != expired || !e.static.Expiry().Before(time.Now()) {
		t.Fatalf("expired token: %v", err)
	}
}

func TestSetupNeedsCredentials(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	f := Register(fs)
	Parse(fs, nil)
	if _, err := Setup(f, io.Discard); err == nil {
		t.Fatal("Setup without any credential flags succeeded")
	}
	f.CAFile = filepath.Join(t.TempDir(), "missing.pem")
	f.AccessTokenFile = "x"
	if _, err := Setup(f, io.Discard); err == nil || !strings.Contains(err.Error(), "-ca-file") {
		t.Fatalf("missing CA file: %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestDefaultCacheDirIsPrivateAndNeverShared(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, "cache"))
	d, err := DefaultCacheDir()
	if err != nil || d != filepath.Join(home, "cache", "mailauth") {
		t.Fatalf("DefaultCacheDir = %q, %v", d, err)
	}
	if _, err := openStore(""); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(d)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("cache dir mode %v, %v", fi.Mode(), err)
	}
	// With no way to find the user's cache directory there is no /tmp fallback.
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	if d, err := DefaultCacheDir(); err == nil || strings.Contains(d, os.TempDir()) {
		t.Fatalf("DefaultCacheDir without HOME = %q, %v; want an error", d, err)
	}
	if _, err := openStore(""); err == nil || !strings.Contains(err.Error(), "-cache") {
		t.Fatalf("openStore without HOME: %v", err)
	}
}

// Fresh: app-only tokens never come from the store; a delegated account's first token
// of a scope set is redeemed afresh although the store holds a valid one.
func TestFresh(t *testing.T) {
	idp, err := fakeidp.New(fakeidp.Options{DefaultUser: "alice@contoso.test", AutoApproveDevice: true})
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	idp.AddApp(fakeidp.App{TenantID: "contoso.test", ClientID: "pub"})
	idp.AddApp(fakeidp.App{TenantID: "contoso.test", ClientID: "conf", Secret: "conf-secret-value", Roles: []string{"IMAP.AccessAsApp"}})
	idp.AddUser(fakeidp.User{TenantID: "contoso.test", UPN: "alice@contoso.test"})
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.Certificate().Raw}), 0o600)
	cache := filepath.Join(dir, "cache")
	env := func(fresh bool, args ...string) *Env {
		t.Helper()
		fs := flag.NewFlagSet("mailcheck", flag.ContinueOnError)
		f := Register(fs)
		if err := Parse(fs, append([]string{"-authority-host", idp.URL(), "-tenant", "contoso.test", "-ca-file", ca, "-cache", cache}, args...)); err != nil {
			t.Fatal(err)
		}
		f.Fresh = fresh
		e, err := Setup(f, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	ctx := t.Context()

	// Delegated: sign in, fill the store, then a fresh run redeems the refresh token once.
	user := []string{"-client-id", "pub", "-user", "alice@contoso.test", "-device-code"}
	e := env(false, user...)
	if err := e.EnsureSignedIn(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Source(cloud.IMAP).Token(); err != nil {
		t.Fatal(err)
	}
	if e.TokenOrigin() != OriginCache {
		t.Fatalf("origin %s", e.TokenOrigin())
	}
	before := idp.Requests(fakeidp.GrantRefreshToken)
	if _, err := env(false, user...).Source(cloud.IMAP).Token(); err != nil || idp.Requests(fakeidp.GrantRefreshToken) != before {
		t.Fatalf("a cached run redeemed: %v", err)
	}
	e = env(true, user...)
	for range 3 {
		if _, err := e.Source(cloud.IMAP).Token(); err != nil {
			t.Fatal(err)
		}
	}
	if n := idp.Requests(fakeidp.GrantRefreshToken) - before; n != 1 || e.TokenOrigin() != OriginFresh {
		t.Fatalf("fresh delegated run: %d redemptions, origin %s", n, e.TokenOrigin())
	}

	// App-only: every fresh run asks Entra ID; the store is not used.
	t.Setenv("MAILAUTH_CLIENT_SECRET", "conf-secret-value")
	app := []string{"-client-id", "conf"}
	for i := range 2 {
		before := idp.Requests(fakeidp.GrantClientCredentials)
		if _, err := env(true, app...).Source(cloud.IMAP).Token(); err != nil || idp.Requests(fakeidp.GrantClientCredentials) != before+1 {
			t.Fatalf("fresh app-only run %d: %v", i, err)
		}
	}
	if env(false, "-client-id", "conf", "-cache", CacheNone).TokenOrigin() != OriginMemory {
		t.Fatal("-cache none is not memory")
	}
}
