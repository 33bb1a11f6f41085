package relay

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

type addrConn struct{ net.Conn }

func (addrConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000} }

func testTracer(t *testing.T) (*tracer, *bytes.Buffer) {
	var out bytes.Buffer
	r, err := New(&Options{Accounts: []Account{{User: "a", PasswordHash: testHash(t), Token: nopSource{}}}, DebugWriter: &out})
	require.NoError(t, err)
	return r.newTracer(SMTP, addrConn{}), &out
}

func TestSMTPTraceMasksSASLAndBodies(t *testing.T) {
	tr, out := testTracer(t)
	st := &smtpTrace{t: tr}
	// What go-smtp's debug tee sees, in order, cut at awkward places.
	stream := "220 relay ESMTP\r\nEHLO x\r\n250-relay\r\n250 AUTH PLAIN LOGIN\r\n" +
		"AUTH PLAIN AGFsaWNlAHMzY3JldC1wdw==\r\n235 ok\r\n" +
		"AUTH LOGIN\r\n334 VXNlcm5hbWU6\r\nYWxpY2U=\r\n334 UGFzc3dvcmQ6\r\nczNjcmV0\r\n535 no\r\n" +
		"MAIL FROM:<a@x>\r\n250 ok\r\nDATA\r\n354 go\r\nSubject: private\r\n\r\nbody s3cret\r\n.\r\n250 queued\r\n" +
		"BDAT 10 LAST\r\n0123456789250 ok\r\nQUIT\r\n221 bye\r\n"
	for i := 0; i < len(stream); i += 7 {
		st.Write([]byte(stream[i:min(i+7, len(stream))]))
	}
	got := out.String()
	for _, secret := range []string{"AGFsaWNl", "YWxpY2U=", "czNjcmV0", "private", "s3cret", "0123456789"} {
		require.NotContains(t, got, secret)
	}
	for _, want := range []string{
		"smtp 127.0.0.1:5000 S: 220 relay ESMTP\n",
		"smtp 127.0.0.1:5000 C: EHLO x\n",
		"C: AUTH PLAIN [REDACTED]\n",
		"S: 334 VXNlcm5hbWU6\n", "C: [REDACTED]\n",
		"C: [message of 33 bytes]\n", "C: .\n", "S: 250 queued\n",
		"C: BDAT 10 LAST\n", "C: [chunk of 10 bytes]\n", "S: 250 ok\n", "C: QUIT\n", "S: 221 bye\n",
	} {
		require.Contains(t, got, want)
	}
	require.Equal(t, 2, strings.Count(got, "C: [REDACTED]\n"), got)
}

func TestTraceLinesMaskPasswords(t *testing.T) {
	require.Equal(t, `a1 LOGIN "alice" [REDACTED]`, imapTraceLine(imapCommand{Tag: "a1", Name: "LOGIN", Args: []string{"alice", "pw pw"}}))
	require.Equal(t, `a2 AUTHENTICATE "PLAIN" [REDACTED]`, imapTraceLine(imapCommand{Tag: "a2", Name: "AUTHENTICATE", Args: []string{"PLAIN", "AGEAYg=="}}))
	require.Equal(t, `a3 CAPABILITY`, imapTraceLine(imapCommand{Tag: "a3", Name: "CAPABILITY"}))
	require.Equal(t, `PASS [REDACTED]`, popTraceLine(popCommand{Name: "PASS", Args: []string{"pw with spaces"}}))
	require.Equal(t, `AUTH PLAIN [REDACTED]`, popTraceLine(popCommand{Name: "AUTH", Args: []string{"PLAIN", "AGEAYg=="}}))
	require.Equal(t, `USER alice`, popTraceLine(popCommand{Name: "USER", Args: []string{"alice"}}))
	require.Equal(t, "[unparsable line of 9 bytes]", unparsable("a LOGIN x"))
}

func TestUpstreamTraceLines(t *testing.T) {
	tr, out := testTracer(t)
	w := tr.upstream()
	w.Write([]byte("C: R1 AUTHENTICATE XOAUTH2\r\nS: + \r\nC: "))
	w.Write([]byte("[REDACTED]\r\n"))
	require.Equal(t, "smtp 127.0.0.1:5000 upstream C: R1 AUTHENTICATE XOAUTH2\nsmtp 127.0.0.1:5000 upstream S: + \nsmtp 127.0.0.1:5000 upstream C: [REDACTED]\n", out.String())
	var nilTracer *tracer
	nilTracer.line("C:", "x") // no panic, no output
	require.Nil(t, nilTracer.upstream())
}

type nopSource struct{}

func (nopSource) Token() (*oauth2.Token, error) { return &oauth2.Token{AccessToken: "t"}, nil }

func testHash(t *testing.T) string {
	h, err := HashPassword("local password")
	require.NoError(t, err)
	return h
}

func TestUpstreamSMTPTraceHidesBody(t *testing.T) {
	tr, out := testTracer(t)
	w := tr.upstreamSMTP()
	w.Write([]byte("C: DATA\r\nS: 354 go\r\nC: Subject: private\r\nC: \r\nC: s3cret body\r\nC: .\r\nS: 250 ok\r\n"))
	got := out.String()
	require.NotContains(t, got, "private")
	require.NotContains(t, got, "s3cret")
	require.Contains(t, got, "upstream S: 354 go\n")
	require.Contains(t, got, "upstream C: [message of 33 bytes]\n")
	require.Contains(t, got, "upstream S: 250 ok\n")
}
