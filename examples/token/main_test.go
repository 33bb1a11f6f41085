package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// The test binary doubles as the token command: with TOKEN_HELPER_ARGS set it runs main's
// code in a process of its own, as mail programs run the helper.
func TestMain(m *testing.M) {
	if a := os.Getenv("TOKEN_HELPER_ARGS"); a != "" {
		var args []string
		if err := json.Unmarshal([]byte(a), &args); err != nil {
			os.Exit(3)
		}
		os.Exit(run(context.Background(), args, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

type helperRun struct {
	code           int
	stdout, stderr string
}

func runHelper(t *testing.T, env []string, args ...string) helperRun {
	t.Helper()
	a, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "TOKEN_HELPER_ARGS="+string(a)), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return helperRun{code, out.String(), errOut.String()}
}

const (
	tenant   = "contoso.test"
	clientID = "public-client-1"
	user     = "alice@contoso.test"
)

func setup(t *testing.T, lifetime time.Duration) (*fakeidp.IdP, []string) {
	t.Helper()
	idp, err := fakeidp.New(fakeidp.Options{TokenLifetime: lifetime, DefaultUser: user, AutoApproveDevice: true, Latency: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Close)
	idp.AddApp(fakeidp.App{TenantID: tenant, ClientID: clientID})
	idp.AddUser(fakeidp.User{TenantID: tenant, UPN: user})
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.Certificate().Raw}), 0o644)
	return idp, []string{"-authority-host", idp.URL(), "-tenant", tenant, "-client-id", clientID,
		"-user", user, "-cache", filepath.Join(dir, "cache"), "-ca-file", ca, "-min-validity", "1s", "-timeout", "60s"}
}

func checkToken(t *testing.T, idp *fakeidp.IdP, r helperRun) string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	tok := strings.TrimSpace(r.stdout)
	c, err := idp.Verify(tok)
	if err != nil || !strings.EqualFold(c.UPN, user) || !c.HasScope("IMAP.AccessAsUser.All") {
		t.Fatalf("printed token does not verify: %v (%+v)", err, c)
	}
	if strings.Contains(r.stderr, tok) {
		t.Fatal("the token appears on stderr")
	}
	return tok
}

func TestLoginThenConcurrentRefresh(t *testing.T) {
	idp, args := setup(t, 10*time.Second)
	login := runHelper(t, nil, append([]string{"login"}, args...)...)
	if login.code != 0 || idp.Requests(fakeidp.GrantDeviceCode) == 0 {
		t.Fatalf("login: exit %d, device code polls %d: %s", login.code, idp.Requests(fakeidp.GrantDeviceCode), login.stderr)
	}
	first := checkToken(t, idp, runHelper(t, nil, args...))

	// A second call while the stored token is valid makes no request at all.
	before := idp.TotalRequests()
	if tok := checkToken(t, idp, runHelper(t, nil, args...)); tok != first {
		t.Fatal("second call did not reuse the stored token")
	}
	if n := idp.TotalRequests() - before; n != 0 {
		t.Fatalf("second call made %d IdP requests, want 0", n)
	}

	// Let the access token expire, then 8 copies at once: one refresh-token redemption.
	c, _ := idp.Verify(first)
	time.Sleep(time.Until(c.ExpiresAt) + 300*time.Millisecond)
	redemptions := idp.Requests(fakeidp.GrantRefreshToken)
	var wg sync.WaitGroup
	results := make([]helperRun, 8)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = runHelper(t, nil, args...)
		}(i)
	}
	wg.Wait()
	toks := map[string]bool{}
	for _, r := range results {
		toks[checkToken(t, idp, r)] = true
	}
	if n := idp.Requests(fakeidp.GrantRefreshToken) - redemptions; n != 1 {
		t.Fatalf("8 concurrent invocations made %d refresh-token redemptions, want 1", n)
	}
	if len(toks) != 1 || toks[first] {
		t.Fatalf("want one new token shared by all 8, got %d distinct", len(toks))
	}

	// A later run (a new process: a restart) needs no sign-in.
	polls := idp.Requests(fakeidp.GrantDeviceCode)
	checkToken(t, idp, runHelper(t, nil, args...))
	if idp.Requests(fakeidp.GrantDeviceCode) != polls {
		t.Fatal("a run after restart signed in again")
	}
}

