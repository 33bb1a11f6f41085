// Package smtptest runs an in-process SMTP submission server (go-smtp) that
// authenticates with SASL XOAUTH2 and OAUTHBEARER, validating bearer tokens with a
// caller-supplied verifier (normally (*fakeidp.IdP).Verify), and keeps every accepted
// message so tests can read it back. It listens on 127.0.0.1 only, over STARTTLS (port
// 587 style), implicit TLS (465) or plaintext, and has knobs for the replies Exchange
// Online is known for: 535 5.7.139 (SMTP AUTH disabled, basic auth disabled), 535 5.7.3,
// 501 5.5.127, 430 4.2.0 mailbox logon failure and 554 5.2.0 SendAsDenied.
//
// Like Dovecot it refuses an AUTH command line longer than 512 octets with
// "500 5.5.2 Line too long" unless Options.AllowLongAuthLine is set (RFC 4954 §4).
//
// It is for tests, benchmarks and the quickstart; it is not a mail server.
package smtptest

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modernauth/mailauth/internal/fake/saslserver"

	gosasl "github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// Mode is how clients reach the server.
type Mode int

// Connection modes.
const (
	// StartTLS starts in plaintext and offers STARTTLS, like port 587; AUTH is refused
	// (523 5.7.10) until TLS is up.
	StartTLS Mode = iota
	// ImplicitTLS speaks TLS from the first byte, like port 465.
	ImplicitTLS
	// Plaintext never uses TLS and allows AUTH anyway (to test that clients refuse).
	Plaintext
)

// Token requirements.
const (
	DefaultAudience       = "https://outlook.office365.com"
	DefaultDelegatedScope = "SMTP.Send"
	DefaultAppRole        = "SMTP.SendAsApp"
	// MaxAuthLine is the longest AUTH command line accepted, CRLF included (RFC 4954 §4).
	MaxAuthLine = 512
)

// Reply is an SMTP reply a knob makes the server send.
type Reply struct {
	Code     int
	Enhanced [3]int
	Text     string
}

func (r Reply) err() *smtp.SMTPError {
	return &smtp.SMTPError{Code: r.Code, EnhancedCode: smtp.EnhancedCode(r.Enhanced), Message: r.Text}
}

// Replies Exchange Online sends, as seen in the field.
var (
	ReplyAuthDisabled       = Reply{535, [3]int{5, 7, 139}, "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information."}
	ReplyBasicAuthDisabled  = Reply{535, [3]int{5, 7, 139}, "Authentication unsuccessful, basic authentication is disabled."}
	ReplyAuthUnsuccessful   = Reply{535, [3]int{5, 7, 3}, "Authentication unsuccessful [SMTPTEST.contoso.test]"}
	ReplyTokenExpiresSoon   = Reply{501, [3]int{5, 5, 127}, "Invalid XOAUTH2 auth data - Token will expire soon"}
	ReplyMailboxLogonFailed = Reply{430, [3]int{4, 2, 0}, "STOREDRV; mailbox logon failure"}
	ReplySendAsDenied       = Reply{554, [3]int{5, 2, 0}, "STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message [BeginDiagnosticData]Cannot submit message."}
)

// Options configures a [Server]. Verify is required; TLSConfig is required unless Mode is
// Plaintext.
type Options struct {
	// Verify checks a token's signature and expiry and returns its claims.
	Verify func(token string) (*fakeidp.Claims, error)
	// Mode selects STARTTLS (default), implicit TLS or plaintext.
	Mode Mode
	// TLSConfig is the server's TLS configuration.
	TLSConfig *tls.Config
	// Mechanisms advertised; nil means XOAUTH2 and OAUTHBEARER.
	Mechanisms []string
	// ErrorChallenge makes a refused token get the JSON error challenge (334) before
	// "535 5.7.8 Authentication failed" (Dovecot and Gmail style); false answers
	// ReplyAuthUnsuccessful at once, as Exchange does.
	ErrorChallenge bool
	// AllowLongAuthLine accepts AUTH lines longer than MaxAuthLine (Exchange does).
	AllowLongAuthLine bool
	// Audience is the aud a token must carry; "" means DefaultAudience, "-" disables.
	Audience string
	// Logger receives one line per authentication decision; nil is silent.
	Logger *slog.Logger
	// DSN and SMTPUTF8 make the server advertise those extensions (RFC 3461, RFC 6531)
	// and accept their MAIL and RCPT parameters (recorded in Message).
	DSN, SMTPUTF8 bool
	// OnMessage, when set, is called with every accepted message after it is stored,
	// outside any lock (e.g. to deliver it into an imaptest mailbox). It must be safe
	// for concurrent use.
	OnMessage func(Message)
}

