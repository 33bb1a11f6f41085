package relay_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modernauth/mailauth/smtpauth"
)

const pyIMAPRead = `
import imaplib, os
M = imaplib.IMAP4(os.environ["HOST"], int(os.environ["PORT"]))
print("CAPS", " ".join(sorted(M.capabilities)))
if os.environ.get("MECH") == "PLAIN":
    pw = os.environ["PW"].encode()
    M.authenticate("PLAIN", lambda _: b"\0" + os.environ["USER_"].encode() + b"\0" + pw)
else:
    M.login(os.environ["USER_"], os.environ["PW"])
typ, data = M.select("INBOX")
typ, data = M.search(None, "ALL")
for num in data[0].split():
    typ, d = M.fetch(num, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    print(d[0][1].decode().strip())
M.logout()
`

const pyIMAPWrong = `
import imaplib, os
M = imaplib.IMAP4(os.environ["HOST"], int(os.environ["PORT"]))
try:
    M.login(os.environ["USER_"], os.environ["PW"])
    print("LOGGED IN")
except imaplib.IMAP4.error as e:
    print("REFUSED", e)
`

const pyPOP = `
import poplib, os
P = poplib.POP3(os.environ["HOST"], int(os.environ["PORT"]))
print("CAPA", sorted(P.capa().keys()))
try:
    if os.environ.get("MECH") == "PLAIN":
        import base64
        pw = os.environ["PW"].encode()
        r = P._shortcmd("AUTH PLAIN " + base64.b64encode(b"\0" + os.environ["USER_"].encode() + b"\0" + pw).decode())
    else:
        P.user(os.environ["USER_"])
        P.pass_(os.environ["PW"])
except poplib.error_proto as e:
    print("REFUSED", e)
    raise SystemExit(0)
n, size = P.stat()
print("STAT", n)
for i in range(1, n + 1):
    for line in P.retr(i)[1]:
        if line.lower().startswith(b"subject:"):
            print(line.decode())
P.quit()
`

const pySMTP = `
import smtplib, os
from email.message import EmailMessage
m = EmailMessage()
m["From"] = os.environ["FROM"]
m["To"] = os.environ["TO"]
m["Subject"] = os.environ["SUBJECT"]
m.set_content("sent by a legacy script\n.leading dot\n")
kw = {}
if os.environ.get("SRC"):
    kw["source_address"] = (os.environ["SRC"], 0)
s = smtplib.SMTP(os.environ["HOST"], int(os.environ["PORT"]), **kw)
s.ehlo()
try:
    if os.environ.get("PW"):
        s.login(os.environ["USER_"], os.environ["PW"])
    s.send_message(m)
    print("SENT")
except smtplib.SMTPAuthenticationError as e:
    print("AUTHFAIL", e.smtp_code)
except smtplib.SMTPSenderRefused as e:
    print("REFUSED", e.smtp_code, e.smtp_error.decode())
s.quit()
`

// Acceptance 1: Python's imaplib logs in with the local password (LOGIN and
// AUTHENTICATE PLAIN) and reads Dovecot's INBOX through XOAUTH2; the capabilities
// before login are Dovecot's with AUTH=PLAIN in place of its mechanisms.
func TestPythonIMAPThroughRelay(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	rn := startRelay(t, l, nil)
	for _, mech := range []string{"LOGIN", "PLAIN"} {
		out := python(t, pyIMAPRead, append(hostPort(t, rn.imap), "USER_=alice", "PW="+alicePW, "MECH="+mech)...)
		assert.Contains(t, out, "Subject: Welcome Alice", mech)
		assert.Contains(t, out, "AUTH=PLAIN")
		assert.NotContains(t, out, "AUTH=XOAUTH2")
		assert.NotContains(t, out, "AUTH=OAUTHBEARER")
	}
	st := rn.r.Stats()["alice"]
	assert.Equal(t, int64(2), st.Sessions)
	assert.Positive(t, st.BytesOut)
	assert.Positive(t, st.BytesIn)
	assert.Contains(t, rn.log.String(), "command=LOGIN", "the debug transcript names the commands")
	assert.Contains(t, rn.log.String(), "command=AUTHENTICATE")
	assertClean(t, rn)
}