func TestOutputForms(t *testing.T) {
	idp, args := setup(t, time.Hour)
	if r := runHelper(t, nil, append([]string{"login"}, args...)...); r.code != 0 {
		t.Fatalf("login: %s", r.stderr)
	}
	r := runHelper(t, nil, append(args, "-xoauth2")...)
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(r.stdout))
	if r.code != 0 || err != nil || !strings.HasPrefix(string(raw), "user="+user+"\x01auth=Bearer ") || !strings.HasSuffix(string(raw), "\x01\x01") {
		t.Fatalf("-xoauth2: exit %d %q", r.code, r.stderr)
	}
	r = runHelper(t, nil, append(args, "-json", "-protocol", "smtp")...)
	var j struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresAt   string `json:"expires_at"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil || j.TokenType != "Bearer" || j.ExpiresIn <= 0 {
		t.Fatalf("-json: %v %q", err, r.stdout)
	}
	if c, err := idp.Verify(j.AccessToken); err != nil || !c.HasScope("SMTP.Send") {
		t.Fatalf("-json token: %v", err)
	}
	if r := runHelper(t, nil, append([]string{"logout"}, args...)...); r.code != 0 {
		t.Fatalf("logout: %s", r.stderr)
	}
	if r := runHelper(t, nil, args...); r.code == 0 || !strings.Contains(r.stderr, "sign") {
		t.Fatalf("after logout: exit %d %q", r.code, r.stderr)
	}
}

func TestAppOnly(t *testing.T) {
	idp, args := setup(t, time.Hour)
	idp.AddApp(fakeidp.App{TenantID: tenant, ClientID: "conf-app", Secret: "app-secret-value-42", Roles: []string{"IMAP.AccessAsApp"}})
	for i := range args {
		if args[i] == clientID {
			args[i] = "conf-app"
		}
	}
	r := runHelper(t, []string{"MY_SECRET=app-secret-value-42"}, append(args, "-client-secret-env", "MY_SECRET", "-v")...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	c, err := idp.Verify(strings.TrimSpace(r.stdout))
	if err != nil || !c.HasRole("IMAP.AccessAsApp") {
		t.Fatalf("app-only token: %v", err)
	}
	if strings.Contains(r.stderr, "app-secret-value-42") || strings.Contains(r.stderr, strings.TrimSpace(r.stdout)) {
		t.Fatal("the -v transcript shows the secret or the token")
	}
}

// A login whose refresh token cannot be stored (a directory stands where the
// record goes; root cannot write there either) exits non-zero and says so.
func TestLoginSaveFails(t *testing.T) {
	_, args := setup(t, time.Minute)
	if r := runHelper(t, nil, append([]string{"login"}, args...)...); r.code != 0 {
		t.Fatalf("login: %s", r.stderr)
	}
	var cacheDir string
	for i, a := range args {
		if a == "-cache" {
			cacheDir = args[i+1]
		}
	}
	recs, _ := filepath.Glob(filepath.Join(cacheDir, "*.json"))
	if len(recs) != 1 {
		t.Fatalf("records in the cache: %v", recs)
	}
	if err := os.Remove(recs[0]); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(recs[0], 0o700); err != nil {
		t.Fatal(err)
	}
	r := runHelper(t, nil, append([]string{"login"}, args...)...)
	if r.code == 0 || strings.Contains(r.stderr, "the refresh token is in the cache") || !strings.Contains(r.stderr, "storing the refresh token failed") {
		t.Fatalf("login with an unwritable record: exit %d: %s", r.code, r.stderr)
	}
	t.Logf("exit %d: %s", r.code, r.stderr)
	if err := os.Remove(recs[0]); err != nil {
		t.Fatal(err)
	}
	if r := runHelper(t, nil, append([]string{"login"}, args...)...); r.code != 0 {
		t.Fatalf("login after the fault is removed: %s", r.stderr)
	}
}