// Message is one accepted message.
type Message struct {
	AuthUser string   // the SASL user name of the session
	From     string   // MAIL FROM
	To       []string // RCPT TO
	Data     []byte   // the message as received (CRLF line ends, dot-unstuffed)
	// Mail and Rcpt are the MAIL FROM parameters and those of each RCPT TO, in order.
	Mail smtp.MailOptions
	Rcpt []smtp.RcptOptions
}

// Stats counts what the server saw.
type Stats struct {
	Connections, AuthAttempts, AuthSuccesses, AuthFailures, Challenges int64
	// AuthRoundTrips counts client lines read during AUTH: the command line plus one
	// per 334 continuation.
	AuthRoundTrips int64
	// LongAuthLines counts AUTH lines refused for exceeding MaxAuthLine.
	LongAuthLines int64
}

// Server is a running in-process SMTP server. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	srv  *smtp.Server
	ln   net.Listener
	addr string

	mu       sync.Mutex                 // guards the fields below
	mailbox  map[string]map[string]bool // mailbox -> principals allowed to authenticate for it (app-only)
	sendAs   map[string]map[string]bool // principal -> extra From addresses
	msgs     []Message
	failAuth []Reply
	failMail []Reply
	failData []Reply
	lastAck  []byte
	lastMech string

	conns, attempts, successes, failures, challenges, roundTrips, longLines atomic.Int64
}

// New starts a server on 127.0.0.1 with a random port. Call Close when done.
func New(opts Options) (*Server, error) {
	if opts.Verify == nil {
		return nil, errors.New("smtptest: Options.Verify is required")
	}
	if opts.Mode != Plaintext && opts.TLSConfig == nil {
		return nil, errors.New("smtptest: Options.TLSConfig is required unless Mode is Plaintext")
	}
	if opts.Mechanisms == nil {
		opts.Mechanisms = []string{"XOAUTH2", "OAUTHBEARER"}
	}
	if opts.Audience == "" {
		opts.Audience = DefaultAudience
	}
	s := &Server{opts: opts, mailbox: map[string]map[string]bool{}, sendAs: map[string]map[string]bool{}}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "smtptest.contoso.test"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxLineLength = 16 << 10
	srv.ErrorLog = discardLogger{}
	srv.EnableDSN, srv.EnableSMTPUTF8 = opts.DSN, opts.SMTPUTF8
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("smtptest: %w", err)
	}
	s.addr = ln.Addr().String()
	var l net.Listener = &countListener{Listener: ln, n: &s.conns}
	switch opts.Mode {
	case StartTLS:
		srv.TLSConfig = opts.TLSConfig
	case ImplicitTLS:
		l = tls.NewListener(l, opts.TLSConfig)
		srv.AllowInsecureAuth = true // already TLS
	case Plaintext:
		srv.AllowInsecureAuth = true
	}
	s.srv, s.ln = srv, l
	go srv.Serve(l)
	return s, nil
}

// Addr returns "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.addr }

// Close stops the server and closes every connection.
func (s *Server) Close() error {
	err := s.srv.Close()
	s.ln.Close() // in case Serve had not registered it yet
	return err
}

// AddMailbox registers a mailbox. A delegated token may authenticate only as its own
// UPN; an app-only token may authenticate as address when its app ID or object ID is
// among principals (what Exchange's service principal permission grants).
func (s *Server) AddMailbox(address string, principals ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(address)
	if s.mailbox[key] == nil {
		s.mailbox[key] = map[string]bool{}
	}
	for _, p := range principals {
		s.mailbox[key][strings.ToLower(p)] = true
	}
}

