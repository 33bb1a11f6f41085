package relay_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/testpki"
	"github.com/modernauth/mailauth/internal/interop/dovecot"
	"github.com/modernauth/mailauth/relay"
)

const (
	tenant   = "contoso-tenant"
	alice    = "alice@example.com"
	bob      = "bob@example.com"
	audience = "https://outlook.office365.com"
	scopes   = "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send"
	// alicePW is alice's local password: it must never show in a log.
	alicePW = "Local-Secret-9d1f PW with spaces"
)

// lab is one Dovecot that trusts one fake Entra ID.
type lab struct {
	idp    *fakeidp.IdP
	ca     *testpki.CA
	dc     *dovecot.Server
	tls    *tls.Config
	issuer string
}

var shared struct {
	once     sync.Once
	l        *lab
	err      error
	hash     string
	hashErr  error
	hashOnce sync.Once
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, l := range []*lab{shared.l, benchLab.l} { // benchLab: the benchmarks' 100 MiB mailbox
		if l != nil {
			l.dc.Stop()
			l.idp.Close()
		}
	}
	os.Exit(code)
}

func newLab(t testing.TB) *lab {
	t.Helper()
	if _, err := dovecot.Lookup(); err != nil {
		dovecot.Skip(t, err.Error())
		return nil
	}
	shared.once.Do(func() { shared.l, shared.err = buildLab(nil) })
	require.NoError(t, shared.err, "starting Dovecot")
	return shared.l
}

// buildLab starts a Dovecot; extra adds users with their INBOX messages.
func buildLab(extra map[string][]string) (*lab, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	idp, err := fakeidp.New(fakeidp.Options{SigningKey: key, DovecotClaims: true})
	if err != nil {
		return nil, err
	}
	ca, err := testpki.New()
	if err != nil {
		idp.Close()
		return nil, err
	}
	certPEM, keyPEM, err := ca.Issue("localhost", "127.0.0.1")
	if err != nil {
		idp.Close()
		return nil, err
	}
	l := &lab{idp: idp, ca: ca, issuer: idp.URL() + "/" + tenant + "/v2.0"}
	msgs := map[string][]string{
		alice: {"From: <carol@example.com>\r\nTo: <alice@example.com>\r\nSubject: Welcome Alice\r\n\r\nHello alice.\r\n.dot line\r\n"},
	}
	users := []string{alice, bob}
	for u, m := range extra {
		users = append(users, u)
		msgs[u] = m
	}
	l.dc, err = dovecot.New(dovecot.Options{
		PublicKeyPEM: idp.PublicKeyPEM(), KeyID: idp.KeyID(), Issuers: []string{l.issuer},
		ClientID: audience, Scope: scopes, CertPEM: certPEM, KeyPEM: keyPEM,
		Users: users, Messages: msgs,
	})
	if err != nil {
		idp.Close()
		return nil, err
	}
	l.tls = ca.ClientConfig()
	return l, nil
}

func (l *lab) token(t testing.TB, user string) string {
	t.Helper()
	now := time.Now()
	tok, err := l.idp.Mint(fakeidp.Claims{
		Audience: audience, Issuer: l.issuer, Subject: "sub-" + user, TenantID: tenant, OID: "oid-" + user,
		UPN: user, Email: user, Scope: scopes, Scp: strings.Fields(scopes),
		IssuedAt: now.Add(-time.Minute), NotBefore: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour),
	})
	require.NoError(t, err)
	return tok
}

// countingSource is a static token source that counts fetches.
type countingSource struct {
	tok     string
	fetches atomic.Int64
}

func (s *countingSource) Token() (*oauth2.Token, error) {
	s.fetches.Add(1)
	return &oauth2.Token{AccessToken: s.tok, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, nil
}

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// aliceHash is alice's local password hash, made once.
func aliceHash(t testing.TB) string {
	t.Helper()
	shared.hashOnce.Do(func() { shared.hash, shared.hashErr = relay.HashPassword(alicePW) })
	require.NoError(t, shared.hashErr)
	return shared.hash
}

// running is a relay on loopback with its listeners' addresses.
type running struct {
	r                *relay.Relay
	imap, pop3, smtp string
	log              *syncBuffer
	src              *countingSource
	dials            *atomic.Int64
}

// startRelay starts a relay for alice in front of the lab (plaintext listeners on
// 127.0.0.1, STARTTLS upstream). mod may change the options before New.
func startRelay(t testing.TB, l *lab, mod func(*relay.Options)) *running {
	t.Helper()
	rn := &running{log: &syncBuffer{}, src: &countingSource{tok: l.token(t, alice)}, dials: &atomic.Int64{}}
	o := &relay.Options{
		Accounts:     []relay.Account{{User: "alice", PasswordHash: aliceHash(t), Mailbox: alice, Token: rn.src}},
		IMAP:         relay.Upstream{Addr: l.dc.IMAPAddr},
		POP3:         relay.Upstream{Addr: l.dc.POP3SAddr, ImplicitTLS: true},
		SMTP:         relay.Upstream{Addr: l.dc.SubmissionAddr},
		TLSConfig:    l.tls,
		FailureDelay: 50 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(rn.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Dialer: &net.Dialer{Timeout: 5 * time.Second, Control: func(string, string, syscall.RawConn) error {
			rn.dials.Add(1)
			return nil
		}},
	}
	if mod != nil {
		mod(o)
	}
	r, err := relay.New(o)
	require.NoError(t, err)
	rn.r = r
	serve := func(p relay.Protocol) string {
		ln, err := r.Listen(p, "127.0.0.1:0", false)
		require.NoError(t, err)
		go r.Serve(t.Context(), p, ln)
		return ln.Addr().String()
	}
	if o.IMAP.Addr != "" {
		rn.imap = serve(relay.IMAP)
	}
	if o.POP3.Addr != "" {
		rn.pop3 = serve(relay.POP3)
	}
	rn.smtp = serve(relay.SMTP)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Shutdown(ctx)
	})
	// Wait for the capability probes, so that dial counts start at zero.
	time.Sleep(300 * time.Millisecond)
	rn.dials.Store(0)
	return rn
}

// python runs script with python3 and the given environment; it skips when python3
// is missing (fails with MAILAUTH_REQUIRE_INTEROP=1).
func python(t *testing.T, script string, env ...string) string {
	t.Helper()
	out, err := pythonErr(t, script, env...)
	require.NoError(t, err, "python: %s", out)
	return out
}

func pythonErr(t *testing.T, script string, env ...string) (string, error) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		dovecot.Skip(t, "python3 is not installed")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-c", script)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func hostPort(t *testing.T, addr string) []string {
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	return []string{"HOST=" + host, "PORT=" + port}
}

func pythonCmd(t *testing.T, script string, env ...string) *exec.Cmd {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		dovecot.Skip(t, "python3 is not installed")
	}
	cmd := exec.CommandContext(t.Context(), py, "-c", script)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

type lineReader struct{ br *bufio.Reader }

func newLineReader(c net.Conn) *lineReader {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &lineReader{bufio.NewReader(c)}
}

func (l *lineReader) line(t *testing.T) string {
	t.Helper()
	s, err := l.br.ReadString('\n')
	require.NoError(t, err)
	return s
}

func itoa(i int) string { return strconv.Itoa(i) }
