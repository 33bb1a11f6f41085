package relay_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/graph"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/graphtest"
	"github.com/modernauth/mailauth/relay"
)

const graphAlice = "alice@contoso.test"

// graphRelay starts a Graph test server and a relay whose only account sends through it.
func graphRelay(t *testing.T, devices ...netip.Prefix) (*graphtest.Server, *running, string) {
	t.Helper()
	idp, err := fakeidp.New(fakeidp.Options{})
	require.NoError(t, err)
	t.Cleanup(idp.Close)
	srv, err := graphtest.New(graphtest.Options{Verify: idp.Verify, Mailboxes: []string{graphAlice}, Items: -1})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	tok, err := idp.Mint(fakeidp.Claims{Audience: "https://graph.microsoft.com", TenantID: tenant, UPN: graphAlice,
		Scp: []string{"Mail.ReadWrite", "Mail.Send"}, ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	gc, err := graph.New(&graph.Options{Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}),
		URL: srv.URL(), Transport: srv.Transport()})
	require.NoError(t, err)
	rn := &running{log: &syncBuffer{}, src: &countingSource{tok: tok}}
	r, err := relay.New(&relay.Options{
		Accounts:       []relay.Account{{User: "alice", PasswordHash: aliceHash(t), Mailbox: graphAlice, Graph: gc}},
		DeviceNetworks: devices,
		FailureDelay:   10 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(rn.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)
	rn.r = r
	ln, err := r.Listen(relay.SMTP, "127.0.0.1:0", false)
	require.NoError(t, err)
	go r.Serve(t.Context(), relay.SMTP, ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Shutdown(ctx)
	})
	rn.smtp = ln.Addr().String()
	return srv, rn, tok
}

const pyBig = `
import smtplib, os, hashlib, random
from email.message import EmailMessage
data = random.Random(7).randbytes(10 * 1024 * 1024)
m = EmailMessage()
m["From"] = os.environ["FROM"]
m["To"] = "bob@contoso.test"
m["Subject"] = "ten megabytes"
m.set_content("the scan is attached\n")
m.add_attachment(data, maintype="application", subtype="octet-stream", filename="scan.bin")
m.add_attachment(b"small part\n", maintype="text", subtype="plain", filename="note.txt")
s = smtplib.SMTP(os.environ["HOST"], int(os.environ["PORT"]))
s.login(os.environ["USER_"], os.environ["PW"])
s.send_message(m)
s.quit()
print("SHA256", hashlib.sha256(data).hexdigest())
`

// Acceptance 2: a 10 MB message from smtplib arrives at the Graph server with the
// attachment byte-identical.
func TestPythonSMTPToGraphTenMegabytes(t *testing.T) {
	t.Parallel()
	srv, rn, tok := graphRelay(t)
	out := python(t, pyBig, append(hostPort(t, rn.smtp), "FROM="+graphAlice, "USER_=alice", "PW="+alicePW)...)
	_, want, ok := strings.Cut(strings.TrimSpace(out), "SHA256 ")
	require.True(t, ok, out)
	sent := srv.Sent()
	require.Len(t, sent, 1)
	s := sent[0]
	assert.Equal(t, "ten megabytes", s.Subject)
	assert.Equal(t, []string{"bob@contoso.test"}, s.To)
	require.Len(t, s.Attachments, 1, "the large attachment went through an upload session")
	sum := sha256.Sum256(s.Attachments[0].Data)
	assert.Equal(t, want, hex.EncodeToString(sum[:]), "attachment hashes equal")
	assert.Contains(t, string(s.MIME), "note.txt", "the rest of the MIME stays")
	assert.Equal(t, int64(1), rn.r.Stats()["alice"].Messages)
	for _, secret := range []string{alicePW, tok, aliceHash(t)} {
		assert.NotContains(t, rn.log.String(), secret)
	}
}

// Acceptance 2: a device on an allowed network sends without AUTH, as the account's
// mailbox; a client from 127.0.0.2, outside the network, gets 530 5.7.0.
func TestDeviceNetworkWithoutAuth(t *testing.T) {
	t.Parallel()
	srv, rn, _ := graphRelay(t, netip.MustParsePrefix("127.0.0.1/32"))
	env := append(hostPort(t, rn.smtp), "FROM=scanner@contoso.test", "TO=bob@contoso.test", "SUBJECT=scan 1")
	out := python(t, pySMTP, append(env, "SRC=127.0.0.1")...)
	assert.Contains(t, out, "SENT")
	require.Len(t, srv.Sent(), 1)
	assert.Equal(t, graphAlice, srv.Sent()[0].From)

	out = python(t, pySMTP, append(env, "SRC=127.0.0.2")...)
	assert.Contains(t, out, "REFUSED 530 5.7.0")
	assert.Len(t, srv.Sent(), 1, "nothing more sent")
}

// Without device networks every client without AUTH is refused.
func TestSMTPWithoutAuthRefused(t *testing.T) {
	t.Parallel()
	_, rn, _ := graphRelay(t)
	out := python(t, pySMTP, append(hostPort(t, rn.smtp), "FROM=x@contoso.test", "TO=bob@contoso.test", "SUBJECT=s")...)
	assert.Contains(t, out, "REFUSED 530 5.7.0")
}

// Acceptance 3: a plaintext listener on an address that is not loopback is refused at
// start; an SMTP listener inside a device network is allowed.
func TestPlaintextListenerRefused(t *testing.T) {
	t.Parallel()
	r, err := relay.New(&relay.Options{
		Accounts:       []relay.Account{{User: "alice", PasswordHash: aliceHash(t), Token: &countingSource{}}},
		DeviceNetworks: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
	})
	require.NoError(t, err)
	for _, tc := range []struct {
		p    relay.Protocol
		addr string
	}{{relay.IMAP, "0.0.0.0:0"}, {relay.POP3, "192.0.2.10:0"}, {relay.SMTP, "0.0.0.0:0"}, {relay.IMAP, "[::]:0"}, {relay.SMTP, "198.51.100.1:25"}} {
		_, err := r.Listen(tc.p, tc.addr, false)
		assert.ErrorContains(t, err, "not TLS", "%s %s", tc.p, tc.addr)
	}
	ln, err := r.Listen(relay.IMAP, "127.0.0.1:0", false)
	require.NoError(t, err)
	ln.Close()
	// 192.0.2.10 is a device network address: allowed for SMTP (the bind itself fails here).
	_, err = r.Listen(relay.SMTP, "192.0.2.10:0", false)
	if err != nil {
		assert.NotContains(t, err.Error(), "not TLS")
	}
}

// Acceptance 3: 100 wrong passwords are slowed (every answer waits) and never reach
// the upstream; after MaxFailures even the right password is refused from that address,
// while another address still logs in.
func TestBruteForceSlowedNeverUpstream(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	rn := startRelay(t, l, func(o *relay.Options) { o.FailureDelay = 20 * time.Millisecond; o.MaxFailures = 5 })
	c, err := net.Dial("tcp", rn.imap)
	require.NoError(t, err)
	defer c.Close()
	br := newLineReader(c)
	br.line(t) // greeting
	start := time.Now()
	for i := range 100 {
		_, err := c.Write([]byte("a" + itoa(i) + " LOGIN alice wrong" + itoa(i) + "\r\n"))
		require.NoError(t, err)
		assert.Contains(t, br.line(t), " NO ")
	}
	elapsed := time.Since(start)
	assert.GreaterOrEqual(t, elapsed, 100*20*time.Millisecond, "every failure is delayed")
	_, err = c.Write([]byte("b LOGIN alice \"" + alicePW + "\"\r\n"))
	require.NoError(t, err)
	assert.Contains(t, br.line(t), "b NO", "locked out: the right password is refused too")
	assert.Zero(t, rn.dials.Load(), "nothing reached the upstream")
	assert.Zero(t, rn.src.fetches.Load())
	assert.Contains(t, rn.log.String(), "too many failures")

	// Another client address is not locked out.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	c2, err := d.Dial("tcp", rn.imap)
	require.NoError(t, err)
	defer c2.Close()
	br2 := newLineReader(c2)
	br2.line(t)
	_, err = c2.Write([]byte("c LOGIN alice \"" + alicePW + "\"\r\n"))
	require.NoError(t, err)
	assert.Contains(t, br2.line(t), "c OK")
	assertClean(t, rn)
}
