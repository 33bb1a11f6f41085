package relay_test

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/imaptest"
	"github.com/modernauth/mailauth/internal/fake/poptest"
	"github.com/modernauth/mailauth/internal/fake/testpki"
	"github.com/modernauth/mailauth/relay"
)

// These tests put the relay in front of the in-process Exchange doubles (imaptest,
// poptest): they replay Exchange's answers that Dovecot does not give, such as
// "BAD User is authenticated but not connected." after a good login.

// fakeUp is one fake Entra ID and one CA for upstream doubles.
type fakeUp struct {
	idp *fakeidp.IdP
	ca  *testpki.CA
}

func newFakeUp(t *testing.T) *fakeUp {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	idp, err := fakeidp.New(fakeidp.Options{SigningKey: key})
	require.NoError(t, err)
	t.Cleanup(idp.Close)
	ca, err := testpki.New()
	require.NoError(t, err)
	return &fakeUp{idp: idp, ca: ca}
}

// mint returns a delegated Exchange token for user.
func (f *fakeUp) mint(t *testing.T, user string) string {
	t.Helper()
	now := time.Now()
	tok, err := f.idp.Mint(fakeidp.Claims{Audience: audience, UPN: user, OID: "oid-" + user,
		Scp: []string{"IMAP.AccessAsUser.All", "POP.AccessAsUser.All"}, IssuedAt: now, NotBefore: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)})
	require.NoError(t, err)
	return tok
}

func (f *fakeUp) imap(t *testing.T, o imaptest.Options) *imaptest.Server {
	t.Helper()
	o.Verify, o.TLSConfig = f.idp.Verify, f.ca.ServerConfig("127.0.0.1")
	s, err := imaptest.New(o)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	s.AddMailbox(alice)
	s.AddMailbox("private@example.com")
	return s
}

// rotatingSource hands out toks in turn: Invalidate of the current one moves to the
// next (as a token cache drops a refused token and fetches a fresh one).
type rotatingSource struct {
	mu          sync.Mutex
	toks        []string
	i           int
	fetches     int
	invalidated int
}

