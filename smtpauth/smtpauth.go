package smtpauth

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	gosasl "github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/internal/core/budget"
	"github.com/modernauth/mailauth/internal/core/sasl"
	"github.com/modernauth/mailauth/internal/core/tlsconf"
)

// Mechanism names for Options.Mechanism.
const (
	XOAuth2     = sasl.XOAuth2
	OAuthBearer = sasl.OAuthBearer
)

// MaxCommandLine is the SMTP AUTH command line limit of RFC 4954 §4, CRLF included. An
// initial response is sent only while the AUTH line stays within it.
const MaxCommandLine = 512

// Options configures [DialTLS], [DialStartTLS], [NewClient] and [SendMail]. A nil
// *Options is the zero value; Token and Mailbox are required. Options are copied on entry
// and not retained.
type Options struct {
	// Token supplies access tokens; TokenContext and Invalidate are used when present
	// (see [mailauth.ContextTokenSource] and [mailauth.Invalidator]).
	Token oauth2.TokenSource
	// Mailbox is the XOAUTH2 user= (OAUTHBEARER a=): the mailbox that authenticates —
	// the token's user for delegated tokens, or the mailbox to send from for app-only
	// tokens. To send as a shared mailbox, authenticate as the delegate and set the
	// From address; the delegate needs SendAs on it.
	Mailbox string
	// Mechanism is XOAuth2 (the default) or OAuthBearer (used only when advertised).
	Mechanism string
	// TLSConfig for the handshake; nil means system roots and the address's host name.
	// It is cloned, never modified.
	TLSConfig *tls.Config
	// InsecureAllowPlaintext allows sending the token over a connection that is not TLS,
	// to a loopback address only (127.0.0.0/8, ::1): for tests against local servers.
	InsecureAllowPlaintext bool
	// Dialer dials the TCP connection; nil means a zero net.Dialer.
	Dialer *net.Dialer
	// Logger receives one line per authentication attempt and retry; nil is silent.
	Logger *slog.Logger
	// DebugWriter, when set, receives the protocol trace: every line the client sends,
	// prefixed "C: ", and every line the server sends, prefixed "S: ", from the greeting
	// on (the plaintext exchange before STARTTLS included; the message body too). AUTH
	// payloads are replaced by [REDACTED] before they are written, and the trace passes
	// through the module's redactor, so no token appears in it. It is the one trace knob,
	// like imapauth's Options.DebugWriter.
	DebugWriter io.Writer
}

