// Package dovecot starts a private Dovecot 2.3 instance for interop tests:
// IMAP (STARTTLS and implicit TLS), POP3 (STLS and implicit TLS) and SMTP
// submission (STARTTLS and implicit TLS) on free loopback ports, with an
// oauth2 passdb that validates JWT bearer tokens locally against a given
// public key. Submitted mail is relayed to an in-process SMTP sink that
// delivers local recipients back into their INBOX over Dovecot's LMTP socket,
// so a message sent through submission can be read over IMAP and POP3.
//
// Everything lives in a temporary directory: the generated dovecot.conf, the
// TLS certificate, the validation key, the maildirs and the log. Dovecot is
// run as "dovecot -F -c FILE" and stopped by its pid; the system's own
// Dovecot configuration and service are not touched. The failed-login
// penalty is off.
//
// [Start] skips the test when Dovecot is not installed, and fails it
// instead when the environment variable MAILAUTH_REQUIRE_INTEROP is "1"
// (as CI sets it). Needed Debian packages: dovecot-core dovecot-imapd
// dovecot-pop3d dovecot-submissiond dovecot-lmtpd.
//
// Facts about Dovecot's token checks that shape the tokens a test must mint:
// the JWT header must have typ "JWT"; the key is looked up under the token's
// azp claim (or "default") and its kid; sub and an integer exp are required,
// with no clock leeway; iss must be in Options.Issuers; aud must contain
// Options.ClientID; every scope in Options.Scope must be in the token's
// space-separated "scope" claim; and the SASL user, lower-cased, must equal
// the "email" claim.
package dovecot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
)

// RequireEnv is the environment variable that turns a missing Dovecot from a
// skip into a failure.
const RequireEnv = "MAILAUTH_REQUIRE_INTEROP"

// Packages are the Debian packages the harness needs.
const Packages = "dovecot-core dovecot-imapd dovecot-pop3d dovecot-submissiond dovecot-lmtpd"

// Options configure the instance.
type Options struct {
	// PublicKeyPEM is the PEM public key ("PUBLIC KEY") that verifies the
	// tokens. Required.
	PublicKeyPEM []byte

	// KeyID is the JWT kid the key is installed under. The key is also
	// installed as the default key, for tokens without a kid.
	KeyID string

	// Alg is the JWT algorithm: "RS256" (default), "ES256", ...
	Alg string

	// AZPs are the azp claim values (client IDs) tokens may carry; Dovecot
	// looks the key up in a folder named after the azp, so the key is
	// installed for each of them as well as for tokens without azp.
	AZPs []string

	// Issuers are the accepted iss values. Empty: iss is not checked.
	Issuers []string

	// ClientID must be contained in the token's aud. Empty: aud is not
	// checked.
	ClientID string

	// Scope is a space-separated list of scopes that must all be in the
	// token's "scope" claim. Empty: no scope check.
	Scope string

	// CertPEM and KeyPEM are the server's TLS certificate and key (for
	// example from testpki's Issue("localhost", "127.0.0.1")). Required.
	CertPEM, KeyPEM []byte

	// Users are the mailboxes that exist. Default: alice@example.com,
	// bob@example.com.
	Users []string

	// Messages are put into the users' INBOXes before start (RFC 5322 text;
	// bare LF is turned into CRLF).
	Messages map[string][]string
}

// Server is a running Dovecot instance. Its methods are safe for concurrent
// use.
type Server struct {
	// Dir is the instance's directory (config, log, maildirs).
	Dir string

	IMAPAddr        string // IMAP, STARTTLS (143-style)
	IMAPSAddr       string // IMAP, implicit TLS (993-style)
	POP3Addr        string // POP3, STLS (110-style)
	POP3SAddr       string // POP3, implicit TLS (995-style)
	SubmissionAddr  string // submission, STARTTLS (587-style)
	SubmissionsAddr string // submission, implicit TLS (465-style)

	cmd      *exec.Cmd
	waitDone chan struct{}
	sink     *sink
	stopOnce sync.Once
}

