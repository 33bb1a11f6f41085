package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

var goSyntax = regexp.MustCompile(`&\{|%!|\{[A-Za-z]+:|[A-Za-z]\{`)

func runIn(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// Acceptance 1: after a good run, a wrong secret with the same cache exits non-zero and
// prints no token.
func TestWrongSecretAfterGoodRun(t *testing.T) {
	idp, args := setup(t, time.Hour)
	idp.AddApp(fakeidp.App{TenantID: tenant, ClientID: "conf-app", Secret: "app-secret-value-42", Roles: []string{"IMAP.AccessAsApp"}})
	for i := range args {
		if args[i] == clientID {
			args[i] = "conf-app"
		}
	}
	t.Setenv("MAILAUTH_CLIENT_SECRET", "app-secret-value-42")
	code, out, errOut := runIn(args...)
	if code != 0 {
		t.Fatalf("good secret: exit %d %s", code, errOut)
	}
	if _, err := idp.Verify(strings.TrimSpace(out)); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MAILAUTH_CLIENT_SECRET", "wrong-secret-value-789")
	code, out, errOut = runIn(args...)
	if code == 0 || out != "" || !strings.Contains(errOut, "invalid_client") || !strings.Contains(errOut, "client secret is wrong") {
		t.Fatalf("wrong secret: exit %d stdout %q stderr %s", code, out, errOut)
	}
}

// Acceptance 3: each bad input gets its own message and exit status 2.
func TestBadArguments(t *testing.T) {
	_, args := setup(t, time.Hour)
	seen := map[string]string{}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", append([]string{"bogus"}, args...), `unknown command "bogus"`},
		{"stray argument", append(append([]string{}, args...), "extra"), `unexpected argument "extra"`},
		{"two commands", append(append([]string{"login"}, args...), "logout"), "more than one command"},
		{"access token file", append([]string{"-access-token-file", "x"}, args...), "flag provided but not defined: -access-token-file"},
		{"missing tenant", []string{"-client-id", clientID, "-user", user}, "-tenant is missing"},
		{"missing client id", []string{"-tenant", tenant, "-user", user}, "-client-id is missing"},
		{"no flags", nil, "no way to get a token"},
		{"bad user", []string{"-tenant", tenant, "-client-id", clientID, "-user", "alice"}, `-user "alice" is not a mail address`},
		{"bad tenant", []string{"-tenant", "contoso tenant", "-client-id", clientID, "-user", user}, "is neither a tenant id"},
		{"unknown protocol", append(append([]string{}, args...), "-protocol", "gopher"), `unknown -protocol "gopher"`},
		{"bad timeout", append(append([]string{}, args...), "-timeout", "soon"), "is not a duration"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runIn(c.args...)
			msg := strings.TrimSpace(errOut)
			if i := strings.LastIndex(msg, "\n"); i >= 0 && !strings.Contains(msg, "Usage of") {
				msg = msg[i+1:] // warnings come first
			}
			if strings.Contains(msg, "Usage of") {
				msg = strings.SplitN(msg, "\n", 2)[0]
			}
			if code != 2 || !strings.Contains(msg, c.want) || out != "" {
				t.Fatalf("exit %d, stderr:\n%s", code, errOut)
			}
			if goSyntax.MatchString(msg) {
				t.Fatalf("Go syntax in %q", msg)
			}
			if prev, dup := seen[msg]; dup {
				t.Fatalf("same message as %s: %q", prev, msg)
			}
			seen[msg] = c.name
		})
	}
	if strings.Contains(func() string { _, _, e := runIn(); return e }(), "-access-token-file") {
		t.Fatal("with no flags, token suggests -access-token-file, which it does not take")
	}
}

