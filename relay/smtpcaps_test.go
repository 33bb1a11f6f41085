package relay_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
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

// loginClient dials the relay with go-smtp's client, upgrades with STARTTLS and logs in
// as alice with PLAIN.
func loginClient(t *testing.T, addr string, ca *testpki.CA) *smtp.Client {
	t.Helper()
	c, err := smtp.DialStartTLS(addr, clientTLS(ca))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.Auth(gosasl.NewPlainClient("", "alice", alicePW)))
	return c
}

// Issue 12: what the relay shows it honours: the MAIL and RCPT parameters of SIZE,
// SMTPUTF8, REQUIRETLS, DSN (RET, ENVID, NOTIFY, ORCPT), RRVS, DELIVERBY and
// MT-PRIORITY reach the upstream unchanged, BODY=8BITMIME too; the client's AUTH= does
// not.
func TestSMTPParametersReachUpstream(t *testing.T) {
	t.Parallel()
	ca, err := testpki.New()
	require.NoError(t, err)
	up := startUpstream(t, ca, false, fullUpstream)
	_, raddr, log := smtpRelay(t, up, false, nil)
	c := loginClient(t, raddr, ca)

	submitter := "someone-else@example.com"
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	prio := 3
	require.NoError(t, c.Mail(alice, &smtp.MailOptions{Body: smtp.Body8BitMIME, Size: 321, UTF8: true, RequireTLS: true,
		Return: smtp.DSNReturnHeaders, EnvelopeID: "env+42", Auth: &submitter}))
	require.NoError(t, c.Rcpt("bob@example.com", &smtp.RcptOptions{
		Notify:                []smtp.DSNNotify{smtp.DSNNotifySuccess, smtp.DSNNotifyFailure},
		OriginalRecipientType: smtp.DSNAddressTypeRFC822, OriginalRecipient: "bob@example.com",
		RequireRecipientValidSince: since,
		DeliverBy:                  &smtp.DeliverByOptions{Time: 2 * time.Hour, Mode: smtp.DeliverByReturn},
		MTPriority:                 &prio,
	}))
	require.NoError(t, c.Rcpt("jörg@example.com", &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifyNever}}))
	w, err := c.Data()
	require.NoError(t, err)
	msg := "From: <alice@example.com>\r\nTo: =?utf-8?q?J=C3=B6rg?= <jörg@example.com>\r\nSubject: Grüße\r\n\r\nnaïve 8-bit body\r\n"
	_, err = io.WriteString(w, msg)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, c.Quit())

	got := up.messages()
	require.Len(t, got, 1)
	m := got[0]
	assert.Equal(t, alice, m.User, "XOAUTH2 as the account's mailbox")
	assert.Equal(t, alice, m.From)
	assert.Equal(t, []string{"bob@example.com", "jörg@example.com"}, m.To)
	assert.Equal(t, smtp.Body8BitMIME, m.Mail.Body)
	assert.Equal(t, int64(321), m.Mail.Size)
	assert.True(t, m.Mail.UTF8, "SMTPUTF8")
	assert.True(t, m.Mail.RequireTLS, "REQUIRETLS")
	assert.Equal(t, smtp.DSNReturnHeaders, m.Mail.Return)
	assert.Equal(t, "env+42", m.Mail.EnvelopeID)
	assert.Nil(t, m.Mail.Auth, "the client's AUTH= is not passed on")
	require.Len(t, m.Rcpt, 2)
	assert.Equal(t, []smtp.DSNNotify{smtp.DSNNotifySuccess, smtp.DSNNotifyFailure}, m.Rcpt[0].Notify)
	assert.Equal(t, smtp.DSNAddressTypeRFC822, m.Rcpt[0].OriginalRecipientType)
	assert.Equal(t, "bob@example.com", m.Rcpt[0].OriginalRecipient)
	assert.True(t, since.Equal(m.Rcpt[0].RequireRecipientValidSince), "RRVS %v", m.Rcpt[0].RequireRecipientValidSince)
	require.NotNil(t, m.Rcpt[0].DeliverBy)
	assert.Equal(t, smtp.DeliverByOptions{Time: 2 * time.Hour, Mode: smtp.DeliverByReturn}, *m.Rcpt[0].DeliverBy)
	require.NotNil(t, m.Rcpt[0].MTPriority)
	assert.Equal(t, 3, *m.Rcpt[0].MTPriority)
	assert.Equal(t, []smtp.DSNNotify{smtp.DSNNotifyNever}, m.Rcpt[1].Notify)
	assert.Equal(t, msg, string(m.Data), "the 8-bit message arrives unchanged")
	assert.NotContains(t, log.String(), alicePW)
	assert.NotContains(t, log.String(), upToken)
}