// Lookup returns the path of the dovecot binary, or an error that says what
// to install.
func Lookup() (string, error) {
	path, err := exec.LookPath("dovecot")
	if err != nil {
		for _, p := range []string{"/usr/sbin/dovecot", "/usr/local/sbin/dovecot"} {
			if _, serr := os.Stat(p); serr == nil {
				path, err = p, nil
				break
			}
		}
	}
	if err != nil {
		return "", fmt.Errorf("dovecot is not installed (apt-get install -y %s)", Packages)
	}
	out, err := exec.Command(siblingOf(path, "doveconf"), "-c", "/dev/null", "-h", "libexec_dir").Output()
	if err != nil {
		return "", fmt.Errorf("doveconf does not work: %v", err)
	}
	libexec := strings.TrimSpace(string(out))
	for _, f := range []string{"imap", "pop3", "submission", "lmtp"} {
		if _, err := os.Stat(filepath.Join(libexec, f)); err != nil {
			return "", fmt.Errorf("dovecot's %s is missing (apt-get install -y %s)", f, Packages)
		}
	}
	return path, nil
}

func siblingOf(path, name string) string {
	p := filepath.Join(filepath.Dir(path), name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if lp, err := exec.LookPath(name); err == nil {
		return lp
	}
	return p
}

// TB is the part of testing.TB the harness uses; *testing.T and *testing.B satisfy it. The
// harness takes this interface so that it does not link the testing package into the
// programs that import it.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Cleanup(func())
}

// Skip reports through t that Dovecot is unavailable: t.Skip normally,
// t.Fatal when MAILAUTH_REQUIRE_INTEROP=1.
func Skip(t TB, reason string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("interop required (%s=1) but %s", RequireEnv, reason)
		return
	}
	t.Skipf("skipping Dovecot interop test: %s (set %s=1 to make this a failure)", reason, RequireEnv)
}

// Start starts an instance for the test and stops it in t.Cleanup. It skips
// or fails the test as [Skip] does when Dovecot is missing, and fails it when
// Dovecot does not come up.
func Start(t TB, opts Options) *Server {
	t.Helper()
	if _, err := Lookup(); err != nil {
		Skip(t, err.Error())
		return nil
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("%v", err)
		return nil
	}
	t.Cleanup(s.Stop)
	return s
}

// New starts an instance that outlives any one test, for a TestMain that
// shares it; the caller must call [Server.Stop]. It returns the error of
// [Lookup] when Dovecot is missing (callers decide whether to skip). A port
// taken between choosing and binding it is retried with new ports.
func New(opts Options) (*Server, error) {
	bin, err := Lookup()
	if err != nil {
		return nil, err
	}
	var s *Server
	for attempt := 0; ; attempt++ {
		s, err = start(bin, opts)
		if err == nil || attempt == 2 || !errors.Is(err, errPortBusy) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("dovecot: %w", err)
	}
	return s, nil
}

var errPortBusy = errors.New("port already in use")

func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

type ids struct {
	root             bool
	mailUID, mailGID int
	authUser         string
	me, myGroup      string
}

func whoami() (ids, error) {
	var x ids
	if os.Geteuid() == 0 {
		x.root = true
		nobody, err := user.Lookup("nobody")
		if err != nil {
			return x, fmt.Errorf("user nobody: %w", err)
		}
		x.mailUID, _ = strconv.Atoi(nobody.Uid)
		x.mailGID, _ = strconv.Atoi(nobody.Gid)
		for _, u := range []string{"dovecot", "dovenull"} {
			if _, err := user.Lookup(u); err != nil {
				return x, fmt.Errorf("system user %s is missing (is dovecot-core installed?)", u)
			}
		}
		x.authUser = "dovecot"
		return x, nil
	}
	me, err := user.Current()
	if err != nil {
		return x, err
	}
	g, err := user.LookupGroupId(me.Gid)
	if err != nil {
		return x, err
	}
	x.mailUID, _ = strconv.Atoi(me.Uid)
	x.mailGID, _ = strconv.Atoi(me.Gid)
	x.me, x.myGroup, x.authUser = me.Username, g.Name, me.Username
	return x, nil
}

