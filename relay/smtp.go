package relay

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	gosasl "github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/modernauth/mailauth/internal/core/tlsconf"
	"github.com/modernauth/mailauth/smtpauth"
)

var (
	errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	errAuthFailed   = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
	errAuthInsecure = &smtp.SMTPError{Code: 538, EnhancedCode: smtp.EnhancedCode{5, 7, 11}, Message: "Encryption required for requested authentication mechanism"}
	errUpstream     = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 0}, Message: "Upstream delivery failed, try again later"}
)

var (
	errTooManyRcpts = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "Too many recipients"}
	err8bitUpstream = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 3}, Message: "The upstream server does not accept 8-bit data"}
)

// serveSMTP reads the upstream's EHLO list first (when an SMTP upstream is set), then
// hands each connection to a go-smtp server whose EHLO shows that list (see planFor).
func (r *Relay) serveSMTP(ctx context.Context, l net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends a background probe
	if r.o.SMTP.Addr != "" {
		r.smtpCaps.mu.Lock()
		r.smtpCaps.probing = true
		r.smtpCaps.mu.Unlock()
		r.probeSMTP(ctx)
	}
	f := &smtpFront{r: r, addr: l.Addr()}
	r.mu.Lock()
	if !r.implicit[l] {
		f.tls = r.o.ServerTLS
	}
	r.mu.Unlock()
	defer f.close()
	for {
		c, err := r.accept(l)
		if err != nil {
			return err
		}
		r.refreshSMTPCaps(ctx)
		tc, ok := r.trackSMTP(c)
		if !ok {
			c.Close()
			return ErrClosed
		}
		if !f.hand(tc) {
			tc.Close()
			return ErrClosed
		}
	}
}

// trackSMTP registers c as an open session, so that Shutdown waits for it and cuts it
// at its deadline (go-smtp's Shutdown does neither once its context ends). The
// returned conn is c, or a fresh *tls.Conn for an implicit-TLS listener's c (not yet
// handshaken), over a conn that unregisters when closed.
func (r *Relay) trackSMTP(c net.Conn) (net.Conn, bool) {
	raw := c
	tc, isTLS := c.(*tls.Conn)
	if isTLS {
		raw = tc.NetConn()
	}
	if !r.track(raw) {
		return nil, false
	}
	var t net.Conn = &trackedConn{Conn: raw, done: func() { r.untrack(raw) }}
	if isTLS {
		t = tls.Server(t, r.o.ServerTLS)
	}
	return t, true
}

// trackedConn calls done once when first closed.
type trackedConn struct {
	net.Conn
	once sync.Once
	done func()
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.done)
	return err
}

// smtpServer returns a go-smtp server for the relay's sessions with the current plan,
// without TLS.
func (r *Relay) smtpServer() *smtp.Server { return r.smtpServerFor(r.smtpPlan(), nil) }

// smtpServerFor returns a go-smtp server for the relay's sessions with plan p, without
// TLS.
func (r *Relay) smtpServerFor(p smtpPlan, tr *tracer) *smtp.Server {
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{r: r, c: c, ip: remoteIP(c.Conn()), plan: p, tr: tr}, nil
	}))
	srv.Domain = r.o.Hostname
	srv.AllowInsecureAuth = true // checked per connection in AuthMechanisms and Auth
	p.apply(srv)
	srv.ReadTimeout = preAuthTimeout
	srv.WriteTimeout = preAuthTimeout
	srv.ErrorLog = slogLogger{r}
	return srv
}

type slogLogger struct{ r *Relay }

func (l slogLogger) Printf(format string, v ...any) {
	l.r.log.Debug("smtp server", "err", errors.New(format))
}
func (l slogLogger) Println(v ...any) { l.r.log.Debug("smtp server") }

type smtpSession struct {
	r        *Relay
	c        *smtp.Conn
	ip       netip.Addr
	plan     smtpPlan
	acc      *account
	from     string
	mailOpts *smtp.MailOptions
	to       []string
	rcptOpts []*smtp.RcptOptions
	tr       *tracer // nil unless the session is traced
}

func (s *smtpSession) secure() bool {
	if _, ok := s.c.TLSConnectionState(); ok {
		return true
	}
	return s.ip.IsLoopback()
}

// AuthMechanisms lists PLAIN and LOGIN on a secure connection, nothing otherwise.
func (s *smtpSession) AuthMechanisms() []string {
	if !s.secure() {
		return nil
	}
	return []string{gosasl.Plain, gosasl.Login}
}