// GrantSendAs lets principal (the SASL user) use from as MAIL FROM, like
// Add-RecipientPermission -AccessRights SendAs. A user may always send as itself.
func (s *Server) GrantSendAs(principal, from string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := strings.ToLower(principal)
	if s.sendAs[p] == nil {
		s.sendAs[p] = map[string]bool{}
	}
	s.sendAs[p][strings.ToLower(from)] = true
}

// FailNextAuth makes the next AUTH commands fail with the given replies, in order,
// whatever the token.
func (s *Server) FailNextAuth(r ...Reply) {
	s.mu.Lock()
	s.failAuth = append(s.failAuth, r...)
	s.mu.Unlock()
}

// FailNextMail makes the next MAIL FROM commands fail with the given replies.
func (s *Server) FailNextMail(r ...Reply) {
	s.mu.Lock()
	s.failMail = append(s.failMail, r...)
	s.mu.Unlock()
}

// FailNextData makes the next messages fail at the end of DATA with the given replies.
func (s *Server) FailNextData(r ...Reply) {
	s.mu.Lock()
	s.failData = append(s.failData, r...)
	s.mu.Unlock()
}

// Messages returns a copy of the accepted messages, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// LastAck returns the mechanism and decoded bytes of the client's answer to the most
// recent error challenge.
func (s *Server) LastAck() (mech string, ack []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastMech, bytes.Clone(s.lastAck)
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{Connections: s.conns.Load(), AuthAttempts: s.attempts.Load(), AuthSuccesses: s.successes.Load(),
		AuthFailures: s.failures.Load(), Challenges: s.challenges.Load(), AuthRoundTrips: s.roundTrips.Load(),
		LongAuthLines: s.longLines.Load()}
}

// ResetStats zeroes the counters.
func (s *Server) ResetStats() {
	for _, c := range []*atomic.Int64{&s.conns, &s.attempts, &s.successes, &s.failures, &s.challenges, &s.roundTrips, &s.longLines} {
		c.Store(0)
	}
}

func pop(l *[]Reply) (Reply, bool) {
	if len(*l) == 0 {
		return Reply{}, false
	}
	r := (*l)[0]
	*l = (*l)[1:]
	return r, true
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...interface{}) {}
func (discardLogger) Println(...interface{})        {}

type countListener struct {
	net.Listener
	n *atomic.Int64
}

func (l *countListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// session is one SMTP connection.
type session struct {
	s        *Server
	authUser string
	from     string
	to       []string
	mail     smtp.MailOptions
	rcpt     []smtp.RcptOptions
}

func (s *Server) newSession(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }

func (ss *session) AuthMechanisms() []string { return ss.s.opts.Mechanisms }

func (ss *session) Auth(mech string) (gosasl.Server, error) {
	ok := false
	for _, m := range ss.s.opts.Mechanisms {
		ok = ok || strings.EqualFold(m, mech)
	}
	if !ok {
		return nil, &smtp.SMTPError{Code: 504, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "Unrecognized authentication type"}
	}
	ss.s.attempts.Add(1)
	ss.s.roundTrips.Add(1)
	return &oauthServer{ss: ss, mech: strings.ToUpper(mech)}, nil
}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	if ss.authUser == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 57}, Message: "Client not authenticated to send mail"}
	}
	ss.s.mu.Lock()
	r, fail := pop(&ss.s.failMail)
	ss.s.mu.Unlock()
	if fail {
		return r.err()
	}
	ss.from, ss.mail = from, *opts
	return nil
}

func (ss *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	ss.rcpt = append(ss.rcpt, *opts)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(io.LimitReader(r, 32<<20))
	if err != nil {
		return err
	}
	m, err := ss.s.accept(ss, data)
	if err != nil {
		return err
	}
	if ss.s.opts.OnMessage != nil {
		ss.s.opts.OnMessage(m)
	}
	return nil
}

