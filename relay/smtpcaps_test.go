package relay_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosasl "github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/internal/core/sasl"
	"github.com/modernauth/mailauth/internal/fake/saslserver"
	"github.com/modernauth/mailauth/internal/fake/testpki"
	"github.com/modernauth/mailauth/relay"
)

const upToken = "upstream-token-4e1c"

// upMail is one message the test upstream accepted, with the parameters it got.
type upMail struct {
	User     string
	From     string
	Mail     smtp.MailOptions
	To       []string
	Rcpt     []smtp.RcptOptions
	Data     []byte
	Received time.Time
}

// upstream is a go-smtp submission server on loopback that takes XOAUTH2 with upToken
// and records every message with its MAIL and RCPT parameters.
type upstream struct {
	addr  string
	ca    *testpki.CA
	conns atomic.Int64
	// refuse, while positive, closes that many connections at once (a down upstream).
	refuse atomic.Int64

	mu    sync.Mutex
	mails []upMail
}

func (u *upstream) messages() []upMail {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.mails)
}

// startUpstream starts a go-smtp server; implicit selects implicit TLS (else STARTTLS);
// mod sets its extension options.
func startUpstream(t *testing.T, ca *testpki.CA, implicit bool, mod func(*smtp.Server)) *upstream {
	t.Helper()
	u := &upstream{ca: ca}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &upSession{u: u}, nil }))
	srv.Domain = "upstream.test"
	srv.ErrorLog = nopLogger{}
	srv.TLSConfig = ca.ServerConfig()
	if mod != nil {
		mod(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var l net.Listener = &upListener{Listener: ln, u: u}
	if implicit {
		l = tls.NewListener(l, srv.TLSConfig)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	u.addr = ln.Addr().String()
	return u
}

type upListener struct {
	net.Listener
	u *upstream
}

func (l *upListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.u.conns.Add(1)
		if l.u.refuse.Add(-1) >= 0 {
			c.Close()
			continue
		}
		return c, nil
	}
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

type upSession struct {
	u    *upstream
	user string
	m    upMail
}

func (s *upSession) AuthMechanisms() []string { return []string{sasl.XOAuth2} }

func (s *upSession) Auth(mech string) (gosasl.Server, error) {
	return xoauth2Server{s: s}, nil
}

type xoauth2Server struct{ s *upSession }

func (x xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	if resp == nil {
		return nil, false, nil
	}
	user, tok, err := saslserver.ParseResponse(sasl.XOAuth2, resp)
	if err != nil || tok != upToken {
		return nil, true, errors.New("bad token")
	}
	x.s.user = user
	return nil, true, nil
}

func (s *upSession) Mail(from string, opts *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.m = upMail{User: s.user, From: from, Mail: *opts}
	return nil
}

func (s *upSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	s.m.To = append(s.m.To, to)
	s.m.Rcpt = append(s.m.Rcpt, *opts)
	return nil
}

func (s *upSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.Data, s.m.Received = b, time.Now()
	s.u.mu.Lock()
	s.u.mails = append(s.u.mails, s.m)
	s.u.mu.Unlock()
	return nil
}

func (s *upSession) Reset()        { s.m = upMail{} }
func (s *upSession) Logout() error { return nil }

// fullUpstream shows every extension the relay can honour, with limits below the
// relay's own.
func fullUpstream(srv *smtp.Server) {
	srv.MaxMessageBytes = 1 << 20
	srv.MaxRecipients = 50
	srv.EnableSMTPUTF8 = true
	srv.EnableDSN = true
	srv.EnableREQUIRETLS = true
	srv.EnableRRVS = true
	srv.EnableDELIVERBY = true
	srv.MinimumDeliverByTime = time.Minute
	srv.EnableMTPRIORITY = true
	srv.MtPriorityProfile = smtp.PriorityMIXER
}

// smtpRelay starts a relay for alice in front of up, with a plaintext SMTP listener on
// 127.0.0.1 that offers STARTTLS. mod may change the options before New.
func smtpRelay(t *testing.T, up *upstream, implicit bool, mod func(*relay.Options)) (*relay.Relay, string, *syncBuffer) {
	t.Helper()
	log := &syncBuffer{}
	o := &relay.Options{
		Accounts:     []relay.Account{{User: "alice", PasswordHash: aliceHash(t), Mailbox: alice, Token: &countingSource{tok: upToken}}},
		SMTP:         relay.Upstream{Addr: up.addr, ImplicitTLS: implicit},
		TLSConfig:    up.ca.ClientConfig(),
		ServerTLS:    up.ca.ServerConfig(),
		FailureDelay: 10 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(o)
	}
	r, err := relay.New(o)
	require.NoError(t, err)
	ln, err := r.Listen(relay.SMTP, "127.0.0.1:0", false)
	require.NoError(t, err)
	go r.Serve(t.Context(), relay.SMTP, ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Shutdown(ctx)
	})
	return r, ln.Addr().String(), log
}

// ehlo is a raw SMTP client that reads EHLO answers.
type ehlo struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

// dialEHLO connects to addr (with TLS at once when implicit) and reads the greeting.
func dialEHLO(t *testing.T, addr string, implicit bool, ca *testpki.CA) *ehlo {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if implicit {
		c = tls.Client(c, clientTLS(ca))
	}
	e := &ehlo{t: t, c: c, br: bufio.NewReader(c)}
	code, _ := e.reply()
	require.Equal(t, 220, code)
	return e
}

func clientTLS(ca *testpki.CA) *tls.Config {
	cfg := ca.ClientConfig()
	cfg.ServerName = "localhost"
	return cfg
}

// cmd sends line and returns the reply's code and lines.
func (e *ehlo) cmd(line string) (int, []string) {
	e.t.Helper()
	_, err := io.WriteString(e.c, line+"\r\n")
	require.NoError(e.t, err)
	return e.reply()
}

func (e *ehlo) reply() (int, []string) {
	e.t.Helper()
	var lines []string
	for {
		l, err := e.br.ReadString('\n')
		require.NoError(e.t, err)
		l = strings.TrimRight(l, "\r\n")
		require.GreaterOrEqual(e.t, len(l), 3, l)
		lines = append(lines, strings.TrimSpace(l[min(4, len(l)):]))
		if len(l) == 3 || l[3] == ' ' {
			code := 0
			for _, ch := range l[:3] {
				code = code*10 + int(ch-'0')
			}
			return code, lines
		}
	}
}

// extensions sends EHLO and returns the extension lines, sorted.
func (e *ehlo) extensions() []string {
	e.t.Helper()
	code, lines := e.cmd("EHLO client.test")
	require.Equal(e.t, 250, code, lines)
	ext := slices.Clone(lines[1:])
	slices.Sort(ext)
	return ext
}

// startTLS upgrades with STARTTLS.
func (e *ehlo) startTLS(ca *testpki.CA) {
	e.t.Helper()
	code, lines := e.cmd("STARTTLS")
	require.Equal(e.t, 220, code, lines)
	tc := tls.Client(e.c, clientTLS(ca))
	require.NoError(e.t, tc.Handshake())
	e.c, e.br = tc, bufio.NewReader(tc)
}

// withAuth returns ext with its AUTH line replaced by auth ("" drops it), sorted.
func withAuth(ext []string, auth string) []string {
	out := slices.DeleteFunc(slices.Clone(ext), func(l string) bool { return l == "AUTH" || strings.HasPrefix(l, "AUTH ") })
	if auth != "" {
		out = append(out, auth)
	}
	slices.Sort(out)
	return out
}

// Issue 12: the relay's EHLO before login is the upstream's, with AUTH replaced by the
// local mechanisms, before and after STARTTLS; with an implicit-TLS upstream too. The
// upstream (go-smtp) shows SIZE, LIMITS, SMTPUTF8, DSN, REQUIRETLS (after TLS only),
// RRVS, DELIVERBY and MT-PRIORITY; the relay offers STARTTLS locally.
func TestSMTPEHLOIsUpstreamsWithLocalAuth(t *testing.T) {
	t.Parallel()
	ca, err := testpki.New()
	require.NoError(t, err)
	for _, implicit := range []bool{false, true} {
		t.Run(map[bool]string{false: "starttls-upstream", true: "implicit-tls-upstream"}[implicit], func(t *testing.T) {
			t.Parallel()
			up := startUpstream(t, ca, implicit, fullUpstream)

			// The upstream's own lists, read directly, before and after TLS.
			ue := dialEHLO(t, up.addr, implicit, ca)
			var upPlain []string
			if !implicit {
				upPlain = ue.extensions()
				ue.startTLS(ca)
			}
			upTLS := ue.extensions()
			require.Contains(t, upTLS, "AUTH XOAUTH2")
			require.Contains(t, upTLS, "REQUIRETLS")
			require.Contains(t, upTLS, "SIZE 1048576")
			if !implicit {
				// The STARTTLS upstream shows before TLS what the relay shows before its
				// own STARTTLS: no REQUIRETLS, STARTTLS offered.
				require.NotContains(t, upPlain, "REQUIRETLS")
				require.Contains(t, upPlain, "STARTTLS")
			}
			_, raddr, _ := smtpRelay(t, up, implicit, nil)
			re := dialEHLO(t, raddr, false, ca)
			probes := up.conns.Load() // the relay's probe came before its greeting
			before := re.extensions()
			re.startTLS(ca)
			after := re.extensions()

			// Before STARTTLS: the upstream's TLS list without REQUIRETLS (shown on TLS
			// only), with STARTTLS since the relay offers it, and AUTH PLAIN LOGIN (a
			// loopback client counts as secure).
			wantBefore := withAuth(append(slices.DeleteFunc(slices.Clone(upTLS), func(l string) bool { return l == "REQUIRETLS" }), "STARTTLS"), "AUTH PLAIN LOGIN")
			assert.Equal(t, wantBefore, before)
			if !implicit {
				assert.Equal(t, withAuth(upPlain, "AUTH PLAIN LOGIN"), before, "= the upstream's list before TLS, AUTH replaced")
			}
			assert.Equal(t, withAuth(upTLS, "AUTH PLAIN LOGIN"), after, "= the upstream's list after TLS, AUTH replaced")
			assert.NotContains(t, strings.Join(after, " "), "XOAUTH2")
			assert.Equal(t, probes, up.conns.Load(), "no upstream connection per session")
		})
	}
}