// Issue 12: SIZE is the smaller of the upstream's (1 MiB) and Options.MaxMessageBytes; a
// MAIL FROM with a larger SIZE= gets 552 before DATA, and a larger message without
// SIZE= gets 552 at the end of DATA; neither reaches the upstream. With
// MaxMessageBytes below the upstream's, SIZE shows the relay's.
func TestSMTPSizeOverLimitRefusedBeforeData(t *testing.T) {
	t.Parallel()
	ca, err := testpki.New()
	require.NoError(t, err)
	up := startUpstream(t, ca, false, fullUpstream)
	_, raddr, _ := smtpRelay(t, up, false, nil)
	c := loginClient(t, raddr, ca)
	ok, size := c.Extension("SIZE")
	require.True(t, ok)
	assert.Equal(t, "1048576", size)
	conns := up.conns.Load()

	err = c.Mail(alice, &smtp.MailOptions{Size: 1<<20 + 1})
	var se *smtp.SMTPError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 552, se.Code)
	assert.Equal(t, smtp.EnhancedCode{5, 3, 4}, se.EnhancedCode)

	require.NoError(t, c.Mail(alice, &smtp.MailOptions{Size: 1 << 20}), "at the limit is fine")
	require.NoError(t, c.Rcpt("bob@example.com", nil))
	w, err := c.Data()
	require.NoError(t, err)
	line := strings.Repeat("x", 998) + "\r\n"
	for n := 0; n <= 1<<20; n += len(line) {
		if _, err := io.WriteString(w, line); err != nil {
			break
		}
	}
	err = w.Close()
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 552, se.Code)
	assert.Equal(t, conns, up.conns.Load(), "nothing went upstream")
	assert.Empty(t, up.messages())

	_, raddr, _ = smtpRelay(t, up, false, func(o *relay.Options) { o.MaxMessageBytes = 4096 })
	e := dialEHLO(t, raddr, false, ca)
	assert.Contains(t, e.extensions(), "SIZE 4096")
}

// Issue 12, Dovecot: the relay's EHLO in front of Dovecot's submission service is
// Dovecot's with AUTH replaced, before and after STARTTLS, less BURL (the relay cannot
// honour it); Dovecot's bare SIZE becomes the relay's own limit.
func TestSMTPEHLOFromDovecot(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	rn := startRelay(t, l, func(o *relay.Options) { o.ServerTLS = l.ca.ServerConfig() })

	de := dialEHLO(t, l.dc.SubmissionAddr, false, l.ca)
	dPlain := de.extensions()
	de.startTLS(l.ca)
	dTLS := de.extensions()
	require.Contains(t, dTLS, "BURL imap", "Dovecot shows BURL")
	require.Contains(t, strings.Join(dTLS, "\n"), "XOAUTH2")
	mapped := func(ext []string) []string {
		out := slices.DeleteFunc(slices.Clone(ext), func(l string) bool { return strings.HasPrefix(l, "BURL") })
		for i, l := range out {
			if l == "SIZE" {
				out[i] = "SIZE 157286400"
			}
		}
		return withAuth(out, "AUTH PLAIN LOGIN")
	}

	re := dialEHLO(t, rn.smtp, false, l.ca)
	before := re.extensions()
	re.startTLS(l.ca)
	after := re.extensions()
	assert.Equal(t, mapped(dPlain), before)
	assert.Equal(t, mapped(dTLS), after)
	assert.Zero(t, rn.dials.Load(), "no upstream connection for EHLO")
}

// Issue 12: a Graph-only relay keeps its own list (the graph package states no limit for
// a whole message, so SIZE is Options.MaxMessageBytes).
func TestSMTPEHLOGraphOnly(t *testing.T) {
	t.Parallel()
	_, rn, _ := graphRelay(t)
	e := dialEHLO(t, rn.smtp, false, nil)
	assert.Equal(t, []string{"8BITMIME", "AUTH PLAIN LOGIN", "CHUNKING", "ENHANCEDSTATUSCODES", "LIMITS RCPTMAX=500", "PIPELINING", "SIZE 157286400"}, e.extensions())
}