// accept applies the DATA knobs and the SendAs rule, then stores the message.
func (s *Server) accept(ss *session, data []byte) (Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, fail := pop(&s.failData); fail {
		return Message{}, r.err()
	}
	user := strings.ToLower(ss.authUser)
	if !strings.EqualFold(ss.from, user) && !s.sendAs[user][strings.ToLower(ss.from)] {
		return Message{}, ReplySendAsDenied.err()
	}
	m := Message{AuthUser: ss.authUser, From: ss.from, To: append([]string(nil), ss.to...), Data: data,
		Mail: ss.mail, Rcpt: append([]smtp.RcptOptions(nil), ss.rcpt...)}
	s.msgs = append(s.msgs, m)
	return m, nil
}

func (ss *session) Reset()        { ss.from, ss.to, ss.mail, ss.rcpt = "", nil, smtp.MailOptions{}, nil }
func (ss *session) Logout() error { return nil }

// oauthServer is the server side of one XOAUTH2 or OAUTHBEARER exchange.
type oauthServer struct {
	ss    *session
	mech  string
	step  int
	first bool
}

var errAuthFailed = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication failed"}

func (a *oauthServer) Next(resp []byte) ([]byte, bool, error) {
	s := a.ss.s
	if a.step == 1 {
		s.mu.Lock()
		s.lastMech, s.lastAck = a.mech, bytes.Clone(resp)
		s.mu.Unlock()
		s.failures.Add(1)
		return nil, false, errAuthFailed
	}
	if !a.first {
		a.first = true
		if resp == nil {
			s.roundTrips.Add(1)
			return nil, false, nil // "334 " asks for the payload
		}
		if n := len("AUTH ") + len(a.mech) + 1 + (len(resp)+2)/3*4 + 2; n > MaxAuthLine && !s.opts.AllowLongAuthLine {
			s.longLines.Add(1)
			s.failures.Add(1)
			return nil, false, &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Line too long"}
		}
	}
	user, token, err := saslserver.ParseResponse(a.mech, resp)
	if err != nil {
		s.failures.Add(1)
		return nil, false, &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 124}, Message: "Invalid " + a.mech + " auth data"}
	}
	s.mu.Lock()
	r, forced := pop(&s.failAuth)
	s.mu.Unlock()
	if forced {
		s.failures.Add(1)
		return nil, false, r.err()
	}
	if err := s.check(user, token); err != nil {
		if s.opts.Logger != nil {
			s.opts.Logger.Info("smtptest: token refused", "user", user, "reason", err.Error())
		}
		if s.opts.ErrorChallenge {
			a.step = 1
			s.challenges.Add(1)
			s.roundTrips.Add(1)
			return challengeJSON(a.mech), false, nil
		}
		s.failures.Add(1)
		return nil, false, ReplyAuthUnsuccessful.err()
	}
	a.ss.authUser = user
	s.successes.Add(1)
	return nil, true, nil
}

func (s *Server) check(user, token string) error {
	c, err := s.opts.Verify(token)
	if err != nil {
		return err
	}
	if s.opts.Audience != "-" && strings.TrimSuffix(c.Audience, "/") != strings.TrimSuffix(s.opts.Audience, "/") {
		return fmt.Errorf("audience %q is not %q", c.Audience, s.opts.Audience)
	}
	delegated := false
	for _, sc := range c.Scp {
		delegated = delegated || strings.HasSuffix(sc, DefaultDelegatedScope)
	}
	app := false
	for _, r := range c.Roles {
		app = app || r == DefaultAppRole
	}
	switch {
	case delegated:
		if !strings.EqualFold(user, c.UPN) {
			return fmt.Errorf("user %q is not the token's user %q", user, c.UPN)
		}
	case app:
		s.mu.Lock()
		p := s.mailbox[strings.ToLower(user)]
		ok := p[strings.ToLower(c.AppID)] || p[strings.ToLower(c.OID)]
		s.mu.Unlock()
		if !ok {
			return fmt.Errorf("app %q has no permission on %q", c.AppID, user)
		}
	default:
		return fmt.Errorf("token has neither scp %s nor role %s", DefaultDelegatedScope, DefaultAppRole)
	}
	return nil
}

func challengeJSON(mech string) []byte {
	if mech == "OAUTHBEARER" {
		return []byte(`{"status":"invalid_token"}`)
	}
	b, _ := json.Marshal(map[string]string{"status": "401", "schemes": "bearer", "scope": DefaultAudience + "/.default"})
	return b
}