func start(bin string, o Options) (s *Server, err error) {
	if len(o.PublicKeyPEM) == 0 || len(o.CertPEM) == 0 || len(o.KeyPEM) == 0 {
		return nil, errors.New("Options.PublicKeyPEM, CertPEM and KeyPEM are required")
	}
	if o.Alg == "" {
		o.Alg = "RS256"
	}
	if len(o.Users) == 0 {
		o.Users = []string{"alice@example.com", "bob@example.com"}
	}
	who, err := whoami()
	if err != nil {
		return nil, err
	}
	// The auth process (user dovecot) and mail processes (nobody) must be
	// able to traverse the directory, so it lives under the world-traversable
	// temp dir with mode 0755.
	dir, err := os.MkdirTemp("", "mailauth-dovecot-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if s != nil {
				s.Stop()
			}
			os.RemoveAll(dir)
		}
	}()
	for _, d := range []string{"", "etc", "tls", "jwt", "mail", "run", "state", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
		os.Chmod(filepath.Join(dir, d), 0o755)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls", "server.crt"), o.CertPEM, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls", "server.key"), o.KeyPEM, 0o600); err != nil {
		return nil, err
	}
	// Key dictionary: fs:posix:prefix=DIR/ reads DIR/<azp|default>/<ALG>/<kid|default>.
	kids := []string{"default"}
	if o.KeyID != "" {
		kids = append(kids, o.KeyID)
	}
	for _, azp := range append([]string{"default"}, o.AZPs...) {
		if azp == "" || strings.ContainsAny(azp, "/\x00") || azp == "." || azp == ".." {
			return nil, fmt.Errorf("bad azp %q", azp)
		}
		kd := filepath.Join(dir, "jwt", "keys", azp, o.Alg)
		if err := os.MkdirAll(kd, 0o755); err != nil {
			return nil, err
		}
		for _, p := range []string{filepath.Join(dir, "jwt", "keys"), filepath.Join(dir, "jwt", "keys", azp), kd} {
			os.Chmod(p, 0o755)
		}
		for _, kid := range kids {
			if err := os.WriteFile(filepath.Join(kd, kid), o.PublicKeyPEM, 0o644); err != nil {
				return nil, err
			}
		}
	}

	// Users and maildirs.
	var users bytes.Buffer
	n := 0
	for _, u := range o.Users {
		u = strings.ToLower(u)
		home := filepath.Join(dir, "mail", u)
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(home, "Maildir", sub), 0o700); err != nil {
				return nil, err
			}
		}
		for _, m := range o.Messages[u] {
			n++
			m = strings.ReplaceAll(strings.ReplaceAll(m, "\r\n", "\n"), "\n", "\r\n")
			f := filepath.Join(home, "Maildir", "new", fmt.Sprintf("%d.M%dP1.mailauth", 1700000000+n, n))
			if err := os.WriteFile(f, []byte(m), 0o600); err != nil {
				return nil, err
			}
		}
		fmt.Fprintf(&users, "%s::%d:%d::%s::\n", u, who.mailUID, who.mailGID, home)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "users"), users.Bytes(), 0o644); err != nil {
		return nil, err
	}
	if who.root {
		if err := chownR(filepath.Join(dir, "mail"), who.mailUID, who.mailGID); err != nil {
			return nil, err
		}
	}

	ports, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	snk, err := newSink(filepath.Join(dir, "run", "lmtp"))
	if err != nil {
		return nil, err
	}
	s = &Server{
		Dir:             dir,
		IMAPAddr:        addr(ports[0]),
		IMAPSAddr:       addr(ports[1]),
		POP3Addr:        addr(ports[2]),
		POP3SAddr:       addr(ports[3]),
		SubmissionAddr:  addr(ports[4]),
		SubmissionsAddr: addr(ports[5]),
		sink:            snk,
	}
	conf := config(dir, o, who, ports, snk.port())
	oauthConf := oauth2Config(dir, o)
	if err := os.WriteFile(filepath.Join(dir, "etc", "dovecot-oauth2.conf.ext"), []byte(oauthConf), 0o644); err != nil {
		return s, err
	}
	confPath := filepath.Join(dir, "etc", "dovecot.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return s, err
	}

	stdio, err := os.Create(filepath.Join(dir, "log", "dovecot.stdio"))
	if err != nil {
		return s, err
	}
	defer stdio.Close()
	cmd := exec.Command(bin, "-F", "-c", confPath)
	cmd.Stdout, cmd.Stderr = stdio, stdio
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return s, fmt.Errorf("starting dovecot: %w", err)
	}
	s.cmd = cmd
	s.waitDone = make(chan struct{})
	go func() {
		cmd.Wait()
		close(s.waitDone)
	}()
	if err := s.waitReady(30 * time.Second); err != nil {
		return s, err
	}
	return s, nil
}