func (s *rotatingSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetches++
	return &oauth2.Token{AccessToken: s.toks[min(s.i, len(s.toks)-1)], TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, nil
}

func (s *rotatingSource) Invalidate(tok *oauth2.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.i < len(s.toks) && tok.AccessToken == s.toks[s.i] {
		s.i++
		s.invalidated++
	}
}

func (s *rotatingSource) counts() (fetches, invalidated int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches, s.invalidated
}

// relayFor starts a relay for alice (mailbox) with src, in front of the given upstreams,
// and returns it, its IMAP and POP3 listener addresses and its log.
func relayFor(t *testing.T, f *fakeUp, mailbox string, src oauth2.TokenSource, imapUp, popUp relay.Upstream) (*relay.Relay, string, string, *syncBuffer) {
	t.Helper()
	log := &syncBuffer{}
	r, err := relay.New(&relay.Options{
		Accounts:     []relay.Account{{User: "alice", PasswordHash: aliceHash(t), Mailbox: mailbox, Token: src}},
		IMAP:         imapUp,
		POP3:         popUp,
		TLSConfig:    f.ca.ClientConfig(),
		FailureDelay: 10 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)
	t.Cleanup(func() { r.Shutdown(t.Context()) })
	var addrs [2]string
	for i, p := range []relay.Protocol{relay.IMAP, relay.POP3} {
		if (p == relay.IMAP && imapUp.Addr == "") || (p == relay.POP3 && popUp.Addr == "") {
			continue
		}
		ln, err := r.Listen(p, "127.0.0.1:0", false)
		require.NoError(t, err)
		go r.Serve(t.Context(), p, ln)
		addrs[i] = ln.Addr().String()
	}
	return r, addrs[0], addrs[1], log
}

// imapLogin logs in to the relay at addr as alice and returns the tagged answer; the
// connection stays open for more commands.
func imapLogin(t *testing.T, addr string) (net.Conn, *lineReader, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	lr := newLineReader(c)
	lr.line(t) // greeting
	_, err = c.Write([]byte("a LOGIN alice \"" + alicePW + "\"\r\n"))
	require.NoError(t, err)
	for {
		l := lr.line(t)
		if strings.HasPrefix(l, "a ") {
			return c, lr, strings.TrimRight(l, "\r\n")
		}
	}
}

// assertNoToken checks that none of toks (nor its tail) shows in the log.
func assertNoToken(t *testing.T, log string, toks ...string) {
	t.Helper()
	for _, tok := range toks {
		assert.NotContains(t, log, tok)
		assert.NotContains(t, log, tok[len(tok)-20:])
	}
}

// Exchange accepts the token of a user who may not open the mailbox and answers the
// probe LIST "" "" with "BAD User is authenticated but not connected.": the client gets
// a clear NO (not an OK followed by BAD on every command), the relay logs the
// MailboxAccessError and counts a failure.
func TestIMAPUpstreamMailboxNotConnected(t *testing.T) {
	t.Parallel()
	f := newFakeUp(t)
	srv := f.imap(t, imaptest.Options{})
	tok := f.mint(t, alice)
	r, addr, _, log := relayFor(t, f, "private@example.com", &countingSource{tok: tok}, relay.Upstream{Addr: srv.Addr(), ImplicitTLS: true}, relay.Upstream{})
	c, lr, answer := imapLogin(t, addr)
	assert.Equal(t, "a NO [AUTHORIZATIONFAILED] The upstream server accepted the relay's token but will not open the mailbox", answer)
	assert.Equal(t, int64(1), srv.Stats().AuthSuccesses, "the upstream AUTHENTICATE itself said OK")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := lr.br.ReadString('\n')
	assert.Error(t, err, "the relay ends the session after the NO")

	out := log.String()
	assert.Contains(t, out, "upstream login failed")
	assert.Contains(t, out, "refused=mailbox")
	assert.Contains(t, out, "but may not open mailbox private@example.com")
	assert.Contains(t, out, imaptest.NotConnectedText)
	assertNoToken(t, out, tok)
	assert.Equal(t, int64(1), r.Stats()["alice"].Failures)
	assert.Zero(t, r.Stats()["alice"].Sessions)
}

// The same with the mailbox's own user but the upstream's not-connected switch on, on a
// STARTTLS upstream (the Exchange replies are replayed after STARTTLS too).
func TestIMAPUpstreamNotConnectedStartTLS(t *testing.T) {
	t.Parallel()
	f := newFakeUp(t)
	srv := f.imap(t, imaptest.Options{Mode: imaptest.StartTLS})
	srv.SetNotConnected(true)
	_, addr, _, log := relayFor(t, f, alice, &countingSource{tok: f.mint(t, alice)}, relay.Upstream{Addr: srv.Addr()}, relay.Upstream{})
	_, _, answer := imapLogin(t, addr)
	assert.True(t, strings.HasPrefix(answer, "a NO [AUTHORIZATIONFAILED]"), answer)
	assert.Contains(t, log.String(), "refused=mailbox")
}

// The token goes on the AUTHENTICATE line only when the upstream advertises SASL-IR;
// otherwise after its "+". Either way the session works through the relay.
func TestIMAPUpstreamSASLIROnlyWhenAdvertised(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		noSASLIR bool
		trips    int64
	}{{"sasl-ir", false, 1}, {"no-sasl-ir", true, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeUp(t)
			srv := f.imap(t, imaptest.Options{NoSASLIR: tc.noSASLIR})
			_, addr, _, _ := relayFor(t, f, alice, &countingSource{tok: f.mint(t, alice)}, relay.Upstream{Addr: srv.Addr(), ImplicitTLS: true}, relay.Upstream{})
			c, lr, answer := imapLogin(t, addr)
			assert.True(t, strings.HasPrefix(answer, "a OK"), answer)
			assert.Equal(t, tc.trips, srv.Stats().AuthRoundTrips, "client lines during AUTHENTICATE")
			assert.Equal(t, int64(0), srv.Stats().AuthFailures, "no BAD for an unwanted initial response")
			_, err := c.Write([]byte("b SELECT INBOX\r\n"))
			require.NoError(t, err)
			for {
				l := lr.line(t)
				if strings.HasPrefix(l, "b ") {
					assert.True(t, strings.HasPrefix(l, "b OK"), l)
					break
				}
			}
		})
	}
}

// A token the upstream refuses is invalidated and a fresh one fetched, once: the login
// then succeeds. When the fresh one is refused too, the client gets NO and the relay
// does not try a third.
func TestIMAPUpstreamRefusedTokenRetriedOnce(t *testing.T) {
	t.Parallel()
	f := newFakeUp(t)
	srv := f.imap(t, imaptest.Options{ErrorChallenge: true})
	t1, t2, t3 := f.mint(t, alice), f.mint(t, alice), f.mint(t, alice)
	src := &rotatingSource{toks: []string{t1, t2, t3}}
	r, addr, _, log := relayFor(t, f, alice, src, relay.Upstream{Addr: srv.Addr(), ImplicitTLS: true}, relay.Upstream{})
	time.Sleep(200 * time.Millisecond) // the capability probe
	srv.ResetStats()

	srv.FailNextAuth(1)
	_, _, answer := imapLogin(t, addr)
	assert.True(t, strings.HasPrefix(answer, "a OK"), answer)
	fetches, invalidated := src.counts()
	assert.Equal(t, 2, fetches, "two token requests")
	assert.Equal(t, 1, invalidated)
	assert.Equal(t, int64(2), srv.Stats().AuthAttempts)
	assert.Equal(t, int64(1), srv.Stats().Connections, "the retry uses the same upstream connection")

	srv.ResetStats()
	srv.FailNextAuth(5)
	_, _, answer = imapLogin(t, addr)
	assert.Equal(t, "a NO [UNAVAILABLE] The upstream server refused the relay's token", answer)
	assert.Equal(t, int64(2), srv.Stats().AuthAttempts, "one retry, no more")
	fetches, invalidated = src.counts()
	assert.Equal(t, 4, fetches)
	assert.Equal(t, 2, invalidated)
	out := log.String()
	assert.Contains(t, out, "refused=token")
	assert.Contains(t, out, "after a retry with a fresh token")
	assertNoToken(t, out, t1, t2, t3)
	assert.Equal(t, int64(1), r.Stats()["alice"].Failures)
}