func (o *Options) validate() error {
	if o.Token == nil {
		return errors.New("smtpauth: Options.Token must be set")
	}
	if o.Mailbox == "" {
		return errors.New("smtpauth: Options.Mailbox must be set")
	}
	if strings.Contains(o.Mailbox, `\`) {
		return errors.New(`smtpauth: the "delegate\shared" user form is not supported by Exchange Online: authenticate as the delegate and send with the shared address as From (the delegate needs SendAs)`)
	}
	if sasl.ValidateUsername(o.Mailbox) != nil {
		return errors.New("smtpauth: Options.Mailbox contains a control character")
	}
	switch strings.ToUpper(o.Mechanism) {
	case "", XOAuth2, OAuthBearer:
	default:
		return errors.New("smtpauth: Options.Mechanism must be XOAUTH2 or OAUTHBEARER")
	}
	return nil
}

func copyOptions(opts *Options) (Options, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	return o, o.validate()
}

func (o *Options) log(msg string, args ...any) {
	if o.Logger != nil {
		o.Logger.Debug(msg, args...)
	}
}

// Client is an authenticated SMTP connection: a go-smtp *smtp.Client plus what smtpauth
// learnt while authenticating. Like smtp.Client it is not safe for concurrent use. Close
// drops the connection; Quit ends the session politely first.
type Client struct {
	*smtp.Client

	conn     net.Conn
	mailbox  string
	mech     string
	identity mailauth.Identity
	expiry   time.Time
}

// Mechanism returns the SASL mechanism used.
func (c *Client) Mechanism() string { return c.mech }

// Identity returns the claims of the token used, decoded without verification.
func (c *Client) Identity() mailauth.Identity { return c.identity }

// TokenExpiry returns when the token used expires (zero if unknown).
func (c *Client) TokenExpiry() time.Time { return c.expiry }

// DialTLS connects to addr with implicit TLS (port 465) and authenticates. ctx bounds
// the dial, handshake, token fetch and AUTH. On error nothing is left open.
//
// Until the session is set up the server may send at most 256 KiB (TLS records included);
// one endless line or endless capability lines fail the dial with an error wrapping
// [mailauth.ErrLineTooLong].
func DialTLS(ctx context.Context, addr string, opts *Options) (*Client, error) {
	return dial(ctx, addr, opts, true)
}

// DialStartTLS connects to addr, upgrades the connection with STARTTLS (port 587, the
// submission port Exchange Online serves) and authenticates. A server that does not offer
// STARTTLS, or a failed upgrade, is an error: it never continues in plaintext. ctx bounds
// the whole exchange. On error nothing is left open.
func DialStartTLS(ctx context.Context, addr string, opts *Options) (*Client, error) {
	return dial(ctx, addr, opts, false)
}

// peer is where the session goes: OAUTHBEARER names host and port in its payload.
type peer struct {
	host string
	port int
}

func dial(ctx context.Context, addr string, opts *Options, implicit bool) (*Client, error) {
	o, err := copyOptions(opts)
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("smtpauth: bad address %q: %w", addr, err)
	}
	p := peer{host: host}
	p.port, _ = strconv.Atoi(port)
	tr := newTracer(o.DebugWriter)
	w, err := connect(ctx, addr, &o, p, implicit, tr)
	if err != nil {
		return nil, err
	}
	cl, tok, err := authOnce(ctx, &o, p, w, false)
	var ae *mailauth.AuthError
	if err != nil && errors.As(err, &ae) && ctx.Err() == nil && retryable(ae) && mailauth.Invalidate(o.Token, tok) {
		w.Close()
		o.log("smtpauth: token refused; invalidated it, retrying once with a fresh token on a new connection", "mailbox", o.Mailbox)
		if w, err = connect(ctx, addr, &o, p, implicit, tr); err != nil {
			return nil, err
		}
		cl, _, err = authOnce(ctx, &o, p, w, true)
	}
	if err != nil {
		w.Close()
		return nil, err
	}
	return cl, nil
}

// NewClient starts an SMTP session on conn, an established connection (normally a
// *tls.Conn; a plaintext one only on loopback with Options.InsecureAllowPlaintext),
// reads the greeting and authenticates. Unlike the dialers it does not retry with a fresh
// token (the server may not accept a second AUTH on the same session). ctx bounds the
// exchange: conn is closed if ctx ends first. On error conn is closed.
func NewClient(ctx context.Context, conn net.Conn, opts *Options) (*Client, error) {
	o, err := copyOptions(opts)
	if err != nil {
		conn.Close()
		return nil, err
	}
	var p peer
	if h, port, err := net.SplitHostPort(conn.RemoteAddr().String()); err == nil {
		p.host = h
		p.port, _ = strconv.Atoi(port)
	}
	w := newWire(conn, nil)
	w.trace = newTracer(o.DebugWriter)
	cl, _, err := authOnce(ctx, &o, p, w, false)
	if err != nil {
		w.Close()
		return nil, err
	}
	return cl, nil
}

// retryable: a fresh token cannot help when SMTP AUTH itself is switched off.
func retryable(ae *mailauth.AuthError) bool {
	return !errors.Is(ae, ErrSMTPAuthDisabled) && !errors.Is(ae, ErrBasicAuthDisabled) && !errors.Is(ae, sasl.ErrLongResponse)
}

// connect dials addr and returns the session's connection after TLS: implicit TLS, or
// STARTTLS negotiated here (so that the AUTH exchange can be driven on the TLS
// connection itself; see auth.go).
func connect(ctx context.Context, addr string, o *Options, p peer, implicit bool, tr *tracer) (*wire, error) {
	d := o.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("smtpauth: dialing %s: %w", addr, err)
	}
	stop := closeOnDone(ctx, raw)
	defer stop()
	bc := budget.New(raw, 0)
	cfg := tlsconf.Client(o.TLSConfig, p.host)
	if implicit {
		tc := tls.Client(bc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, ctxErr(ctx, bc.Check("smtpauth: TLS handshake with "+addr, fmt.Errorf("smtpauth: TLS handshake with %s: %w", addr, err)))
		}
		w := newWire(tc, nil)
		w.trace = tr
		w.budget = bc
		return w, nil
	}
	var plain net.Conn = bc
	if tr != nil {
		plain = tracedConn{Conn: bc, t: tr}
	}
	greeting, err := startTLS(plain)
	if err != nil {
		raw.Close()
		return nil, ctxErr(ctx, bc.Check("smtpauth: STARTTLS with "+addr, fmt.Errorf("smtpauth: STARTTLS with %s: %w", addr, err)))
	}
	tc := tls.Client(bc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, ctxErr(ctx, bc.Check("smtpauth: TLS handshake with "+addr, fmt.Errorf("smtpauth: TLS handshake with %s after STARTTLS: %w", addr, err)))
	}
	w := newWire(tc, greeting)
	w.trace = tr
	w.budget = bc
	return w, nil
}

// authOnce authenticates on w. On a connection smtpauth dialled, a server
// that sent more than the byte budget gets an error wrapping
// mailauth.ErrLineTooLong; on success the budget is lifted.
func authOnce(ctx context.Context, o *Options, p peer, w *wire, retried bool) (*Client, *oauth2.Token, error) {
	cl, tok, err := authSteps(ctx, o, p, w, retried)
	if w.budget != nil {
		if err != nil {
			return nil, tok, w.budget.Check("smtpauth", err)
		}
		w.budget.Disarm()
	}
	return cl, tok, err
}

func authSteps(ctx context.Context, o *Options, p peer, w *wire, retried bool) (*Client, *oauth2.Token, error) {
	stop := closeOnDone(ctx, w.Conn)
	defer stop()
	if _, ok := w.Conn.(*tls.Conn); !ok {
		if !o.InsecureAllowPlaintext {
			return nil, nil, fmt.Errorf("smtpauth: %w (set Options.InsecureAllowPlaintext only for tests on loopback)", mailauth.ErrInsecure)
		}
		if err := tlsconf.CheckInsecure("smtpauth: Options.InsecureAllowPlaintext", w.Conn.RemoteAddr().String()); err != nil {
			return nil, nil, err
		}
	}
	c := smtp.NewClient(w)
	// Hello reads the greeting and sends EHLO; its error says which failed
	// (SupportsAuth would only say "no").
	if err := c.Hello("localhost"); err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("smtpauth: %w", ctx.Err())
		}
		if errors.Is(err, smtp.ErrTooLongLine) {
			return nil, nil, fmt.Errorf("smtpauth: reading the greeting or EHLO reply: %w (%w)", mailauth.ErrLineTooLong, err)
		}
		if !w.wrote.Load() {
			return nil, nil, fmt.Errorf("smtpauth: bad greeting from the server: %w", err)
		}
		return nil, nil, fmt.Errorf("smtpauth: EHLO refused: %w", err)
	}
	mech := ""
	switch {
	case strings.EqualFold(o.Mechanism, OAuthBearer) && c.SupportsAuth(OAuthBearer):
		mech = OAuthBearer
	case c.SupportsAuth(XOAuth2):
		mech = XOAuth2
	case c.SupportsAuth(OAuthBearer):
		mech = OAuthBearer
	default:
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("smtpauth: %w", ctx.Err())
		}
		return nil, nil, ErrNoOAuthMechanism
	}
	tok, err := mailauth.TokenContext(ctx, o.Token)
	if err != nil {
		return nil, nil, fmt.Errorf("smtpauth: %w", err)
	}
	long := authLineLen(mech, o.Mailbox, p, tok.AccessToken) > MaxCommandLine
	sc := sasl.NewClient(sasl.ClientOptions{Mechanism: mech, Mailbox: o.Mailbox, Host: p.host, Port: p.port, Token: tok, NoInitialResponse: long})
	o.log("smtpauth: authenticating", "mechanism", mech, "mailbox", o.Mailbox, "initial_response", !long, "retry", retried)
	err = w.auth(sc)
	if err == nil {
		return &Client{Client: c, conn: w.Conn, mailbox: o.Mailbox, mech: mech, identity: sc.Identity(), expiry: sc.Expiry()}, tok, nil
	}
	if ctx.Err() != nil {
		return nil, tok, fmt.Errorf("smtpauth: authenticating: %w", ctx.Err())
	}
	return nil, tok, authError(err, sc, mech, o.Mailbox, retried)
}

func authError(err error, sc *sasl.Client, mech, mailbox string, retried bool) error {
	if errors.Is(err, mailauth.ErrLineTooLong) {
		return fmt.Errorf("smtpauth: authenticating: %w", err)
	}
	ae := &mailauth.AuthError{Protocol: "SMTP", Mechanism: mech, Mailbox: mailbox, Challenge: sc.Challenge(),
		Identity: sc.Identity(), Retried: retried, Err: err}
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		if errors.Is(err, sasl.ErrTooManyChallenges) {
			ae.ServerText = "server kept challenging"
		} else {
			ae.ServerText = "connection ended without a reply (" + err.Error() + ")"
		}
		ae.Hint = sasl.DefaultHint(ae.Identity, mailbox)
		if h := sc.SizeHint(); h != "" {
			ae.Hint, ae.Err = h, fmt.Errorf("%w: %w", sasl.ErrLongResponse, err)
		}
		return ae
	}
	sizeHint := sc.SizeHint()
	if sizeHint == "" {
		if mae := mailboxAccess(se, mailbox, sc.Identity()); mae != nil {
			return mae
		}
	}
	ae.Code = strings.TrimSpace(strconv.Itoa(se.Code) + " " + enhanced(se))
	ae.ServerText = se.Message
	hint, sentinel := classify(se)
	if sentinel != nil {
		ae.Err = fmt.Errorf("%w: %w", sentinel, se)
	}
	if h := sasl.AudienceHint(ae.Identity); h != "" {
		hint = h
	}
	if hint == "" {
		hint = sasl.DefaultHint(ae.Identity, mailbox)
	}
	if sizeHint != "" {
		hint = sizeHint
		ae.Err = fmt.Errorf("%w: %w", sasl.ErrLongResponse, ae.Err)
	}
	ae.Hint = hint
	return ae
}

// authLineLen is the length of "AUTH <mech> <base64 payload>\r\n".
func authLineLen(mech, mailbox string, p peer, token string) int {
	var b []byte
	if mech == OAuthBearer {
		b, _ = sasl.OAuthBearerPayload(mailbox, p.host, p.port, token)
	} else {
		b, _ = sasl.XOAuth2Payload(mailbox, token)
	}
	return len("AUTH ") + len(mech) + 1 + base64.StdEncoding.EncodedLen(len(b)) + 2
}

// SendMail sends one message: MAIL FROM, RCPT TO for each of to, DATA with r. ctx bounds
// it (the connection is closed if ctx ends first, and the Client is unusable then).
// Refusals become [*SendError], or [*mailauth.MailboxAccessError] when Exchange cannot
// open the authenticated mailbox.
func (c *Client) SendMail(ctx context.Context, from string, to []string, r io.Reader) error {
	return c.SendMailOptions(ctx, from, to, r, nil)
}

// MessageOptions are the ESMTP parameters of one message for [Client.SendMailOptions]:
// go-smtp's MAIL FROM and RCPT TO options. go-smtp adds a parameter to the command only
// when the server advertises its extension (SIZE, DSN's RET, ENVID, NOTIFY and ORCPT,
// RRVS, DELIVERBY, MT-PRIORITY); asking for SMTPUTF8 or REQUIRETLS from a server that
// does not advertise them is an error before anything is sent. BODY=8BITMIME is sent
// whenever the server advertises 8BITMIME.
type MessageOptions struct {
	// Mail holds the MAIL FROM parameters; nil means none.
	Mail *smtp.MailOptions
	// Rcpt holds the RCPT TO parameters of to[i] at index i; a missing or nil entry
	// means none.
	Rcpt []*smtp.RcptOptions
}

// SendMailOptions is [Client.SendMail] with ESMTP parameters; a nil opts is SendMail.
func (c *Client) SendMailOptions(ctx context.Context, from string, to []string, r io.Reader, opts *MessageOptions) error {
	if c.conn != nil {
		stop := closeOnDone(ctx, c.conn)
		defer stop()
	}
	var o MessageOptions
	if opts != nil {
		o = *opts
	}
	if err := c.Mail(from, o.Mail); err != nil {
		return ctxErr(ctx, c.sendError("MAIL FROM", err))
	}
	for i, rcpt := range to {
		var ro *smtp.RcptOptions
		if i < len(o.Rcpt) {
			ro = o.Rcpt[i]
		}
		if err := c.Rcpt(rcpt, ro); err != nil {
			return ctxErr(ctx, c.sendError("RCPT TO", err))
		}
	}
	w, err := c.Data()
	if err != nil {
		return ctxErr(ctx, c.sendError("DATA", err))
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Close()
		return ctxErr(ctx, fmt.Errorf("smtpauth: writing message: %w", err))
	}
	if err := w.Close(); err != nil {
		return ctxErr(ctx, c.sendError("DATA", err))
	}
	return nil
}

// SendMail dials addr with STARTTLS ([DialStartTLS]; the submission port 587),
// authenticates, sends one message and quits. For implicit TLS (port 465) use [DialTLS]
// and [Client.SendMail].
func SendMail(ctx context.Context, addr string, opts *Options, from string, to []string, r io.Reader) error {
	c, err := DialStartTLS(ctx, addr, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail(ctx, from, to, r); err != nil {
		return err
	}
	_ = c.Quit()
	return nil
}

// NewXOAuth2Client returns a go-sasl client for XOAUTH2 that fetches a token from src in
// Start, never sends an initial response (so no AUTH line exceeds 512 octets) and
// answers an error challenge with the empty response. For (*smtp.Client).Auth when
// the dialers do not fit; note that go-smtp's Auth answers a final failure with a stray
// "*" line, which the dialers and [NewClient] never send. Single-use; no I/O until Start.
func NewXOAuth2Client(mailbox string, src oauth2.TokenSource) gosasl.Client {
	return sasl.NewClient(sasl.ClientOptions{Mechanism: XOAuth2, Mailbox: mailbox, Source: src, NoInitialResponse: true})
}

// closeOnDone closes conn when ctx ends (go-smtp has no contexts and resets deadlines
// on every command). stop unregisters.
func closeOnDone(ctx context.Context, conn net.Conn) (stop func()) {
	unregister := context.AfterFunc(ctx, func() { conn.Close() })
	return func() { unregister() }
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

// String describes the client without its token.
func (c *Client) String() string {
	return "smtpauth.Client(" + c.mech + " " + c.identity.String() + ")"
}

// GoString is like String, so %#v never shows the token either.
func (c *Client) GoString() string { return c.String() }
