package dovecot

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modernauth/mailauth/internal/fake/testpki"
)

// recorder is a testing.TB that records Skipf and Fatalf instead of ending
// the goroutine.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Skipf(f string, a ...any)  { r.skipped = fmt.Sprintf(f, a...) }
func (r *recorder) Fatalf(f string, a ...any) { r.failed = fmt.Sprintf(f, a...) }
func (r *recorder) Cleanup(func())            {}
func (r *recorder) Logf(string, ...any)       {}
func (r *recorder) Errorf(f string, a ...any) { r.failed = fmt.Sprintf(f, a...) }
func (r *recorder) Name() string              { return "recorder" }
func (r *recorder) TempDir() string           { return os.TempDir() }
func (r *recorder) Setenv(string, string)     {}
func (r *recorder) Skip(a ...any)             { r.skipped = fmt.Sprint(a...) }
func (r *recorder) Fatal(a ...any)            { r.failed = fmt.Sprint(a...) }
func (r *recorder) Log(...any)                {}
func (r *recorder) Error(a ...any)            { r.failed = fmt.Sprint(a...) }
func (r *recorder) Fail()                     {}
func (r *recorder) FailNow()                  {}
func (r *recorder) Failed() bool              { return r.failed != "" }
func (r *recorder) SkipNow()                  {}
func (r *recorder) Skipped() bool             { return r.skipped != "" }

func TestSkipOrFail(t *testing.T) {
	t.Setenv(RequireEnv, "")
	r := &recorder{}
	Skip(r, "dovecot is not installed")
	if !strings.Contains(r.skipped, "dovecot is not installed") || !strings.Contains(r.skipped, RequireEnv) || r.failed != "" {
		t.Fatalf("without %s: skipped %q failed %q", RequireEnv, r.skipped, r.failed)
	}
	t.Setenv(RequireEnv, "1")
	r = &recorder{}
	Skip(r, "dovecot is not installed")
	if r.failed == "" || r.skipped != "" {
		t.Fatalf("with %s=1: skipped %q failed %q", RequireEnv, r.skipped, r.failed)
	}
}

func TestStartStop(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := testpki.New()
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	s := Start(t, Options{
		PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		KeyID:        "k1",
		AZPs:         []string{"app-1"},
		CertPEM:      certPEM,
		KeyPEM:       keyPEM,
		Messages:     map[string][]string{"alice@example.com": {"Subject: x\n\nbody\n"}},
	})
	for _, p := range []struct{ addr, greeting string }{
		{s.IMAPAddr, "* OK"}, {s.POP3Addr, "+OK Dovecot mailauth interop ready."}, {s.SubmissionAddr, "220 "},
	} {
		c, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if !strings.HasPrefix(line, p.greeting) {
			t.Errorf("%s greets %q, want prefix %q", p.addr, line, p.greeting)
		}
	}
	for _, f := range []string{"jwt/keys/default/RS256/k1", "jwt/keys/default/RS256/default", "jwt/keys/app-1/RS256/k1"} {
		if _, err := os.Stat(s.Dir + "/" + f); err != nil {
			t.Errorf("validation key %s: %v", f, err)
		}
	}
	pid := s.cmd.Process.Pid
	s.Stop()
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("directory left behind: %v", err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("dovecot master %d still running", pid)
	}
	if c, err := net.DialTimeout("tcp", s.POP3Addr, time.Second); err == nil {
		c.Close()
		t.Errorf("POP3 port still answers after Stop")
	}
}