// Not signed in: token says to run token login, names the account, and shows no Go syntax.
func TestNotSignedInOffersLogin(t *testing.T) {
	_, args := setup(t, time.Hour)
	code, out, errOut := runIn(args...)
	if code != 1 || out != "" || !strings.Contains(errOut, user+" is not signed in: run token login") || goSyntax.MatchString(errOut) {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
}

// The command may follow the flags: token -tenant ... login signs in.
func TestLoginAfterFlags(t *testing.T) {
	idp, args := setup(t, time.Hour)
	code, _, errOut := runIn(append(append([]string{}, args...), "login")...)
	if code != 0 || idp.Requests(fakeidp.GrantDeviceCode) == 0 || !strings.Contains(errOut, "signed in as "+user+";") || goSyntax.MatchString(errOut) {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if code, out, errOut := runIn(args...); code != 0 || out == "" {
		t.Fatalf("after login: exit %d %s", code, errOut)
	}
}

func TestHelpEndsWithExamples(t *testing.T) {
	var errOut bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, io.Discard, &errOut); code != 0 {
		t.Fatalf("exit %d", code)
	}
	help := errOut.String()
	lines := strings.Split(strings.TrimSpace(help), "\n")
	n := len(examples)
	if n < 2 || n > 3 || strings.TrimSpace(lines[len(lines)-n-1]) != "Examples:" || strings.Contains(help, "-access-token-file") {
		t.Fatalf("-h:\n%s", help)
	}
	fs, _, _ := newFlagSet(io.Discard)
	flagRE := regexp.MustCompile(`(?:^|\s)(-[a-z][a-z0-9-]*)`)
	for _, l := range lines[len(lines)-n:] {
		if !strings.HasPrefix(strings.TrimSpace(l), "token") {
			t.Errorf("example %q", l)
		}
		for _, m := range flagRE.FindAllStringSubmatch(l, -1) {
			if fs.Lookup(m[1][1:]) == nil {
				t.Errorf("example names %s, which token does not define", m[1])
			}
		}
	}
}

// Every text of token's own that names a flag names one token defines.
func TestEveryMessageFlagExists(t *testing.T) {
	fs, _, _ := newFlagSet(io.Discard)
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(gotoken.NewFileSet(), "main.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	flagRE := regexp.MustCompile(`(?:^|[\s(,;:'"])(-[a-z][a-z0-9]*(?:-[a-z0-9]+)*)\b`)
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.BasicLit)
		if !ok || lit.Kind != gotoken.STRING {
			return true
		}
		s, err := strconv.Unquote(lit.Value)
		if err != nil || (strings.HasPrefix(s, "-") && !strings.Contains(s, " ")) {
			return true
		}
		for _, m := range flagRE.FindAllStringSubmatch(s, -1) {
			if name := m[1][1:]; name != "h" && fs.Lookup(name) == nil {
				t.Errorf("%q names %s, which token does not define", s, m[1])
			}
		}
		return true
	})
}

func certPEM(t *testing.T, dir, name string) (*x509.Certificate, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})...)
	p := filepath.Join(dir, name+".pem")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, p
}

// Acceptance 1: a rotated certificate is used at once, although the cache holds a valid
// token obtained with the old one.
func TestRotatedCertificateUsedAtOnce(t *testing.T) {
	idp, args := setup(t, time.Hour)
	dir := t.TempDir()
	oldCert, oldFile := certPEM(t, dir, "old")
	idp.AddApp(fakeidp.App{TenantID: tenant, ClientID: "cert-app", Cert: oldCert, Roles: []string{"IMAP.AccessAsApp"}})
	for i := range args {
		if args[i] == clientID {
			args[i] = "cert-app"
		}
	}
	t.Setenv("MAILAUTH_CLIENT_SECRET", "")
	if code, _, errOut := runIn(append(args, "-cert", oldFile)...); code != 0 {
		t.Fatalf("old certificate: exit %d %s", code, errOut)
	}
	newCert, newFile := certPEM(t, dir, "new")
	idp.AddApp(fakeidp.App{TenantID: tenant, ClientID: "cert-app", Cert: newCert, Roles: []string{"IMAP.AccessAsApp"}})
	before := idp.Requests(fakeidp.GrantClientCredentials)
	code, out, errOut := runIn(append(args, "-cert", newFile)...)
	if code != 0 || idp.Requests(fakeidp.GrantClientCredentials) != before+1 {
		t.Fatalf("new certificate: exit %d, %d requests: %s", code, idp.Requests(fakeidp.GrantClientCredentials)-before, errOut)
	}
	if _, err := idp.Verify(strings.TrimSpace(out)); err != nil {
		t.Fatal(err)
	}
}
