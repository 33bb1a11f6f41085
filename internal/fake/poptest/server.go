// Package poptest is an in-process POP3 server for tests, benchmarks and the
// quickstart. It speaks enough of RFC 1939, RFC 2449 (CAPA), RFC 2595 (STLS)
// and RFC 5034 (AUTH) to exercise popauth, authenticates with SASL XOAUTH2
// and OAUTHBEARER bearer tokens checked by a caller-supplied function (such
// as one over (*fakeidp.IdP).Verify), and has knobs that reproduce the
// failures Exchange Online and Dovecot are known for.
//
// It listens on 127.0.0.1 only: one listener with implicit TLS (995-style)
// and one plaintext listener that offers STLS (110-style).
package poptest

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modernauth/mailauth/internal/fake/saslserver"
)

// ExchangeAuthFailure is the line Exchange Online sends when it rejects a
// token, used when [Options.ErrorChallenge] is off.
const ExchangeAuthFailure = "-ERR Authentication failure: unknown user name or bad password."

// Options configure a [Server]. Authorize is required.
type Options struct {
	// TLSConfig is the server's TLS configuration (for example from
	// testpki's ServerConfig). If nil, there is no TLS listener and STLS is
	// not offered.
	TLSConfig *tls.Config

	// Authorize decides whether token may open mailbox user (the SASL user).
	// A nil error logs in. Required.
	Authorize func(user, token string) error

	// Mailboxes holds the messages of each mailbox, keyed by address (matched
	// case-insensitively). A message is RFC 5322 text; bare LF line endings
	// are turned into CRLF. A logged-in user without an entry has an empty
	// mailbox. DELE followed by QUIT removes messages from here.
	Mailboxes map[string][]string

	// OAuthBearer advertises and accepts OAUTHBEARER besides XOAUTH2.
	OAuthBearer bool

	// SASL, when non-nil, replaces the mechanisms listed on CAPA's SASL
	// line (what is accepted does not change).
	SASL []string

	// OmitSASL leaves the SASL line out of CAPA.
	OmitSASL bool

	// ErrorChallenge answers a rejected token the Dovecot (and Gmail) way:
	// a "+ <base64 JSON>" error challenge, then "-ERR [AUTH] Authentication
	// failed." after the client's answer. When false, the server answers
	// with [ExchangeAuthFailure] directly, as Exchange Online does.
	ErrorChallenge bool

	// AllowOneLineAuth accepts "AUTH XOAUTH2 <initial-response>". When false
	// (the default, like Exchange Online) such a command gets "-ERR Protocol
	// error. Connection is closed. 10" and the connection is closed.
	AllowOneLineAuth bool

	// AllowInsecureAuth accepts AUTH on a plaintext connection. When false,
	// AUTH before STLS gets "-ERR [AUTH] Plaintext authentication disabled."
	AllowInsecureAuth bool

	// NotConnected makes every command after a successful login fail with
	// "-ERR User is authenticated but not connected.", modelling Exchange's
	// answer when the token's user may not open the mailbox.
	NotConnected bool

	// TempFailures is how many AUTH attempts (counted over the server's life)
	// fail with "-ERR [SYS/TEMP] Temporary authentication failure." before
	// tokens are checked.
	TempFailures int

	// CloseAfterAuth closes the connection without a reply once a token is
	// accepted, as Dovecot does when the user has no mailbox.
	CloseAfterAuth bool

	// InUse answers a good login with "-ERR [IN-USE] Mailbox is locked by
	// another session."
	InUse bool

	// ReplyDelay delays every reply, to test client deadlines.
	ReplyDelay time.Duration
}

// Server is a running POP3 server. Its methods are safe for concurrent use.
type Server struct {
	opts     Options
	tlsLn    net.Listener
	plainLn  net.Listener
	wg       sync.WaitGroup
	closed   atomic.Bool
	done     chan struct{} // closed by Close; ends ReplyDelay waits
	delay    atomic.Int64  // reply delay in nanoseconds
	mu       sync.Mutex    // guards boxes and conns
	boxes    map[string][]string
	conns    map[net.Conn]struct{}
	attempts atomic.Int64
	tokens   atomic.Int64
	logins   atomic.Int64
	commands atomic.Int64
}