func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func chownR(root string, uid, gid int) error {
	return filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

func oauth2Config(dir string, o Options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "introspection_mode = local\n")
	fmt.Fprintf(&b, "local_validation_key_dict = fs:posix:prefix=%s/\n", filepath.Join(dir, "jwt", "keys"))
	b.WriteString("username_attribute = email\nusername_format = %Lu\n")
	if len(o.Issuers) > 0 {
		fmt.Fprintf(&b, "issuers = %s\n", strings.Join(o.Issuers, " "))
	}
	if o.ClientID != "" {
		fmt.Fprintf(&b, "client_id = %s\n", o.ClientID)
	}
	if o.Scope != "" {
		fmt.Fprintf(&b, "scope = %s\n", o.Scope)
	}
	b.WriteString("debug = yes\n")
	return b.String()
}

func config(dir string, o Options, who ids, ports []int, sinkPort int) string {
	runAs := ""
	anvilChroot := ""
	if !who.root {
		runAs = fmt.Sprintf(`default_internal_user = %[1]s
default_internal_group = %[2]s
default_login_user = %[1]s
first_valid_uid = %[3]d
first_valid_gid = %[4]d
service imap-login {
  chroot =
}
service pop3-login {
  chroot =
}
service submission-login {
  chroot =
}
`, who.me, who.myGroup, who.mailUID, who.mailGID)
		anvilChroot = "  chroot =\n"
	}
	return fmt.Sprintf(`# Generated by mailauth's internal/interop/dovecot test harness; loopback only.
instance_name = mailauth-%[1]d
base_dir = %[2]s/run
state_dir = %[2]s/state
log_path = %[2]s/log/dovecot.log
info_log_path = %[2]s/log/dovecot.log
debug_log_path = %[2]s/log/dovecot.log
protocols = imap pop3 submission lmtp
listen = 127.0.0.1
hostname = mail.example.com
login_greeting = Dovecot mailauth interop ready.
%[3]s
ssl = yes
ssl_cert = <%[2]s/tls/server.crt
ssl_key = <%[2]s/tls/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes

auth_mechanisms = xoauth2 oauthbearer
auth_username_format = %%Lu
auth_failure_delay = 0
auth_verbose = yes
auth_debug = yes

passdb {
  driver = oauth2
  args = %[2]s/etc/dovecot-oauth2.conf.ext
}
userdb {
  driver = passwd-file
  args = username_format=%%Lu %[2]s/etc/users
}

mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
  prefix =
  mailbox Sent {
    special_use = \Sent
    auto = create
  }
}
pop3_uidl_format = %%08Xu%%08Xv

submission_relay_host = 127.0.0.1
submission_relay_port = %[4]d
submission_relay_ssl = no
submission_relay_trusted = no

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[5]d
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %[6]d
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = %[7]d
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = %[8]d
    ssl = yes
  }
}
service submission-login {
  inet_listener submission {
    address = 127.0.0.1
    port = %[9]d
  }
  inet_listener submissions {
    address = 127.0.0.1
    port = %[10]d
    ssl = yes
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
# The auth process cannot reach anvil's penalty socket when its mode is 0,
# which turns Dovecot's failed-login penalty (2-15 s per IP) off.
service anvil {
%[11]s  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
`, ports[0], dir, runAs, sinkPort, ports[0], ports[1], ports[2], ports[3], ports[4], ports[5], anvilChroot)
}

// waitReady waits until every listener answers and the LMTP socket exists.
func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	check := func() bool {
		for _, p := range []struct{ addr, prefix string }{
			{s.IMAPAddr, "* OK"}, {s.POP3Addr, "+OK"}, {s.SubmissionAddr, "220"},
		} {
			if !greets(p.addr, p.prefix) {
				return false
			}
		}
		for _, a := range []string{s.IMAPSAddr, s.POP3SAddr, s.SubmissionsAddr} {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err != nil {
				return false
			}
			c.Close()
		}
		_, err := os.Stat(filepath.Join(s.Dir, "run", "lmtp"))
		return err == nil
	}
	for !check() {
		select {
		case <-s.waitDone:
			out := s.tail()
			if strings.Contains(out, "Address already in use") {
				return fmt.Errorf("%w: %s", errPortBusy, out)
			}
			return fmt.Errorf("dovecot exited during start:\n%s", out)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dovecot not ready after %s:\n%s", timeout, s.tail())
		}
		time.Sleep(30 * time.Millisecond)
	}
	return nil
}

