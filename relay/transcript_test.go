package relay_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/relay"
)

const pySMTPLogin = `
import smtplib, os
s = smtplib.SMTP(os.environ["HOST"], int(os.environ["PORT"]))
s.ehlo()
s.user, s.password = os.environ["USER_"], os.environ["PW"]
s.auth("LOGIN", s.auth_login, initial_response_ok=False)
s.sendmail(os.environ["FROM"], [os.environ["TO"]], "Subject: transcript\r\n\r\nbody line that stays private\r\n")
print("SENT")
s.quit()
`

// Options.DebugWriter: the transcript of IMAP (LOGIN and AUTHENTICATE PLAIN), POP3
// (USER/PASS and AUTH PLAIN) and SMTP (AUTH LOGIN, a message) sessions through the relay
// to Dovecot shows both legs line by line, and no password, SASL response, hash, token
// or message body.
func TestTranscriptRedacted(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	trace := &syncBuffer{}
	rn := startRelay(t, l, func(o *relay.Options) { o.DebugWriter = trace })
	env := []string{"USER_=alice", "PW=" + alicePW}
	for _, mech := range []string{"LOGIN", "PLAIN"} {
		out := python(t, pyIMAPRead, append(append(hostPort(t, rn.imap), env...), "MECH="+mech)...)
		require.Contains(t, out, "Welcome Alice")
		out = python(t, pyPOP, append(append(hostPort(t, rn.pop3), env...), "MECH="+mech)...)
		require.Contains(t, out, "Welcome Alice")
	}
	out := python(t, pySMTPLogin, append(append(hostPort(t, rn.smtp), env...), "FROM="+alice, "TO="+alice)...)
	require.Contains(t, out, "SENT")

	got := trace.String()
	plain := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00" + alicePW))
	for _, secret := range []string{alicePW, "Local-Secret", plain, base64.StdEncoding.EncodeToString([]byte(alicePW)),
		aliceHash(t), rn.src.tok, rn.src.tok[len(rn.src.tok)-20:], "$argon2id$", "stays private"} {
		assert.NotContains(t, got, secret)
	}
	for _, want := range []string{
		// IMAP, both legs.
		"imap 127.0.0.1:", ` LOGIN "alice" [REDACTED]`, " AUTHENTICATE \"PLAIN\"",
		"imap 127.0.0.1:", "upstream C: A1 CAPABILITY\n", "upstream C: A2 AUTHENTICATE XOAUTH2 [REDACTED]\n",
		"upstream S: A2 OK ", "upstream C: A3 LIST \"\" \"\"\n",
		"logged in; bytes are copied both ways from here on, not traced",
		// POP3.
		"pop3 127.0.0.1:", "C: USER alice\n", "C: PASS [REDACTED]\n", "C: AUTH PLAIN [REDACTED]\n",
		"upstream C: AUTH XOAUTH2\n", "upstream C: [REDACTED]\n", "upstream C: STAT\n",
		// SMTP: the AUTH LOGIN responses masked, the body replaced by its size.
		"smtp 127.0.0.1:", "S: 220 ", "C: AUTH LOGIN\n", "S: 334 VXNlcm5hbWU6\n", "C: [REDACTED]\n",
		"S: 235 ", "S: 354 ", "C: [message of ", "S: 250 ",
		"smtp 127.0.0.1:", "upstream C: AUTH XOAUTH2", "upstream S: 235 ", "upstream C: [message of ", "upstream C: QUIT",
	} {
		assert.Contains(t, got, want)
	}
	assert.Equal(t, 2, strings.Count(got, "S: 334 ")-strings.Count(got, "upstream S: 334 "), "two AUTH LOGIN challenges")
	assert.Contains(t, strings.ToUpper(got), "C: DATA\n")
	if t.Failed() {
		t.Logf("transcript:\n%s", got)
	}
}
