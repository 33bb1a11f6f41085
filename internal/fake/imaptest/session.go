package imaptest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/modernauth/mailauth/internal/fake/saslserver"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	gosasl "github.com/emersion/go-sasl"

	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// session is one connection. Before authentication UserSession is nil; imapserver only
// calls the mailbox methods in the authenticated state.
type session struct {
	*imapmemserver.UserSession

	s    *Server
	conn *imapserver.Conn

	mu           sync.Mutex // guards timer, notConnected
	timer        *time.Timer
	notConnected bool
}

var _ imapserver.SessionSASL = (*session)(nil)

func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	return &session{s: s, conn: c}, nil, nil
}

func (ss *session) Close() error {
	ss.mu.Lock()
	if ss.timer != nil {
		ss.timer.Stop()
	}
	ss.mu.Unlock()
	ss.s.mu.Lock()
	delete(ss.s.sessions, ss)
	ss.s.mu.Unlock()
	if ss.UserSession != nil {
		return ss.UserSession.Close()
	}
	return nil
}

func (ss *session) Login(string, string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "LOGIN is disabled; use AUTHENTICATE XOAUTH2"}
}

func (ss *session) AuthenticateMechanisms() []string { return ss.s.opts.Mechanisms }

func (ss *session) Authenticate(mech string) (gosasl.Server, error) {
	ok := false
	for _, m := range ss.s.opts.Mechanisms {
		ok = ok || strings.EqualFold(m, mech)
	}
	if !ok {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Unsupported authentication mechanism"}
	}
	ss.s.attempts.Add(1)
	ss.s.roundTrips.Add(1) // the AUTHENTICATE line
	return &oauthServer{ss: ss, mech: strings.ToUpper(mech)}, nil
}

func (ss *session) expire() {
	ss.s.byes.Add(1)
	_ = ss.conn.Bye(ExpiredText)
}

var errNotConnected = &imap.Error{Type: imap.StatusResponseTypeBad, Text: NotConnectedText}

func (ss *session) isNotConnected() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.notConnected
}

// List answers LIST; with a user/mailbox mismatch it fails as Exchange does.
func (ss *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if ss.isNotConnected() {
		return errNotConnected
	}
	return ss.UserSession.List(w, ref, patterns, options)
}

// Select answers SELECT and EXAMINE.
func (ss *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	if ss.isNotConnected() {
		return nil, errNotConnected
	}
	return ss.UserSession.Select(name, options)
}

// Status answers STATUS.
func (ss *session) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	if ss.isNotConnected() {
		return nil, errNotConnected
	}
	return ss.UserSession.Status(name, options)
}

// oauthServer is the server side of one XOAUTH2 or OAUTHBEARER exchange.
type oauthServer struct {
	ss    *session
	mech  string
	step  int // 0: waiting for payload, 1: error challenge sent
	first bool
}

var errAuthFailed = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: FailedText}

func (a *oauthServer) Next(resp []byte) (challenge []byte, done bool, err error) {
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
			// No initial response: ask for it with an empty continuation.
			s.roundTrips.Add(1)
			return nil, false, nil
		}
		if s.opts.NoSASLIR {
			s.failures.Add(1)
			return nil, false, &imap.Error{Type: imap.StatusResponseTypeBad, Text: "SASL-IR is not supported"}
		}
	}
	user, token, perr := saslserver.ParseResponse(a.mech, resp)
	if perr != nil {
		s.failures.Add(1)
		return nil, false, &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Invalid SASL payload: " + perr.Error()}
	}
	s.mu.Lock()
	forced := s.failNext > 0
	if forced {
		s.failNext--
	}
	notConn := s.notConn
	s.mu.Unlock()
	if forced {
		s.logf("imaptest: forced failure", "user", user)
		s.failures.Add(1)
		return nil, false, errAuthFailed
	}
	claims, verr := s.check(token)
	if verr != nil {
		s.logf("imaptest: token refused", "user", user, "reason", verr.Error())
		if s.opts.ErrorChallenge {
			a.step = 1
			s.challenges.Add(1)
			s.roundTrips.Add(1)
			return challengeJSON(a.mech), false, nil
		}
		s.failures.Add(1)
		return nil, false, errAuthFailed
	}
	mbox := strings.ToLower(user)
	s.mu.Lock()
	u := s.mailboxes[mbox]
	grants := s.grants[mbox]
	allowed := grants[strings.ToLower(claims.UPN)] || grants[strings.ToLower(claims.OID)] || grants[strings.ToLower(claims.AppID)]
	s.mu.Unlock()
	appOnly := claims.UPN == "" && len(claims.Scp) == 0
	if u == nil || (appOnly && !allowed) {
		// Exchange: unknown mailbox, or a service principal without FullAccess.
		s.logf("imaptest: no access", "user", user)
		s.failures.Add(1)
		return nil, false, errAuthFailed
	}
	a.ss.UserSession = imapmemserver.NewUserSession(u)
	a.ss.mu.Lock()
	a.ss.notConnected = notConn || !allowed
	if s.opts.ExpireSessions && !claims.ExpiresAt.IsZero() {
		a.ss.timer = time.AfterFunc(time.Until(claims.ExpiresAt), a.ss.expire)
	}
	a.ss.mu.Unlock()
	s.mu.Lock()
	s.sessions[a.ss] = struct{}{}
	s.mu.Unlock()
	s.successes.Add(1)
	return nil, true, nil
}

// check verifies the token and its audience and permission claims.
func (s *Server) check(token string) (*fakeidp.Claims, error) {
	c, err := s.opts.Verify(token)
	if err != nil {
		return nil, err
	}
	if s.opts.Audience != "-" && strings.TrimSuffix(c.Audience, "/") != strings.TrimSuffix(s.opts.Audience, "/") {
		return nil, fmt.Errorf("audience %q is not %q", c.Audience, s.opts.Audience)
	}
	hasScope := false
	for _, sc := range c.Scp {
		hasScope = hasScope || strings.HasSuffix(sc, DefaultDelegatedScope)
	}
	for _, r := range c.Roles {
		hasScope = hasScope || r == DefaultAppRole
	}
	if !hasScope {
		return nil, fmt.Errorf("token has neither scp %s nor role %s", DefaultDelegatedScope, DefaultAppRole)
	}
	return c, nil
}

func challengeJSON(mech string) []byte {
	if mech == "OAUTHBEARER" {
		return []byte(`{"status":"invalid_token","scope":"` + DefaultAudience + `/.default"}`)
	}
	b, _ := json.Marshal(map[string]string{"status": "401", "schemes": "bearer", "scope": DefaultAudience + "/.default"})
	return b
}