func greets(addr, prefix string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 64)
	n, _ := io.ReadAtLeast(c, buf, len(prefix))
	return strings.HasPrefix(string(buf[:n]), prefix)
}

func (s *Server) tail() string {
	var out []string
	for _, f := range []string{"dovecot.stdio", "dovecot.log"} {
		b, _ := os.ReadFile(filepath.Join(s.Dir, "log", f))
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 20 {
			lines = lines[len(lines)-20:]
		}
		out = append(out, lines...)
	}
	return strings.Join(out, "\n")
}

// Log returns Dovecot's log so far. Token failures are only explained here
// ("oauth2 failed: Local validation failed: Token has expired").
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "log", "dovecot.log"))
	return string(b)
}

// CAFile returns the path of the server certificate, for clients that take
// a CA file.
func (s *Server) CAFile() string { return filepath.Join(s.Dir, "tls", "server.crt") }

// Relayed returns the messages the submission service relayed, in order.
func (s *Server) Relayed() []Relayed { return s.sink.messages() }

// Stop stops Dovecot (SIGTERM to the master's process group, SIGKILL after
// 5 s), closes the relay sink and removes the directory. It is idempotent.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			pid := s.cmd.Process.Pid
			syscall.Kill(-pid, syscall.SIGTERM)
			select {
			case <-s.waitDone:
			case <-time.After(5 * time.Second):
				syscall.Kill(-pid, syscall.SIGKILL)
				<-s.waitDone
			}
		}
		if s.sink != nil {
			s.sink.close()
		}
		if os.Getenv("MAILAUTH_KEEP_DOVECOT") == "" {
			os.RemoveAll(s.Dir)
		}
	})
}

// Relayed is one message the submission service relayed.
type Relayed struct {
	From      string
	To        []string
	Data      []byte
	Delivered error // result of the LMTP delivery to local recipients
}

// sink is the SMTP server Dovecot's submission service relays to. It
// delivers every message to its recipients through Dovecot's LMTP socket.
type sink struct {
	srv  *smtp.Server
	ln   net.Listener
	lmtp string
	mu   sync.Mutex // guards msgs
	msgs []Relayed
	done chan struct{}
}

func newSink(lmtpSocket string) (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	k := &sink{ln: ln, lmtp: lmtpSocket, done: make(chan struct{})}
	k.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &sinkSession{k: k}, nil
	}))
	k.srv.Domain = "sink.example.com"
	k.srv.ReadTimeout = 30 * time.Second
	k.srv.WriteTimeout = 30 * time.Second
	k.srv.MaxMessageBytes = 16 << 20
	go func() {
		defer close(k.done)
		k.srv.Serve(ln)
	}()
	return k, nil
}

func (k *sink) port() int { return k.ln.Addr().(*net.TCPAddr).Port }

func (k *sink) close() {
	k.srv.Close()
	<-k.done
}

func (k *sink) messages() []Relayed {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]Relayed(nil), k.msgs...)
}

func (k *sink) deliver(from string, to []string, data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", k.lmtp)
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("sink.example.com"); err != nil {
		return err
	}
	if err := c.SendMail(from, to, bytes.NewReader(data)); err != nil {
		return err
	}
	return c.Quit()
}

type sinkSession struct {
	k    *sink
	from string
	to   []string
}

func (ss *sinkSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *sinkSession) Logout() error { return nil }

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	derr := ss.k.deliver(ss.from, ss.to, data)
	ss.k.mu.Lock()
	ss.k.msgs = append(ss.k.msgs, Relayed{From: ss.from, To: append([]string(nil), ss.to...), Data: data, Delivered: derr})
	ss.k.mu.Unlock()
	if derr != nil {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "LMTP delivery failed"}
	}
	return nil
}

// String describes the options without the TLS private key.
func (o Options) String() string {
	return fmt.Sprintf("dovecot.Options{KeyID:%q Alg:%q AZPs:%q Issuers:%q ClientID:%q Scope:%q Users:%q KeyPEM:redacted}",
		o.KeyID, o.Alg, o.AZPs, o.Issuers, o.ClientID, o.Scope, o.Users)
}

// GoString is String.
func (o Options) GoString() string { return o.String() }

// Format makes every fmt verb print String.
func (o Options) Format(f fmt.State, _ rune) { fmt.Fprint(f, o.String()) }