// popUp starts a poptest server with Exchange's replies that accepts the given tokens
// for alice and counts the tokens it saw.
func popUp(t *testing.T, f *fakeUp, mod func(*poptest.Options), good ...string) *poptest.Server {
	t.Helper()
	o := poptest.Options{
		TLSConfig: f.ca.ServerConfig("127.0.0.1"),
		Authorize: func(user, token string) error {
			for _, g := range good {
				if token == g {
					return nil
				}
			}
			return errors.New("bad token")
		},
		Mailboxes: map[string][]string{alice: {"Subject: hi\r\n\r\nhello\r\n"}},
	}
	if mod != nil {
		mod(&o)
	}
	s, err := poptest.New(o)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

func popLogin(t *testing.T, addr string) (net.Conn, *lineReader, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	lr := newLineReader(c)
	lr.line(t)
	_, err = c.Write([]byte("USER alice\r\nPASS " + alicePW + "\r\n"))
	require.NoError(t, err)
	lr.line(t) // +OK to USER
	return c, lr, strings.TrimRight(lr.line(t), "\r\n")
}

// A POP3 upstream whose STAT after a good login fails (Exchange's "not connected")
// gives the client -ERR, and the relay logs the MailboxAccessError.
func TestPOP3UpstreamStatFails(t *testing.T) {
	t.Parallel()
	f := newFakeUp(t)
	tok := f.mint(t, alice)
	srv := popUp(t, f, func(o *poptest.Options) { o.NotConnected = true }, tok)
	r, _, addr, log := relayFor(t, f, alice, &countingSource{tok: tok}, relay.Upstream{}, relay.Upstream{Addr: srv.Addr(), ImplicitTLS: true})
	_, _, answer := popLogin(t, addr)
	assert.Equal(t, "-ERR [SYS/PERM] The upstream server accepted the relay's token but will not open the mailbox", answer)
	assert.Equal(t, int64(1), srv.Logins(), "the upstream login itself succeeded")
	out := log.String()
	assert.Contains(t, out, "refused=mailbox")
	assert.Contains(t, out, "but may not open mailbox "+alice)
	assert.Contains(t, out, "authenticated but not connected")
	assertNoToken(t, out, tok)
	assert.Equal(t, int64(1), r.Stats()["alice"].Failures)
}

// POP3 through the relay to an Exchange-like upstream (STLS, no one-line AUTH): a refused
// token is invalidated and the fresh one logs in; the session then works.
func TestPOP3UpstreamRefusedTokenRetriedOnce(t *testing.T) {
	t.Parallel()
	f := newFakeUp(t)
	bad, good := f.mint(t, alice), f.mint(t, alice)
	srv := popUp(t, f, nil, good)
	src := &rotatingSource{toks: []string{bad, good}}
	_, _, addr, log := relayFor(t, f, alice, src, relay.Upstream{}, relay.Upstream{Addr: srv.PlainAddr()})
	c, lr, answer := popLogin(t, addr)
	assert.Equal(t, "+OK Logged in", answer)
	fetches, invalidated := src.counts()
	assert.Equal(t, 2, fetches)
	assert.Equal(t, 1, invalidated)
	assert.Equal(t, int64(2), srv.AuthAttempts())
	_, err := c.Write([]byte("STAT\r\n"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(lr.line(t), "+OK 1 "))
	assertNoToken(t, log.String(), bad, good)

	src2 := &rotatingSource{toks: []string{bad}}
	_, _, addr2, log2 := relayFor(t, f, alice, src2, relay.Upstream{}, relay.Upstream{Addr: srv.Addr(), ImplicitTLS: true})
	_, _, answer = popLogin(t, addr2)
	assert.Equal(t, "-ERR [SYS/PERM] The upstream server refused the relay's token", answer)
	fetches, _ = src2.counts()
	assert.Equal(t, 2, fetches, "one retry, no more")
	assert.Contains(t, log2.String(), "refused=token")
}