// Issue 12: an upstream that cannot be read at Serve leaves the relay's own list; the
// next session start reads it again in the background (here at once instead of after
// a minute), and later sessions see the upstream's list.
func TestSMTPCapsReadAgainAfterFailure(t *testing.T) {
	t.Parallel()
	ca, err := testpki.New()
	require.NoError(t, err)
	up := startUpstream(t, ca, false, fullUpstream)
	up.refuse.Store(1)
	r, raddr, log := smtpRelay(t, up, false, nil)
	r.SetSMTPCapsTimes(time.Nanosecond, time.Hour)
	first := dialEHLO(t, raddr, false, ca).extensions()
	assert.NotContains(t, first, "DSN", "the relay's own list: %v", first)
	assert.Contains(t, first, "SIZE 157286400")
	assert.Contains(t, log.String(), "upstream capabilities not read")
	require.Eventually(t, func() bool {
		return slices.Contains(dialEHLO(t, raddr, false, ca).extensions(), "DSN")
	}, 10*time.Second, 50*time.Millisecond, "the upstream's list after the second read")
	n := up.conns.Load()
	dialEHLO(t, raddr, false, ca).extensions()
	assert.Equal(t, n, up.conns.Load(), "no further reads within the refresh period")
}

const pySMTPUTF8 = `
import smtplib, os, ssl
s = smtplib.SMTP(os.environ["HOST"], int(os.environ["PORT"]))
s.starttls(context=ssl.create_default_context(cafile=os.environ["CAFILE"]))
s.login(os.environ["USER_"], os.environ["PW"])
print("EXT", sorted(s.esmtp_features))
msg = "From: alice@example.com\r\nTo: jörg@example.com\r\nSubject: grüße\r\n\r\nhi\r\n".encode()
s.sendmail("alice@example.com", ["jörg@example.com"], msg, mail_options=["SMTPUTF8", "RET=HDRS"], rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
print("SENT")
s.quit()
`

// Issue 12 with a real client: Python's smtplib sees SMTPUTF8 and DSN through the relay
// and its SMTPUTF8, RET and NOTIFY reach the upstream.
func TestPythonSMTPUTF8AndDSNThroughRelay(t *testing.T) {
	t.Parallel()
	ca, err := testpki.New()
	require.NoError(t, err)
	up := startUpstream(t, ca, false, fullUpstream)
	_, raddr, _ := smtpRelay(t, up, false, nil)
	cafile := t.TempDir() + "/ca.pem"
	require.NoError(t, os.WriteFile(cafile, ca.CertPEM(), 0o600))
	out := python(t, pySMTPUTF8, append(hostPort(t, raddr), "CAFILE="+cafile, "USER_=alice", "PW="+alicePW)...)
	require.Contains(t, out, "SENT")
	assert.Contains(t, out, "'smtputf8'")
	assert.Contains(t, out, "'dsn'")
	got := up.messages()
	require.Len(t, got, 1)
	assert.True(t, got[0].Mail.UTF8)
	assert.Equal(t, smtp.DSNReturnHeaders, got[0].Mail.Return)
	assert.Equal(t, []string{"jörg@example.com"}, got[0].To)
	assert.Equal(t, []smtp.DSNNotify{smtp.DSNNotifySuccess, smtp.DSNNotifyFailure}, got[0].Rcpt[0].Notify)
}

// Shutdown cuts an idle SMTP session once its context ends (go-smtp's own Shutdown
// would leave it open) and says so.
func TestShutdownCutsSMTPSessions(t *testing.T) {
	t.Parallel()
	ca, err := testpki.New()
	require.NoError(t, err)
	up := startUpstream(t, ca, false, fullUpstream)
	r, raddr, _ := smtpRelay(t, up, false, nil)
	e := dialEHLO(t, raddr, false, ca)
	e.extensions()
	start := time.Now() // before the deadline is set, so the wait is never measured short
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, r.Shutdown(ctx), context.DeadlineExceeded)
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "it waited for the session")
	e.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = e.br.ReadString('\n')
	assert.ErrorIs(t, err, io.EOF, "the session was cut")
}

// On an implicit-TLS listener the relay's EHLO is the upstream's TLS list with AUTH
// replaced: no STARTTLS, and REQUIRETLS (which go-smtp shows only when it sees TLS).
func TestSMTPEHLOImplicitTLSListener(t *testing.T) {
	t.Parallel()
	ca, err := testpki.New()
	require.NoError(t, err)
	up := startUpstream(t, ca, true, fullUpstream)
	ue := dialEHLO(t, up.addr, true, ca)
	upTLS := ue.extensions()
	r, _, _ := smtpRelay(t, up, true, nil)
	ln, err := r.Listen(relay.SMTP, "127.0.0.1:0", true)
	require.NoError(t, err)
	go r.Serve(t.Context(), relay.SMTP, ln)
	e := dialEHLO(t, ln.Addr().String(), true, ca)
	assert.Equal(t, withAuth(upTLS, "AUTH PLAIN LOGIN"), e.extensions())
	code, lines := e.cmd("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00alice\x00"+alicePW)))
	assert.Equal(t, 235, code, lines)
}
