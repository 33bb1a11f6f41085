package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modernauth/mailauth/internal/fake/lab"
	"github.com/modernauth/mailauth/internal/tool/doctor"
)

// appArgs are the flags of an app-only run against the lab's Entra ID, with the secret in
// $MAILAUTH_CLIENT_SECRET and the token cache in dir.
func (f *fixture) appArgs(dir string) []string {
	return []string{"-authority-host", f.lab.IdP.URL(), "-tenant", lab.Tenant, "-client-id", lab.AppClientID,
		"-cache", filepath.Join(dir, "cache"), "-mailbox", lab.Shared}
}

type jsonReport struct {
	TokenFrom string `json:"token_from"`
	OK        bool
	Results   []doctor.Result
}

func (f *fixture) runJSON(t *testing.T, args ...string) (int, jsonReport) {
	t.Helper()
	code, out, errOut := f.run(t, append(args, "-json")...)
	var rep jsonReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("-json output is not JSON: %v\n%s\n%s", err, out, errOut)
	}
	return code, rep
}

// Acceptance 1: after a good run, a wrong secret with the same cache FAILs, naming the
// secret as the cause, with and without -use-cache; the token checked is named.
func TestWrongSecretAfterGoodRun(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	t.Setenv("MAILAUTH_CLIENT_SECRET", f.lab.AppSecret)
	code, out, errOut := f.run(t, append(f.appArgs(dir), "-protocols", "imap")...)
	if code != 0 || !strings.Contains(out, "fresh from Entra ID") {
		t.Fatalf("good secret: exit %d\n%s\n%s", code, out, errOut)
	}
	// A cached run with the good secret says so.
	if code, rep := f.runJSON(t, append(f.appArgs(dir), "-protocols", "imap", "-use-cache")...); code != 0 || rep.TokenFrom != "cache" {
		t.Fatalf("-use-cache: exit %d, token_from %q", code, rep.TokenFrom)
	}
	t.Setenv("MAILAUTH_CLIENT_SECRET", "wrong-secret-value-789")
	f.secrets = append(f.secrets, "wrong-secret-value-789")
	for _, extra := range [][]string{nil, {"-use-cache"}} {
		args := append(append(f.appArgs(dir), "-protocols", "imap"), extra...)
		code, out, errOut := f.run(t, args...)
		if code != 1 || !strings.Contains(out, "FAIL") || !strings.Contains(out, "client secret in $MAILAUTH_CLIENT_SECRET") ||
			!strings.Contains(out, "wrong or expired") || strings.Contains(out, "PASS") {
			t.Fatalf("wrong secret %v: exit %d\n%s\n%s", extra, code, out, errOut)
		}
		code, rep := f.runJSON(t, args...)
		if code != 1 || rep.OK || len(rep.Results) != 1 || rep.Results[0].Protocol != "token" ||
			!strings.Contains(rep.Results[0].Cause, "client secret") || !strings.Contains(rep.Results[0].ErrorClass, "HTTP 401") ||
			!strings.Contains(rep.Results[0].Tried, "127.0.0.1") {
			t.Fatalf("wrong secret JSON %v: %+v", extra, rep)
		}
	}
}

// -cache none keeps tokens in memory and says so.
func TestCacheNone(t *testing.T) {
	f := newFixture(t)
	t.Setenv("MAILAUTH_CLIENT_SECRET", f.lab.AppSecret)
	code, rep := f.runJSON(t, append(f.appArgs(t.TempDir()), "-protocols", "imap", "-cache", "none")...)
	if code != 0 || rep.TokenFrom != "memory" {
		t.Fatalf("-cache none: exit %d %+v", code, rep)
	}
}