// Acceptance 1: a wrong local password gets NO and opens no upstream connection.
func TestPythonIMAPWrongPasswordNoUpstream(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	rn := startRelay(t, l, nil)
	out := python(t, pyIMAPWrong, append(hostPort(t, rn.imap), "USER_=alice", "PW=wrong")...)
	assert.Contains(t, out, "REFUSED")
	assert.Contains(t, out, "AUTHENTICATIONFAILED")
	out = python(t, pyIMAPWrong, append(hostPort(t, rn.imap), "USER_=mallory", "PW=wrong")...)
	assert.Contains(t, out, "REFUSED")
	assert.Zero(t, rn.dials.Load(), "no upstream connection")
	assert.Zero(t, rn.src.fetches.Load(), "no token fetched")
	assert.Equal(t, int64(1), rn.r.Stats()["alice"].Failures)
}

// Acceptance 1: poplib with USER/PASS and AUTH PLAIN; a wrong password gets -ERR
// without an upstream connection.
func TestPythonPOP3ThroughRelay(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	rn := startRelay(t, l, nil)
	out := python(t, pyPOP, append(hostPort(t, rn.pop3), "USER_=alice", "PW=wrong")...)
	assert.Contains(t, out, "REFUSED b'-ERR")
	assert.Zero(t, rn.dials.Load(), "no upstream connection")
	for _, mech := range []string{"USER", "PLAIN"} {
		out = python(t, pyPOP, append(hostPort(t, rn.pop3), "USER_=alice", "PW="+alicePW, "MECH="+mech)...)
		assert.Contains(t, out, "Subject: Welcome Alice", mech)
		assert.Contains(t, out, "'SASL'")
	}
	assertClean(t, rn)
}

// Acceptance 1: smtplib sends through the relay to Dovecot's submission with XOAUTH2;
// the message is read back over IMAP through the relay; a wrong password gets 535.
func TestPythonSMTPSendReadBack(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	rn := startRelay(t, l, nil)
	subject := fmt.Sprintf("relayed %d", time.Now().UnixNano())
	env := append(hostPort(t, rn.smtp), "FROM="+alice, "TO="+alice, "SUBJECT="+subject, "USER_=alice")
	out := python(t, pySMTP, append(env, "PW=wrong")...)
	assert.Contains(t, out, "AUTHFAIL 535")
	assert.Zero(t, rn.dials.Load(), "no upstream connection")
	out = python(t, pySMTP, append(env, "PW="+alicePW)...)
	require.Contains(t, out, "SENT")
	assert.Equal(t, int64(1), rn.r.Stats()["alice"].Messages)

	deadline := time.Now().Add(15 * time.Second)
	for {
		out = python(t, pyIMAPRead, append(hostPort(t, rn.imap), "USER_=alice", "PW="+alicePW)...)
		if strings.Contains(out, subject) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	assert.Contains(t, out, "Subject: "+subject, "read back over IMAP through the relay")
	assertClean(t, rn)
}

const pyIDLE = `
import imaplib, os, sys
M = imaplib.IMAP4(os.environ["HOST"], int(os.environ["PORT"]))
M.login(os.environ["USER_"], os.environ["PW"])
M.select("INBOX")
M.sock.settimeout(20)
tag = M._new_tag().decode()
M.send((tag + " IDLE\r\n").encode())
print("IDLE", M.readline().decode().strip(), flush=True)
while True:
    line = M.readline().decode().strip()
    if line.endswith("EXISTS"):
        print("SAW", line, flush=True)
        break
M.send(b"DONE\r\n")
while True:
    line = M.readline().decode().strip()
    if line.startswith(tag):
        print("END", line)
        break
M.logout()
`

// Acceptance 1: IDLE through the relay sees a message delivered meanwhile.
func TestPythonIMAPIdleSeesNewMessage(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	rn := startRelay(t, l, nil)
	py := pythonCmd(t, pyIDLE, append(hostPort(t, rn.imap), "USER_=alice", "PW="+alicePW)...)
	stdout, err := py.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, py.Start())
	defer py.Wait()
	sc := bufio.NewScanner(stdout)
	require.True(t, sc.Scan())
	require.Contains(t, sc.Text(), "IDLE +", "IDLE started")

	ctx := t.Context()
	msg := "From: <bob@example.com>\r\nTo: <alice@example.com>\r\nSubject: during idle\r\n\r\nhi\r\n"
	cfg := l.tls.Clone()
	cfg.ServerName = "localhost"
	require.NoError(t, smtpauth.SendMail(ctx, l.dc.SubmissionAddr,
		&smtpauth.Options{Token: &countingSource{tok: l.token(t, bob)}, Mailbox: bob, TLSConfig: cfg},
		bob, []string{alice}, strings.NewReader(msg)))
	require.True(t, sc.Scan(), "python ended before EXISTS")
	assert.Contains(t, sc.Text(), "SAW")
	require.True(t, sc.Scan())
	assert.Contains(t, sc.Text(), "OK")
}

