package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildProgram builds the example program pkg (a path under the module) into dir.
func buildProgram(t *testing.T, dir, pkg string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the programs with")
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command(gobin, "build", "-o", out, "github.com/modernauth/mailauth/"+pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// cleanEnv is the environment without any MAILAUTH_ variable of the person running the test.
func cleanEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "MAILAUTH_") {
			env = append(env, e)
		}
	}
	return env
}

var (
	exportRe = regexp.MustCompile(`^  export (MAILAUTH_[A-Z_]+)=(\S+)$`)
	secretRe = regexp.MustCompile(`^  export MAILAUTH_CLIENT_SECRET="\$\(cat (.+)\)"$`)
	flagsRe  = regexp.MustCompile(`^  (FLAGS|MAILCHECK_FLAGS)="(.*)"$`)
	envRunRe = regexp.MustCompile(`^  go run \./examples/mailcheck (-protocols \S+)$`)
	delegRe  = regexp.MustCompile(`^  MAILAUTH_CLIENT_SECRET= go run \./examples/mailcheck (.+)$`)
	dirRe    = regexp.MustCompile(`Its files are in (\S+) \(removed on exit\)`)
)

// TestServeSettingsPassMailcheck runs quickstart -serve as a process, reads the settings it
// prints, and runs mailcheck in another process twice, once with the printed flags and once
// with the printed environment variables alone: every check it names must pass.
func TestServeSettingsPassMailcheck(t *testing.T) {
	bin := t.TempDir()
	quickstart := buildProgram(t, bin, "examples/quickstart")
	mailcheck := buildProgram(t, bin, "examples/mailcheck")

	qs := exec.Command(quickstart, "-serve")
	qs.Env = cleanEnv()
	stdout, err := qs.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var qsErr bytes.Buffer
	qs.Stderr = &qsErr
	if err := qs.Start(); err != nil {
		t.Fatal(err)
	}
	defer qs.Process.Kill()

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var printed []string
	timeout := time.After(60 * time.Second)
read:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("quickstart -serve ended early:\n%s\n%s", strings.Join(printed, "\n"), qsErr.String())
			}
			printed = append(printed, l)
			if l == ReadyLine {
				break read
			}
		case <-timeout:
			t.Fatalf("quickstart -serve printed no settings in time:\n%s", strings.Join(printed, "\n"))
		}
	}

	env := map[string]string{}
	flags := map[string][]string{}
	var secretFile, labDir, envProtocols, delegated string
	for _, l := range printed {
		if m := secretRe.FindStringSubmatch(l); m != nil {
			secretFile = m[1]
		} else if m := exportRe.FindStringSubmatch(l); m != nil {
			env[m[1]] = m[2]
		} else if m := flagsRe.FindStringSubmatch(l); m != nil {
			flags[m[1]] = strings.Fields(m[2])
		} else if m := envRunRe.FindStringSubmatch(l); m != nil {
			envProtocols = m[1]
		} else if m := delegRe.FindStringSubmatch(l); m != nil {
			delegated = m[1]
		}
		if m := dirRe.FindStringSubmatch(l); m != nil {
			labDir = m[1]
		}
	}
	text := strings.Join(printed, "\n")
	if secretFile == "" || len(flags["FLAGS"]) == 0 || len(flags["MAILCHECK_FLAGS"]) == 0 || envProtocols == "" || labDir == "" || delegated == "" {
		t.Fatalf("settings incomplete:\n%s", text)
	}
	for _, name := range []string{"MAILAUTH_AUTHORITY_HOST", "MAILAUTH_TENANT", "MAILAUTH_CLIENT_ID", "MAILAUTH_CA_FILE", "MAILAUTH_MAILBOX",
		"MAILAUTH_IMAP_ADDR", "MAILAUTH_POP_ADDR", "MAILAUTH_SMTP_ADDR", "MAILAUTH_EWS_URL", "MAILAUTH_EAS_URL", "MAILAUTH_GRAPH_URL", "MAILAUTH_CACHE"} {
		if env[name] == "" {
			t.Errorf("no %s among the printed variables", name)
		}
	}
	secret, err := os.ReadFile(secretFile)
	if err != nil || len(secret) == 0 {
		t.Fatalf("secret file %s: %v", secretFile, err)
	}
	if st, err := os.Stat(secretFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode: %v %v", st.Mode(), err)
	}
	if strings.Contains(text, string(secret)) {
		t.Fatalf("quickstart -serve printed the client secret:\n%s", text)
	}
	if st, err := os.Stat(labDir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("the lab's directory is not private: %v %v", st.Mode(), err)
	}

	runCheck := func(name, mode, want string, extraEnv []string, args ...string) {
		t.Helper()
		cmd := exec.Command(mailcheck, append(args, "-json")...)
		cmd.Env = append(cleanEnv(), extraEnv...)
		if mode == "app-only" {
			cmd.Env = append(cmd.Env, "MAILAUTH_CLIENT_SECRET="+string(secret))
		}
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		if err != nil {
			t.Errorf("%s: mailcheck %v: %v\n%s\n%s", name, args, err, out.String(), errOut.String())
			return
		}
		var rep struct {
			OK      bool `json:"ok"`
			Mode    string
			Results []struct {
				Protocol string
				OK       bool
			}
		}
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("%s: mailcheck -json: %v\n%s", name, err, out.String())
		}
		var passed []string
		for _, r := range rep.Results {
			if r.OK {
				passed = append(passed, r.Protocol)
			}
		}
		if !rep.OK || rep.Mode != mode || strings.Join(passed, ",") != want {
			t.Errorf("%s: mailcheck passed %v in mode %s, want %s %s:\n%s", name, passed, rep.Mode, want, mode, out.String())
		}
		if strings.Contains(out.String()+errOut.String(), string(secret)) {
			t.Errorf("%s: mailcheck printed the secret", name)
		}
	}
	runCheck("flags", "app-only", AppOnlyProtocols, nil, append(flags["FLAGS"], flags["MAILCHECK_FLAGS"]...)...)
	var vars []string
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	runCheck("environment", "app-only", AppOnlyProtocols, vars, strings.Fields(envProtocols)...)
	runCheck("delegated", "delegated", DelegatedProtocols, vars, strings.Fields(delegated)...)

	// Interrupted, the lab stops and removes its files.
	if err := qs.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	if err := qs.Wait(); err != nil {
		t.Errorf("quickstart -serve after SIGINT: %v\n%s", err, qsErr.String())
	}
	if _, err := os.Stat(labDir); !os.IsNotExist(err) {
		t.Errorf("%s is still there after the lab stopped: %v", labDir, err)
	}
}

func TestServeInProcess(t *testing.T) {
	var errOut bytes.Buffer
	if code := run(t.Context(), []string{"-serve", "-tenant", "contoso.com"}, &bytes.Buffer{}, &errOut); code != 2 || !strings.Contains(errOut.String(), "-serve takes no -tenant") {
		t.Errorf("-serve with -tenant: exit %d, %q", code, errOut.String())
	}
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan int)
	go func() { code := run(ctx, []string{"-serve"}, pw, &errOut); pw.Close(); done <- code }()
	sc := bufio.NewScanner(pr)
	for sc.Scan() && sc.Text() != ReadyLine {
	}
	cancel()
	for sc.Scan() {
	}
	if code := <-done; code != 0 {
		t.Errorf("exit %d: %s", code, errOut.String())
	}
}