// Acceptance 3: the address and the error class appear in text and JSON, and the fix
// names a flag that exists.
func TestConnectionRefusedNamesAddress(t *testing.T) {
	f := newFixture(t)
	tok := f.delegated(t, lab.User)
	for _, c := range []struct{ proto, flag, addr string }{
		{"imap", "-imap-addr", "127.0.0.1:1"},
		{"smtp", "-smtp-addr", "127.0.0.1:1"},
		{"ews", "-ews-url", "https://127.0.0.1:1/EWS/Exchange.asmx"},
	} {
		args := []string{"-access-token-file", tok, "-mailbox", lab.User, "-protocols", c.proto, c.flag, c.addr}
		code, out, _ := f.run(t, args...)
		if code != 1 || !strings.Contains(out, "127.0.0.1:1") || !strings.Contains(out, "connection refused") || !strings.Contains(out, c.flag) {
			t.Fatalf("%s: exit %d\n%s", c.proto, code, out)
		}
		_, rep := f.runJSON(t, args...)
		r := rep.Results[0]
		if r.ErrorClass != doctor.ClassRefused || r.Tried != c.addr || !strings.Contains(r.Fix, c.flag) {
			t.Fatalf("%s JSON: %+v", c.proto, r)
		}
	}
}

func TestTokenEndpointUnreachable(t *testing.T) {
	f := newFixture(t)
	t.Setenv("MAILAUTH_CLIENT_SECRET", f.lab.AppSecret)
	args := append(f.appArgs(t.TempDir()), "-protocols", "imap", "-authority-host", "https://127.0.0.1:1", "-timeout", "20s")
	code, out, _ := f.run(t, args...)
	if code != 1 || !strings.Contains(out, "Entra ID at 127.0.0.1:1") || !strings.Contains(out, "connection refused") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	_, rep := f.runJSON(t, args...)
	if r := rep.Results[0]; r.Protocol != "token" || r.ErrorClass != doctor.ClassRefused || !strings.Contains(r.Tried, "127.0.0.1:1") {
		t.Fatalf("JSON: %+v", r)
	}
}

// The TLS class: the lab's servers are not trusted without -ca-file.
func TestUntrustedCertificateClass(t *testing.T) {
	f := newFixture(t)
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-access-token-file", f.delegated(t, lab.User), "-mailbox", lab.User,
		"-protocols", "imap", "-imap-addr", f.lab.IMAP.Addr(), "-json"}, &out, &errOut)
	var rep jsonReport
	json.Unmarshal(out.Bytes(), &rep)
	if code != 1 || len(rep.Results) != 1 || rep.Results[0].ErrorClass != doctor.ClassTLS || !strings.Contains(rep.Results[0].Fix, "-ca-file") {
		t.Fatalf("exit %d %+v\n%s", code, rep, errOut.String())
	}
}

// goSyntax matches Go struct or fmt error syntax that must never reach a user.
var goSyntax = regexp.MustCompile(`&\{|%!|\{[A-Za-z]+:|[A-Za-z]\{`)

