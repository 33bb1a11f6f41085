// Package imaptest runs an in-process IMAP server (go-imap v2 imapserver over an in-memory
// store) that authenticates with SASL XOAUTH2 and OAUTHBEARER, validating bearer tokens
// with a caller-supplied verifier (normally (*fakeidp.IdP).Verify). It listens on
// 127.0.0.1 only, over implicit TLS, STARTTLS or plaintext, and has knobs that reproduce
// the failures Exchange Online is known for: the JSON error challenge (Dovecot and Gmail
// style) or a bare "NO AUTHENTICATE failed." (Exchange style), "BAD User is
// authenticated but not connected." after a successful AUTHENTICATE, and
// "* BYE Session invalidated - AccessTokenExpired" when the session's token expires.
//
// It is for tests, benchmarks and the quickstart; it is not a mail server.
package imaptest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// Mode is how clients reach the server.
type Mode int

// Connection modes.
const (
	// ImplicitTLS speaks TLS from the first byte, like port 993.
	ImplicitTLS Mode = iota
	// StartTLS starts in plaintext and offers STARTTLS, like port 143; AUTHENTICATE is
	// refused until TLS is up.
	StartTLS
	// Plaintext never uses TLS and allows AUTHENTICATE anyway (to test that clients
	// refuse to send a token over it).
	Plaintext
)

// Default token requirements.
const (
	DefaultAudience       = "https://outlook.office365.com"
	DefaultDelegatedScope = "IMAP.AccessAsUser.All"
	DefaultAppRole        = "IMAP.AccessAsApp"
	// ExpiredText is the text of the BYE Exchange sends when a session's token expires.
	ExpiredText = "Session invalidated - AccessTokenExpired"
	// NotConnectedText is Exchange's reply to commands after a user/mailbox mismatch.
	NotConnectedText = "User is authenticated but not connected."
	// FailedText is Exchange's reply to a refused AUTHENTICATE.
	FailedText = "AUTHENTICATE failed."
)

// Options configures a [Server]. Verify is required; TLSConfig is required unless Mode is
// Plaintext.
type Options struct {
	// Verify checks a bearer token's signature and expiry and returns its claims;
	// (*fakeidp.IdP).Verify fits. Audience, scope and mailbox access are checked by the
	// server itself.
	Verify func(token string) (*fakeidp.Claims, error)
	// Mode selects implicit TLS (default), STARTTLS or plaintext.
	Mode Mode
	// TLSConfig is the server's TLS configuration, e.g. testpki's CA.ServerConfig().
	TLSConfig *tls.Config
	// Mechanisms advertised; nil means XOAUTH2 and OAUTHBEARER.
	Mechanisms []string
	// NoSASLIR hides the SASL-IR capability and refuses AUTHENTICATE with an initial
	// response (BAD), as servers without RFC 4959 do.
	NoSASLIR bool
	// ErrorChallenge makes a refused token get the JSON error challenge before the final
	// NO (Dovecot and Gmail do this); false fails directly with "NO AUTHENTICATE failed."
	// as Exchange does.
	ErrorChallenge bool
	// ExpireSessions sends "* BYE Session invalidated - AccessTokenExpired" and closes the
	// connection when the token a session authenticated with expires, as Exchange does.
	ExpireSessions bool
	// Audience is the aud a token must carry; "" means DefaultAudience, "-" disables the
	// check.
	Audience string
	// Logger receives one line per authentication decision; nil is silent.
	Logger *slog.Logger
}

// Stats counts what the server saw. Read it with [Server.Stats].
type Stats struct {
	Connections   int64 // accepted connections
	AuthAttempts  int64 // AUTHENTICATE commands
	AuthSuccesses int64 // tagged OK to AUTHENTICATE
	AuthFailures  int64 // tagged NO/BAD to AUTHENTICATE
	Challenges    int64 // error challenges sent
	// AuthRoundTrips counts client lines read during AUTHENTICATE commands: the command
	// line plus one per continuation. One AUTHENTICATE with SASL-IR costs 1, without it 2.
	AuthRoundTrips int64
	ByeExpired     int64 // BYE AccessTokenExpired sent
}

// Server is a running in-process IMAP server. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	ln   net.Listener
	srv  *imapserver.Server
	addr string

	mu        sync.Mutex // guards mailboxes, grants, sessions, failNext, notConnected, closed
	mailboxes map[string]*imapmemserver.User
	grants    map[string]map[string]bool // mailbox -> principals (UPN, OID or app ID) allowed
	sessions  map[*session]struct{}
	failNext  int
	notConn   bool
	lastMech  string
	lastAck   []byte
	closed    bool

	connections, attempts, successes, failures, challenges, roundTrips, byes atomic.Int64
}