// The capabilities shown before login come from the upstream (Dovecot's IDLE, LITERAL+,
// ...) and the relay does not open an upstream connection for them per session.
func TestCapabilitiesFromUpstream(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	rn := startRelay(t, l, nil)
	c, err := net.Dial("tcp", rn.imap)
	require.NoError(t, err)
	defer c.Close()
	br := bufio.NewReader(c)
	greet, err := br.ReadString('\n')
	require.NoError(t, err)
	assert.Contains(t, greet, "IDLE")
	assert.Contains(t, greet, "AUTH=PLAIN")
	assert.NotContains(t, greet, "XOAUTH2")
	assert.NotContains(t, greet, "LOGINDISABLED")
	assert.Zero(t, rn.dials.Load())
}

// assertClean checks that the relay's log has no password, hash or token.
func assertClean(t *testing.T, rn *running) {
	t.Helper()
	log := rn.log.String()
	assert.NotEmpty(t, log)
	for _, secret := range []string{alicePW, "Local-Secret", aliceHash(t), rn.src.tok, rn.src.tok[len(rn.src.tok)-20:], "$argon2id$"} {
		assert.NotContains(t, log, secret)
	}
}

const pyAppend = `
import imaplib, os, hashlib, random, time
body = random.Random(3).randbytes(3 * 1024 * 1024).hex().encode()  # 6 MB of text
subject = "append %d" % time.time_ns()
msg = b"From: <alice@example.com>\r\nTo: <alice@example.com>\r\nSubject: " + subject.encode() + b"\r\n\r\n"
msg += b"\r\n".join(body[i:i+76] for i in range(0, len(body), 76)) + b"\r\n"
M = imaplib.IMAP4(os.environ["HOST"], int(os.environ["PORT"]))
M.login(os.environ["USER_"], os.environ["PW"])
typ, _ = M.append("INBOX", None, None, msg)
M.select("INBOX")
typ, data = M.search(None, "SUBJECT", '"' + subject + '"')
num = data[0].split()[-1]
typ, d = M.fetch(num, "(BODY.PEEK[])")
got = d[0][1]
print("SENT", len(msg), hashlib.sha256(msg).hexdigest())
print("GOT ", len(got), hashlib.sha256(got).hexdigest())
M.logout()
`

// A 6 MB APPEND and its FETCH go through the relay's byte copy unchanged.
func TestPythonIMAPLargeAppendAndFetch(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	rn := startRelay(t, l, nil)
	out := python(t, pyAppend, append(hostPort(t, rn.imap), "USER_=alice", "PW="+alicePW)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, out)
	assert.Equal(t, strings.Fields(lines[0])[1:], strings.Fields(lines[1])[1:], "same size and SHA-256")
	assert.Greater(t, rn.r.Stats()["alice"].BytesIn, int64(6<<20))
	assert.Greater(t, rn.r.Stats()["alice"].BytesOut, int64(6<<20))
}