// Auth checks the local password.
func (s *smtpSession) Auth(mech string) (gosasl.Server, error) {
	if !s.secure() {
		return nil, errAuthInsecure
	}
	check := func(user, password string) error {
		acc := s.r.login(context.Background(), SMTP, s.ip, user, password)
		if acc == nil {
			return errAuthFailed
		}
		s.acc = acc
		return nil
	}
	switch mech {
	case gosasl.Plain:
		return gosasl.NewPlainServer(func(identity, user, password string) error {
			if identity != "" && identity != user {
				return errAuthFailed
			}
			return check(user, password)
		}), nil
	case gosasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, &smtp.SMTPError{Code: 504, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "Unsupported authentication mechanism"}
}

// Mail starts a message; without AUTH only device networks may send. Its parameters
// go to the upstream, except AUTH=: the upstream session is authenticated as the
// account's mailbox, and a local client's claim about the submitter is not passed on.
func (s *smtpSession) Mail(from string, opts *smtp.MailOptions) error {
	if s.acc == nil {
		if s.r.device == nil || !s.r.inDeviceNetwork(s.ip) {
			s.r.log.Warn("smtp without auth refused", "client", s.ip.String())
			return errAuthRequired
		}
	}
	var o smtp.MailOptions
	if opts != nil {
		o = *opts
	}
	if s.plan.no8bit && o.Body == smtp.Body8BitMIME {
		return err8bitUpstream
	}
	o.Auth = nil
	s.from, s.mailOpts = from, &o
	s.to, s.rcptOpts = s.to[:0], s.rcptOpts[:0]
	return nil
}

// Rcpt adds a recipient and its parameters. The relay takes at most 500 recipients
// per message (fewer when the upstream's LIMITS say so; go-smtp counts those).
func (s *smtpSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	if len(s.to) >= maxRecipients {
		return errTooManyRcpts
	}
	s.to = append(s.to, to)
	s.rcptOpts = append(s.rcptOpts, opts)
	return nil
}

// Data reads the message and sends it upstream: Graph sendMail or SMTP.
func (s *smtpSession) Data(rd io.Reader) error {
	acc, device := s.acc, false
	if acc == nil {
		acc, device = s.r.device, true
	}
	msg, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	from := s.from
	if device {
		from = acc.Mailbox
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if acc.Graph != nil {
		err = acc.Graph.SendMIME(ctx, bytes.NewReader(msg))
	} else {
		err = s.r.smtpUpstream(ctx, acc, from, s.to, msg, &smtpauth.MessageOptions{Mail: s.mailOpts, Rcpt: s.rcptOpts}, s.tr.upstreamSMTP())
	}
	if err != nil {
		acc.failures.Add(1)
		s.r.log.Error("send failed", "proto", SMTP, "client", s.ip.String(), "user", acc.User, "device", device, "err", err)
		var se *smtp.SMTPError
		if errors.As(err, &se) && se.Code >= 500 {
			return &smtp.SMTPError{Code: se.Code, EnhancedCode: se.EnhancedCode, Message: "Upstream: " + se.Message}
		}
		return errUpstream
	}
	acc.messages.Add(1)
	acc.sessions.Add(1)
	acc.bytesIn.Add(int64(len(msg)))
	s.r.log.Info("sent", "proto", SMTP, "client", s.ip.String(), "user", acc.User, "device", device,
		"graph", acc.Graph != nil, "bytes", len(msg), "rcpts", len(s.to))
	return nil
}

func (r *Relay) smtpUpstream(ctx context.Context, acc *account, from string, to []string, msg []byte, mo *smtpauth.MessageOptions, trace io.Writer) error {
	up := r.o.SMTP
	if up.Addr == "" || acc.Token == nil {
		return errors.New("relay: no SMTP upstream for this account")
	}
	host, _, err := net.SplitHostPort(up.Addr)
	if err != nil {
		return err
	}
	o := &smtpauth.Options{Token: acc.Token, Mailbox: acc.Mailbox, TLSConfig: tlsconf.Client(r.o.TLSConfig, host), Dialer: r.o.Dialer, DebugWriter: trace}
	var c *smtpauth.Client
	if up.ImplicitTLS {
		c, err = smtpauth.DialTLS(ctx, up.Addr, o)
	} else {
		c, err = smtpauth.DialStartTLS(ctx, up.Addr, o)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMailOptions(ctx, from, to, bytes.NewReader(msg), mo); err != nil {
		return err
	}
	return c.Quit()
}

// Reset drops the message in progress.
func (s *smtpSession) Reset() { s.from, s.mailOpts, s.to, s.rcptOpts = "", nil, nil, nil }

// Logout ends the session.
func (s *smtpSession) Logout() error { return nil }

// loginServer is the server side of SASL LOGIN (draft-murchison-sasl-login).
type loginServer struct {
	check func(user, password string) error
	user  string
	step  int
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step = 1
		if len(resp) > 0 { // initial response carries the user name
			l.user = string(resp)
			l.step = 2
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.user = string(resp)
		l.step = 2
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(resp))
	}
}