// New starts a server on 127.0.0.1 with a random port. It returns once the server
// accepts connections. Call Close when done.
func New(opts Options) (*Server, error) {
	if opts.Verify == nil {
		return nil, errors.New("imaptest: Options.Verify is required")
	}
	if opts.Mode != Plaintext && opts.TLSConfig == nil {
		return nil, errors.New("imaptest: Options.TLSConfig is required unless Mode is Plaintext")
	}
	if opts.Mechanisms == nil {
		opts.Mechanisms = []string{"XOAUTH2", "OAUTHBEARER"}
	}
	if opts.Audience == "" {
		opts.Audience = DefaultAudience
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("imaptest: %w", err)
	}
	s := &Server{
		opts:      opts,
		addr:      ln.Addr().String(),
		mailboxes: make(map[string]*imapmemserver.User),
		grants:    make(map[string]map[string]bool),
		sessions:  make(map[*session]struct{}),
	}
	l := newListener(ln, s)
	s.ln = l
	srvOpts := &imapserver.Options{
		NewSession: s.newSession,
		Caps:       imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapNamespace: {}, imap.CapUIDPlus: {}, imap.CapMove: {}},
		Logger:     discardLogger{},
		// TLS is done by the listener (implicit, or STARTTLS handled before imapserver
		// sees the connection), so imapserver itself never needs to.
		InsecureAuth: true,
	}
	s.srv = imapserver.New(srvOpts)
	go s.srv.Serve(s.ln)
	<-l.serving
	return s, nil
}

// Addr returns the listening address, "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.addr }

// Close stops the server and closes every connection.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	return s.srv.Close()
}

// AddMailbox creates a mailbox with an empty INBOX. Its owner (a user whose token's upn
// equals address) may open it; so may each of grantees, given as UPNs (delegates, for a
// shared mailbox) or service principal object IDs / app IDs (app-only access, like
// Add-MailboxPermission). Adding an existing mailbox only adds grantees.
func (s *Server) AddMailbox(address string, grantees ...string) {
	key := strings.ToLower(address)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.mailboxes[key]; !ok {
		u := imapmemserver.NewUser(key, "")
		_ = u.Create("INBOX", nil)
		s.mailboxes[key] = u
		s.grants[key] = map[string]bool{key: true}
	}
	for _, g := range grantees {
		s.grants[key][strings.ToLower(g)] = true
	}
}

// Deliver appends msg (an RFC 5322 message) to the mailbox's INBOX.
func (s *Server) Deliver(address string, msg []byte) error {
	s.mu.Lock()
	u := s.mailboxes[strings.ToLower(address)]
	s.mu.Unlock()
	if u == nil {
		return fmt.Errorf("imaptest: no mailbox %q", address)
	}
	_, err := u.Append("INBOX", literal{bytes.NewReader(msg), int64(len(msg))}, &imap.AppendOptions{})
	return err
}

// FailNextAuth makes the next n AUTHENTICATE commands fail with "NO AUTHENTICATE failed."
// whatever the token (as Exchange does for an app without permission).
func (s *Server) FailNextAuth(n int) {
	s.mu.Lock()
	s.failNext = n
	s.mu.Unlock()
}

// SetNotConnected makes every later successful AUTHENTICATE be followed by
// "BAD User is authenticated but not connected." on LIST, SELECT, EXAMINE and STATUS.
func (s *Server) SetNotConnected(on bool) {
	s.mu.Lock()
	s.notConn = on
	s.mu.Unlock()
}

// ExpireAll sends "* BYE Session invalidated - AccessTokenExpired" to every authenticated
// session and closes them, as Exchange does when tokens expire.
func (s *Server) ExpireAll() {
	s.mu.Lock()
	var list []*session
	for ss := range s.sessions {
		list = append(list, ss)
	}
	s.mu.Unlock()
	for _, ss := range list {
		ss.expire()
	}
}

// LastAck returns the mechanism and the decoded bytes the client sent in answer to the
// most recent error challenge (nil if none).
func (s *Server) LastAck() (mech string, ack []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastMech, bytes.Clone(s.lastAck)
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Connections: s.connections.Load(), AuthAttempts: s.attempts.Load(), AuthSuccesses: s.successes.Load(),
		AuthFailures: s.failures.Load(), Challenges: s.challenges.Load(), AuthRoundTrips: s.roundTrips.Load(),
		ByeExpired: s.byes.Load(),
	}
}

// ResetStats zeroes the counters.
func (s *Server) ResetStats() {
	for _, c := range []*atomic.Int64{&s.connections, &s.attempts, &s.successes, &s.failures, &s.challenges, &s.roundTrips, &s.byes} {
		c.Store(0)
	}
}

func (s *Server) logf(msg string, args ...any) {
	if s.opts.Logger != nil {
		s.opts.Logger.Info(msg, args...)
	}
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

type literal struct {
	*bytes.Reader
	n int64
}

func (l literal) Size() int64 { return l.n }