// New starts a server on 127.0.0.1 with OS-chosen ports.
func New(opts Options) (*Server, error) {
	if opts.Authorize == nil {
		return nil, errors.New("poptest: Options.Authorize must be set")
	}
	s := &Server{opts: opts, boxes: map[string][]string{}, conns: map[net.Conn]struct{}{}, done: make(chan struct{})}
	for k, v := range opts.Mailboxes {
		msgs := make([]string, len(v))
		for i, m := range v {
			msgs[i] = crlf(m)
		}
		s.boxes[strings.ToLower(k)] = msgs
	}
	s.delay.Store(int64(opts.ReplyDelay))
	var err error
	s.plainLn, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("poptest: %w", err)
	}
	if opts.TLSConfig != nil {
		s.tlsLn, err = tls.Listen("tcp", "127.0.0.1:0", opts.TLSConfig)
		if err != nil {
			s.plainLn.Close()
			return nil, fmt.Errorf("poptest: %w", err)
		}
		s.serve(s.tlsLn, true)
	}
	s.serve(s.plainLn, false)
	return s, nil
}

func crlf(m string) string {
	m = strings.ReplaceAll(m, "\r\n", "\n")
	m = strings.ReplaceAll(m, "\n", "\r\n")
	if !strings.HasSuffix(m, "\r\n") {
		m += "\r\n"
	}
	return m
}

// Addr is the implicit-TLS listener's address ("127.0.0.1:port"), or ""
// without Options.TLSConfig.
func (s *Server) Addr() string {
	if s.tlsLn == nil {
		return ""
	}
	return s.tlsLn.Addr().String()
}

// PlainAddr is the plaintext listener's address; it offers STLS when
// Options.TLSConfig is set.
func (s *Server) PlainAddr() string { return s.plainLn.Addr().String() }

// SetReplyDelay changes Options.ReplyDelay for the replies sent from now on.
func (s *Server) SetReplyDelay(d time.Duration) { s.delay.Store(int64(d)) }

// AuthAttempts counts AUTH commands received.
func (s *Server) AuthAttempts() int64 { return s.attempts.Load() }

// TokensReceived counts SASL payloads that reached the server (each one
// carries a token).
func (s *Server) TokensReceived() int64 { return s.tokens.Load() }

// Logins counts successful logins.
func (s *Server) Logins() int64 { return s.logins.Load() }

// Commands counts command lines received, SASL responses included.
func (s *Server) Commands() int64 { return s.commands.Load() }

// Messages returns a copy of a mailbox's current messages (CRLF line endings).
func (s *Server) Messages(mailbox string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.boxes[strings.ToLower(mailbox)]...)
}

// Close stops the listeners, closes every connection and waits for the
// connection goroutines to end.
func (s *Server) Close() {
	if s.closed.Swap(true) {
		return
	}
	close(s.done)
	s.plainLn.Close()
	if s.tlsLn != nil {
		s.tlsLn.Close()
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) serve(ln net.Listener, secure bool) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.closed.Load() {
				s.mu.Unlock()
				c.Close()
				return
			}
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				sess := &session{srv: s, conn: c, secure: secure}
				sess.run()
				s.mu.Lock()
				delete(s.conns, sess.conn)
				delete(s.conns, c)
				s.mu.Unlock()
				sess.conn.Close()
			}()
		}
	}()
}

type session struct {
	srv     *Server
	conn    net.Conn
	br      *bufio.Reader
	secure  bool
	user    string   // logged-in mailbox, "" before login
	msgs    []string // snapshot at login
	deleted map[int]bool
}

func (ss *session) send(lines ...string) bool {
	if d := time.Duration(ss.srv.delay.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ss.srv.done:
			t.Stop()
			return false
		}
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	ss.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := ss.conn.Write([]byte(b.String()))
	return err == nil
}

func (ss *session) readLine() (string, bool) {
	ss.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	line, err := ss.br.ReadString('\n')
	if err != nil || len(line) > 64<<10 {
		return "", false
	}
	ss.srv.commands.Add(1)
	return strings.TrimRight(line, "\r\n"), true
}