// Acceptance 3: each bad input gets its own message and exit status 2.
func TestBadInputs(t *testing.T) {
	f := newFixture(t)
	tok := f.delegated(t, lab.User)
	seen := map[string]string{}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"mailbox not an address", []string{"-access-token-file", tok, "-mailbox", "notanaddress"}, `-mailbox "notanaddress" is not a mail address`},
		{"mailbox with a name", []string{"-access-token-file", tok, "-mailbox", "Alice <alice@contoso.test>"}, "not a bare mail address"},
		{"missing mailbox", []string{"-access-token-file", tok}, "-mailbox is missing"},
		{"missing tenant", []string{"-client-id", lab.AppClientID, "-mailbox", lab.User}, "-tenant is missing"},
		{"missing client id", []string{"-tenant", lab.Tenant, "-mailbox", lab.User}, "-client-id is missing"},
		{"no credentials", []string{"-mailbox", lab.User}, "no way to get a token"},
		{"bad tenant", []string{"-tenant", "https://login.microsoftonline.com/x", "-client-id", lab.AppClientID, "-mailbox", lab.User}, "-tenant \"https://login.microsoftonline.com/x\" is neither a tenant id"},
		{"bad imap addr", []string{"-access-token-file", tok, "-mailbox", lab.User, "-imap-addr", "outlook.office365.com"}, "-imap-addr \"outlook.office365.com\" is not HOST:PORT"},
		{"bad port", []string{"-access-token-file", tok, "-mailbox", lab.User, "-smtp-addr", "smtp.example:http"}, "has no valid port number"},
		{"bad ews url", []string{"-access-token-file", tok, "-mailbox", lab.User, "-ews-url", "outlook.office365.com/EWS"}, "-ews-url \"outlook.office365.com/EWS\" is not an absolute https URL"},
		{"bad send-test-to", []string{"-access-token-file", tok, "-mailbox", lab.User, "-send-test-to", "bob"}, "-send-test-to \"bob\" is not a mail address"},
		{"unknown protocol", []string{"-access-token-file", tok, "-mailbox", lab.User, "-protocols", "gopher"}, "unknown protocol \"gopher\""},
		{"stray argument", []string{"-access-token-file", tok, "-mailbox", lab.User, "imap"}, "unexpected argument \"imap\""},
		{"bad timeout", []string{"-access-token-file", tok, "-mailbox", lab.User, "-timeout", "soon"}, "is not a duration"},
		{"bad authority host", []string{"-authority-host", "login.example", "-tenant", lab.Tenant, "-client-id", lab.AppClientID, "-mailbox", lab.User}, "-authority-host \"login.example\" is not an absolute https URL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), append([]string{"-cache", "none"}, c.args...), &out, &errOut)
			msg := strings.TrimSpace(errOut.String())
			if code != 2 || !strings.Contains(msg, c.want) || out.Len() != 0 {
				t.Fatalf("exit %d, stderr:\n%s", code, msg)
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
}

func TestGUIDWarning(t *testing.T) {
	f := newFixture(t)
	t.Setenv("MAILAUTH_CLIENT_SECRET", "x-secret-value")
	_, _, errOut := f.run(t, "-tenant", lab.Tenant, "-client-id", "my-app", "-authority-host", f.lab.IdP.URL(), "-mailbox", lab.User, "-protocols", "imap", "-cache", "none")
	if !strings.Contains(errOut, `warning: -client-id "my-app" is not shaped like an application (client) id`) {
		t.Fatalf("no warning:\n%s", errOut)
	}
}

// A delegated account that is not signed in: the account is named, with the flags that
// sign it in, and no Go syntax.
func TestNotSignedIn(t *testing.T) {
	f := newFixture(t)
	code, out, errOut := f.run(t, "-tenant", lab.Tenant, "-client-id", lab.PublicClientID, "-authority-host", f.lab.IdP.URL(),
		"-mailbox", lab.User, "-cache", filepath.Join(t.TempDir(), "c"), "-protocols", "imap")
	if code != 1 || !strings.Contains(errOut, lab.User+" is not signed in: run once with -device-code or -browser") || goSyntax.MatchString(out+errOut) {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

// No text output of a failure shows Go syntax.
func TestNoGoSyntaxInFailures(t *testing.T) {
	f := newFixture(t)
	tok := f.delegated(t, lab.User)
	t.Setenv("MAILAUTH_CLIENT_SECRET", "wrong-secret-value-789")
	for _, args := range [][]string{
		{"-access-token-file", tok, "-mailbox", lab.User, "-protocols", "imap,pop,smtp,ews,eas", "-imap-addr", "127.0.0.1:1", "-pop-addr", "127.0.0.1:1", "-smtp-addr", "127.0.0.1:1", "-ews-url", "https://127.0.0.1:1/", "-eas-url", "https://127.0.0.1:1/"},
		{"-access-token-file", f.appOnly(t), "-mailbox", lab.User, "-protocols", "imap,smtp"},
		append(f.appArgs(t.TempDir()), "-protocols", "imap"),
	} {
		code, out, errOut := f.run(t, args...)
		if code != 1 || goSyntax.MatchString(out) || goSyntax.MatchString(errOut) {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
	}
}

func TestHelpEndsWithExamples(t *testing.T) {
	var errOut bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, io.Discard, &errOut); code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
	n := len(examples)
	if n < 2 || n > 3 || len(lines) < n+1 || strings.TrimSpace(lines[len(lines)-n-1]) != "Examples:" {
		t.Fatalf("-h does not end with 2-3 examples:\n%s", errOut.String())
	}
	for i, e := range examples {
		if !strings.HasPrefix(strings.TrimSpace(lines[len(lines)-n+i]), "mailcheck ") {
			t.Fatalf("example %q", e)
		}
		checkFlagsDefined(t, "example "+e, e, mailcheckFlags())
	}
}

func mailcheckFlags() *flag.FlagSet {
	fs, _, _ := newFlagSet(io.Discard)
	return fs
}

// flagRE finds a flag named in prose: a dash at the start or after a space or
// punctuation, then a lower-case name. PowerShell parameters (-Identity) are upper case.
var flagRE = regexp.MustCompile(`(?:^|[\s(,;:'"\x60])(-[a-z][a-z0-9]*(?:-[a-z0-9]+)*)\b`)

func checkFlagsDefined(t *testing.T, where, text string, fs *flag.FlagSet) {
	t.Helper()
	for _, name := range undefinedFlags(text, fs) {
		t.Errorf("%s names %s, which %s does not define: %q", where, name, fs.Name(), text)
	}
}

// undefinedFlags returns the flags text names that fs does not define (-h is the flag
// package's own).
func undefinedFlags(text string, fs *flag.FlagSet) []string {
	var out []string
	for _, m := range flagRE.FindAllStringSubmatch(text, -1) {
		name := strings.TrimPrefix(m[1], "-")
		if name != "h" && fs.Lookup(name) == nil {
			out = append(out, m[1])
		}
	}
	return out
}

// stringLiterals returns every string literal of the Go files (tests excluded) in dir.
func stringLiterals(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(af, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					out[s] = fset.Position(lit.Pos()).String()
				}
			}
			return true
		})
	}
	return out
}

