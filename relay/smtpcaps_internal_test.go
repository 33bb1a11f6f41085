package relay

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/graph"
	"github.com/modernauth/mailauth/internal/fake/hostile"
	"github.com/modernauth/mailauth/internal/fake/testpki"
)

// exchangeEHLO is an EHLO list in the style of Exchange Online's after STARTTLS.
var exchangeEHLO = []string{"SIZE 157286400", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "AUTH LOGIN XOAUTH2",
	"8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8", "XRDST", "BURL imap", "VRFY", "ETRN", "X-EXPS GSSAPI NTLM"}

// capsRelay is a relay with one account (user "u", password "p") whose SMTP upstream's
// EHLO list is ext.
func capsRelay(t *testing.T, ext []string, accounts ...Account) *Relay {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("p"), bcrypt.MinCost)
	require.NoError(t, err)
	accs := append([]Account{{User: "u", PasswordHash: string(h), Mailbox: "u@example.com",
		Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"})}}, accounts...)
	ca, err := testpki.New()
	require.NoError(t, err)
	r, err := New(&Options{Accounts: accs, SMTP: Upstream{Addr: "127.0.0.1:1"}, ServerTLS: ca.ServerConfig(), FailureDelay: time.Nanosecond})
	require.NoError(t, err)
	r.smtpCaps.ext = ext
	return r
}

// pipeSession serves one connection of r's SMTP server (offering STARTTLS) on a pipe;
// loopback makes the client look local (and so secure).
type pipeSession struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func newPipeSession(t *testing.T, r *Relay, loopback bool) *pipeSession {
	t.Helper()
	server, client := net.Pipe()
	var sc net.Conn = server
	if loopback {
		sc = loopConn{server}
	}
	l := &oneListener{c: make(chan net.Conn, 1), closed: make(chan struct{})}
	l.c <- sc
	srv := r.smtpServer()
	srv.TLSConfig = r.o.ServerTLS
	go srv.Serve(l)
	t.Cleanup(func() { client.Close(); l.Close(); srv.Close() })
	client.SetDeadline(time.Now().Add(10 * time.Second))
	p := &pipeSession{t: t, c: client, br: bufio.NewReader(client)}
	code, _ := p.reply()
	require.Equal(t, 220, code)
	return p
}

func (p *pipeSession) reply() (int, []string) {
	p.t.Helper()
	var lines []string
	for {
		l, err := p.br.ReadString('\n')
		require.NoError(p.t, err)
		l = strings.TrimRight(l, "\r\n")
		require.GreaterOrEqual(p.t, len(l), 4, l)
		lines = append(lines, l[4:])
		if l[3] == ' ' {
			code := int(l[0]-'0')*100 + int(l[1]-'0')*10 + int(l[2]-'0')
			return code, lines
		}
	}
}

func (p *pipeSession) cmd(line string) (int, string) {
	p.t.Helper()
	_, err := io.WriteString(p.c, line+"\r\n")
	require.NoError(p.t, err)
	code, lines := p.reply()
	return code, strings.Join(lines, "\n")
}

func (p *pipeSession) ehlo() []string {
	p.t.Helper()
	_, err := io.WriteString(p.c, "EHLO client.test\r\n")
	require.NoError(p.t, err)
	code, lines := p.reply()
	require.Equal(p.t, 250, code)
	ext := slices.Clone(lines[1:])
	slices.Sort(ext)
	return ext
}

// Issue 12: on a connection that is not secure (not TLS, not loopback) the relay's
// EHLO shows no AUTH at all, and AUTH is refused; what the relay cannot honour of an
// Exchange-style list (BINARYMIME, BURL, VRFY, ETRN, XRDST, X-EXPS) is dropped.
func TestSMTPEHLONotSecureShowsNoAuth(t *testing.T) {
	r := capsRelay(t, exchangeEHLO)
	p := newPipeSession(t, r, false)
	assert.Equal(t, []string{"8BITMIME", "CHUNKING", "DSN", "ENHANCEDSTATUSCODES", "PIPELINING", "SIZE 157286400", "SMTPUTF8", "STARTTLS"}, p.ehlo())
	code, text := p.cmd("AUTH PLAIN AHUAcA==")
	assert.Equal(t, 538, code, text)

	p = newPipeSession(t, r, true)
	assert.Equal(t, []string{"8BITMIME", "AUTH PLAIN LOGIN", "CHUNKING", "DSN", "ENHANCEDSTATUSCODES", "PIPELINING", "SIZE 157286400", "SMTPUTF8", "STARTTLS"}, p.ehlo(),
		"a loopback client is secure: AUTH PLAIN LOGIN")
}

// An upstream without 8BITMIME: BODY=8BITMIME is refused with 554 5.6.3 rather than
// passing 8-bit data on; without LIMITS in the upstream's list the relay shows none but
// still takes at most 500 recipients (452 4.5.3 after that).
func TestSMTPNo8BitUpstreamAndRecipientLimit(t *testing.T) {
	r := capsRelay(t, []string{"PIPELINING", "SIZE 10485760", "STARTTLS"})
	p := newPipeSession(t, r, true)
	ext := p.ehlo()
	assert.Contains(t, ext, "SIZE 10485760")
	assert.NotContains(t, strings.Join(ext, " "), "LIMITS")
	code, text := p.cmd("AUTH PLAIN AHUAcA==")
	require.Equal(t, 235, code, text)
	code, text = p.cmd("MAIL FROM:<u@example.com> BODY=8BITMIME")
	assert.Equal(t, 554, code, text)
	assert.True(t, strings.HasPrefix(text, "5.6.3"), text)
	code, text = p.cmd("MAIL FROM:<u@example.com> BODY=7BIT")
	require.Equal(t, 250, code, text)
	for i := range maxRecipients {
		code, text = p.cmd("RCPT TO:<r" + strconv.Itoa(i) + "@example.com>")
		require.Equal(t, 250, code, text)
	}
	code, text = p.cmd("RCPT TO:<one-too-many@example.com>")
	assert.Equal(t, 452, code, text)
	assert.True(t, strings.HasPrefix(text, "4.5.3"), text)
}

// planFor: the upstream's limits win when smaller, LIMITS RCPTMAX is capped at 500, and
// an account that sends through Graph hides the extensions whose parameters Graph
// cannot honour.
func TestSMTPPlanFor(t *testing.T) {
	r := capsRelay(t, nil)
	assert.Equal(t, smtpPlan{maxBytes: 150 << 20, maxRcpt: 500}, r.planFor(nil), "the relay's own list")
	p := r.planFor([]string{"SIZE 999999999999", "LIMITS MAILMAX=10 RCPTMAX=2000", "8BITMIME", "DSN", "SMTPUTF8", "DELIVERBY 120", "MT-PRIORITY STANAG4406", "REQUIRETLS", "RRVS"})
	assert.Equal(t, smtpPlan{maxBytes: 150 << 20, maxRcpt: 500, utf8: true, dsn: true, requireTLS: true, rrvs: true,
		deliverBy: true, minDeliverBy: 2 * time.Minute, mtPriority: true, mtProfile: "STANAG4406"}, p)
	p = r.planFor([]string{"SIZE 1000", "LIMITS RCPTMAX=20", "size 5"})
	assert.Equal(t, smtpPlan{maxBytes: 1000, maxRcpt: 20, no8bit: true}, p, "first SIZE line counts")
	assert.Equal(t, smtpPlan{maxBytes: 150 << 20, no8bit: true}, r.planFor([]string{"SIZE", "SIZE x"}), "a bare SIZE sets no limit")

	g := capsRelay(t, nil, Account{User: "g", PasswordHash: r.order[0].PasswordHash, Graph: &graph.Client{}})
	p = g.planFor(exchangeEHLO)
	assert.Equal(t, smtpPlan{maxBytes: 157286400}, p, "with a Graph account: SIZE only")
}

// The SMTP capability probe against hostile upstreams (endless greeting, endless EHLO
// lines; implicit TLS and STARTTLS) fails with mailauth.ErrLineTooLong within its
// deadline, with bounded memory: the module's byte budget bounds what it reads.
func TestSMTPProbeHostileUpstream(t *testing.T) {
	ca, err := testpki.New()
	require.NoError(t, err)
	ehlo := func(flood string) func(string) (string, bool) {
		return func(line string) (string, bool) {
			switch cmd, _, _ := strings.Cut(strings.ToUpper(line), " "); cmd {
			case "EHLO":
				return flood, true
			case "STARTTLS":
				return "220 go ahead\r\n", false
			}
			return "502 5.5.2 what\r\n", false
		}
	}
	for _, tc := range []struct {
		name     string
		implicit bool
		srv      *hostile.Server
	}{
		{"TLS/endless greeting", true, &hostile.Server{Greeting: "220 ", Flood: "AAAAAAAA"}},
		{"TLS/endless EHLO lines", true, &hostile.Server{Greeting: "220 hi\r\n", Flood: "250-X\r\n", Reply: ehlo("250-mx\r\n")}},
		{"plaintext/endless greeting", false, &hostile.Server{Greeting: "220 ", Flood: "AAAAAAAA"}},
		{"plaintext/endless EHLO lines", false, &hostile.Server{Greeting: "220 hi\r\n", Flood: "250-X\r\n", Reply: ehlo("250-mx\r\n")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.implicit {
				tc.srv.TLS = ca.ServerConfig()
			}
			addr, err := tc.srv.Start()
			require.NoError(t, err)
			defer tc.srv.Close()
			r, err := New(&Options{Accounts: []Account{{User: "u", PasswordHash: testHash(t), Token: nopSource{}}},
				SMTP: Upstream{Addr: addr, ImplicitTLS: tc.implicit}, TLSConfig: &tls.Config{RootCAs: ca.Pool()}})
			require.NoError(t, err)
			hostile.ExpectLineTooLong(t, 10*time.Second, func(ctx context.Context) error {
				_, err := r.fetchSMTPCaps(ctx)
				return err
			})
		})
	}
}