func (ss *session) capa() []string {
	l := []string{"+OK Capability list follows", "CAPA", "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"}
	if !ss.secure && ss.srv.opts.TLSConfig != nil {
		l = append(l, "STLS")
	}
	mechs := "SASL XOAUTH2"
	if ss.srv.opts.OAuthBearer {
		mechs += " OAUTHBEARER"
	}
	if ss.srv.opts.SASL != nil {
		mechs = strings.TrimSpace("SASL " + strings.Join(ss.srv.opts.SASL, " "))
	}
	if (ss.secure || ss.srv.opts.AllowInsecureAuth) && !ss.srv.opts.OmitSASL {
		l = append(l, mechs)
	}
	return append(l, ".")
}

func (ss *session) run() {
	ss.br = bufio.NewReader(ss.conn)
	if !ss.send("+OK poptest ready.") {
		return
	}
	for {
		line, ok := ss.readLine()
		if !ok {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		if ss.user != "" && ss.srv.opts.NotConnected && verb != "QUIT" {
			if !ss.send("-ERR User is authenticated but not connected.") {
				return
			}
			continue
		}
		var cont bool
		switch verb {
		case "CAPA":
			cont = ss.send(ss.capa()...)
		case "NOOP":
			cont = ss.send("+OK")
		case "QUIT":
			ss.commit()
			ss.send("+OK Bye.")
			return
		case "STLS":
			cont = ss.stls()
		case "AUTH":
			cont = ss.auth(arg)
		case "USER", "PASS", "APOP":
			cont = ss.send("-ERR [AUTH] Plaintext authentication is not supported; use AUTH XOAUTH2.")
		default:
			if ss.user == "" {
				cont = ss.send("-ERR Unknown command or not logged in.")
				break
			}
			cont = ss.transaction(verb, arg)
		}
		if !cont {
			return
		}
	}
}

func (ss *session) stls() bool {
	if ss.secure || ss.srv.opts.TLSConfig == nil || ss.user != "" {
		return ss.send("-ERR STLS not available.")
	}
	if !ss.send("+OK Begin TLS negotiation.") {
		return false
	}
	tc := tls.Server(ss.conn, ss.srv.opts.TLSConfig)
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		return false
	}
	tc.SetDeadline(time.Time{})
	ss.srv.mu.Lock()
	ss.srv.conns[tc] = struct{}{}
	ss.srv.mu.Unlock()
	ss.conn = tc
	ss.br = bufio.NewReader(tc)
	ss.secure = true
	return true
}

// auth runs RFC 5034 AUTH for XOAUTH2 and OAUTHBEARER.
func (ss *session) auth(arg string) bool {
	o := &ss.srv.opts
	if ss.user != "" {
		return ss.send("-ERR Already logged in.")
	}
	mech, ir, hasIR := strings.Cut(arg, " ")
	mech = strings.ToUpper(mech)
	if mech == "" {
		return ss.send("-ERR Missing mechanism.")
	}
	ss.srv.attempts.Add(1)
	if !ss.secure && !o.AllowInsecureAuth {
		return ss.send("-ERR [AUTH] Plaintext authentication disabled.")
	}
	if mech != "XOAUTH2" && !(mech == "OAUTHBEARER" && o.OAuthBearer) {
		return ss.send("-ERR Unsupported authentication mechanism.")
	}
	if hasIR && !o.AllowOneLineAuth {
		ss.send("-ERR Protocol error. Connection is closed. 10")
		return false
	}
	if !hasIR {
		if !ss.send("+ ") {
			return false
		}
		var ok bool
		if ir, ok = ss.readLine(); !ok {
			return false
		}
	}
	if ir == "*" {
		return ss.send("-ERR Authentication aborted by client.")
	}
	raw, err := base64.StdEncoding.DecodeString(ir)
	if err != nil {
		return ss.send("-ERR [AUTH] Invalid base64 data in continued response.")
	}
	ss.srv.tokens.Add(1)
	if int(ss.srv.attempts.Load()) <= o.TempFailures {
		return ss.send("-ERR [SYS/TEMP] Temporary authentication failure.")
	}
	user, token, perr := saslserver.ParseResponse(mech, raw)
	if perr == nil {
		perr = o.Authorize(user, token)
	}
	if perr != nil {
		if !o.ErrorChallenge {
			return ss.send(ExchangeAuthFailure)
		}
		js := `{"status":"401","schemes":"bearer","scope":"mail"}`
		if mech == "OAUTHBEARER" {
			js = `{"status":"invalid_token"}`
		}
		if !ss.send("+ " + base64.StdEncoding.EncodeToString([]byte(js))) {
			return false
		}
		answer, ok := ss.readLine()
		if !ok {
			return false
		}
		if answer == "*" {
			return ss.send("-ERR Authentication aborted by client.")
		}
		return ss.send("-ERR [AUTH] Authentication failed.")
	}
	if o.CloseAfterAuth {
		return false
	}
	if o.InUse {
		return ss.send("-ERR [IN-USE] Mailbox is locked by another session.")
	}
	ss.user = strings.ToLower(user)
	ss.srv.mu.Lock()
	ss.msgs = append([]string(nil), ss.srv.boxes[ss.user]...)
	ss.srv.mu.Unlock()
	ss.deleted = map[int]bool{}
	ss.srv.logins.Add(1)
	return ss.send("+OK Logged in.")
}