// Acceptance 3: every fix and hint text of doctor, cli and mailcheck names only flags
// that mailcheck defines (the doctor's texts are shown by mailcheck only).
func TestEveryFixFlagExists(t *testing.T) {
	fs := mailcheckFlags()
	for _, dir := range []string{"../../internal/tool/doctor", "../../internal/tool/cli", "."} {
		for s, pos := range stringLiterals(t, dir) {
			if strings.HasPrefix(s, "-") && !strings.Contains(s, " ") {
				continue // a flag name being defined or looked up, not prose
			}
			checkFlagsDefined(t, pos, s, fs)
		}
	}
	for proto, fl := range doctor.AddrFlag {
		if fs.Lookup(strings.TrimPrefix(fl, "-")) == nil {
			t.Errorf("doctor.AddrFlag[%s] = %s is not a mailcheck flag", proto, fl)
		}
	}
	// The walk itself finds a flag that does not exist.
	if got := undefinedFlags("check the address flag (-imap-url or -imap-addr)", fs); len(got) != 1 || got[0] != "-imap-url" {
		t.Fatal("the flag walk does not notice -imap-url")
	}
}

// With no DNS for the Entra ID host, the text names the host and DNS (not an empty
// "refused the token request"), and so does the JSON.
func TestTokenEndpointDNS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := net.DefaultResolver.LookupHost(ctx, "login.invalid")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Skipf("this machine's resolver does not answer NXDOMAIN for .invalid: %v", err)
	}
	f := newFixture(t)
	t.Setenv("MAILAUTH_CLIENT_SECRET", f.lab.AppSecret)
	args := append(f.appArgs(t.TempDir()), "-protocols", "imap", "-authority-host", "https://login.invalid", "-timeout", "30s")
	code, out, _ := f.run(t, args...)
	if code != 1 || !strings.Contains(out, "could not reach Entra ID at login.invalid (DNS)") || !strings.Contains(out, "no such host") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	_, rep := f.runJSON(t, args...)
	if r := rep.Results[0]; r.ErrorClass != doctor.ClassDNS || r.Tried != "Entra ID at login.invalid" || r.Elapsed == "" {
		t.Fatalf("JSON: %+v", r)
	}
}