func (ss *session) number(arg string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(arg))
	if err != nil || n < 1 || n > len(ss.msgs) || ss.deleted[n] {
		return 0, false
	}
	return n, true
}

func (ss *session) transaction(verb, arg string) bool {
	switch verb {
	case "STAT":
		n, size := 0, 0
		for i, m := range ss.msgs {
			if !ss.deleted[i+1] {
				n++
				size += len(m)
			}
		}
		return ss.send(fmt.Sprintf("+OK %d %d", n, size))
	case "LIST", "UIDL":
		if arg != "" {
			n, ok := ss.number(arg)
			if !ok {
				return ss.send("-ERR No such message.")
			}
			return ss.send("+OK " + ss.listing(verb, n))
		}
		lines := []string{"+OK"}
		for i := range ss.msgs {
			if !ss.deleted[i+1] {
				lines = append(lines, ss.listing(verb, i+1))
			}
		}
		return ss.send(append(lines, ".")...)
	case "RETR", "TOP":
		a, b, _ := strings.Cut(arg, " ")
		n, ok := ss.number(a)
		if !ok {
			return ss.send("-ERR No such message.")
		}
		m := ss.msgs[n-1]
		if verb == "TOP" {
			k, err := strconv.Atoi(strings.TrimSpace(b))
			if err != nil || k < 0 {
				return ss.send("-ERR Invalid line count.")
			}
			m = top(m, k)
		}
		return ss.send("+OK "+strconv.Itoa(len(ss.msgs[n-1]))+" octets", stuff(m)+".")
	case "DELE":
		n, ok := ss.number(arg)
		if !ok {
			return ss.send("-ERR No such message.")
		}
		ss.deleted[n] = true
		return ss.send("+OK Marked to be deleted.")
	case "RSET":
		ss.deleted = map[int]bool{}
		return ss.send("+OK")
	}
	return ss.send("-ERR Unknown command.")
}

func (ss *session) listing(verb string, n int) string {
	if verb == "LIST" {
		return fmt.Sprintf("%d %d", n, len(ss.msgs[n-1]))
	}
	return fmt.Sprintf("%d %08x%08x", n, n, len(ss.msgs[n-1]))
}

// stuff byte-stuffs a CRLF message and drops its final CRLF so that send's
// line ending completes it.
func stuff(m string) string {
	m = strings.TrimSuffix(m, "\r\n")
	lines := strings.Split(m, "\r\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") {
			lines[i] = "." + l
		}
	}
	return strings.Join(lines, "\r\n") + "\r\n"
}

// top returns the header and the first k body lines.
func top(m string, k int) string {
	head, body, ok := strings.Cut(m, "\r\n\r\n")
	if !ok {
		return m
	}
	lines := strings.SplitAfter(body, "\r\n")
	if k < len(lines) {
		lines = lines[:k]
	}
	return head + "\r\n\r\n" + strings.Join(lines, "")
}

func (ss *session) commit() {
	if ss.user == "" || len(ss.deleted) == 0 {
		return
	}
	ss.srv.mu.Lock()
	defer ss.srv.mu.Unlock()
	var keep []string
	for i, m := range ss.msgs {
		if !ss.deleted[i+1] {
			keep = append(keep, m)
		}
	}
	ss.srv.boxes[ss.user] = keep
}
