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
	"github.com/modernauth/mailauth/internal/core/sasl"
)

// Mechanism names for Options.Mechanism.
const (
	XOAuth2     = sasl.XOAuth2
	OAuthBearer = sasl.OAuthBearer
)

// MaxCommandLine is the SMTP AUTH command line limit of RFC 4954 §4, CRLF included. An
// initial response is sent only while the AUTH line stays within it.
const MaxCommandLine = 512

// Options configures [Dial], [Authenticate] and [SendMail]. Token and Username are
// required. Options are copied on entry and not retained.
type Options struct {
	// Token supplies access tokens; TokenContext and Invalidate are used when present.
	Token oauth2.TokenSource
	// Username is the XOAUTH2 user= (OAUTHBEARER a=): the mailbox that authenticates —
	// the token's user for delegated tokens, or the mailbox to send from for app-only
	// tokens. To send as a shared mailbox, authenticate as the delegate and set the
	// From address; the delegate needs SendAs on it.
	Username string
	// Mechanism is XOAuth2 (the default) or OAuthBearer (used only when advertised).
	Mechanism string
	// TLSConfig for the handshake; nil means system roots and the address's host name.
	// It is cloned, never modified.
	TLSConfig *tls.Config
	// InsecureAllowPlaintext allows sending the token over a connection that is not TLS.
	// Only for tests against local servers.
	InsecureAllowPlaintext bool
	// Dialer dials the TCP connection; nil means a zero net.Dialer.
	Dialer *net.Dialer
	// Logger receives one line per authentication attempt and retry; nil is silent.
	Logger *slog.Logger

	host string
	port int
}

func (o *Options) validate() error {
	if o == nil {
		return errors.New("smtpauth: Options are required (Token and Username)")
	}
	if o.Token == nil {
		return errors.New("smtpauth: Options.Token must be set")
	}
	if o.Username == "" {
		return errors.New("smtpauth: Options.Username must be set")
	}
	if strings.Contains(o.Username, `\`) {
		return errors.New(`smtpauth: the "delegate\shared" user form is not supported by Exchange Online: authenticate as the delegate and send with the shared address as From (the delegate needs SendAs)`)
	}
	if sasl.ValidateUsername(o.Username) != nil {
		return errors.New("smtpauth: Options.Username contains a control character")
	}
	switch strings.ToUpper(o.Mechanism) {
	case "", XOAuth2, OAuthBearer:
	default:
		return errors.New("smtpauth: Options.Mechanism must be XOAUTH2 or OAUTHBEARER")
	}
	return nil
}

func (o *Options) log(msg string, args ...any) {
	if o.Logger != nil {
		o.Logger.Debug(msg, args...)
	}
}

// Client is an authenticated SMTP connection: a go-smtp *smtp.Client plus what smtpauth
// learnt while authenticating. Like smtp.Client it is not safe for concurrent use.
type Client struct {
	*smtp.Client

	conn     net.Conn
	mech     string
	identity Identity
	expiry   time.Time
}

// Mechanism returns the SASL mechanism used.
func (c *Client) Mechanism() string { return c.mech }

// Identity returns the claims of the token used, decoded without verification.
func (c *Client) Identity() Identity { return c.identity }

// TokenExpiry returns when the token used expires (zero if unknown).
func (c *Client) TokenExpiry() time.Time { return c.expiry }

// Dial connects to addr and authenticates: with implicit TLS when the port is 465, with
// STARTTLS otherwise (587, 25). ctx bounds the dial, handshakes, token fetch and AUTH. On
// error nothing is left open.
func Dial(ctx context.Context, addr string, opts *Options) (*Client, error) {
	_, port, _ := net.SplitHostPort(addr)
	return dial(ctx, addr, opts, port == "465")
}

// DialStartTLS is like [Dial] but always uses STARTTLS.
func DialStartTLS(ctx context.Context, addr string, opts *Options) (*Client, error) {
	return dial(ctx, addr, opts, false)
}

// DialTLS is like [Dial] but always uses implicit TLS.
func DialTLS(ctx context.Context, addr string, opts *Options) (*Client, error) {
	return dial(ctx, addr, opts, true)
}

func dial(ctx context.Context, addr string, opts *Options, implicit bool) (*Client, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	o := *opts
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("smtpauth: bad address %q: %w", addr, err)
	}
	o.host = host
	o.port, _ = strconv.Atoi(port)
	c, conn, err := connect(ctx, addr, &o, implicit)
	if err != nil {
		return nil, err
	}
	cl, tok, err := authOnce(ctx, &o, c, conn, false)
	var ae *AuthError
	if err != nil && errors.As(err, &ae) && ctx.Err() == nil && retryable(ae) && mailauth.Invalidate(o.Token, tok) {
		c.Close()
		o.log("smtpauth: token refused; invalidated it, retrying once with a fresh token on a new connection", "user", o.Username)
		if c, conn, err = connect(ctx, addr, &o, implicit); err != nil {
			return nil, err
		}
		cl, _, err = authOnce(ctx, &o, c, conn, true)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return cl, nil
}

// retryable: a fresh token cannot help when SMTP AUTH itself is switched off.
func retryable(ae *AuthError) bool {
	return !errors.Is(ae, ErrSMTPAuthDisabled) && !errors.Is(ae, ErrBasicAuthDisabled)
}

func tlsConfig(o *Options) *tls.Config {
	var c *tls.Config
	if o.TLSConfig != nil {
		c = o.TLSConfig.Clone()
	} else {
		c = &tls.Config{}
	}
	if c.ServerName == "" {
		c.ServerName = o.host
	}
	return c
}

func connect(ctx context.Context, addr string, o *Options, implicit bool) (*smtp.Client, net.Conn, error) {
	d := o.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("smtpauth: dialing %s: %w", addr, err)
	}
	stop := closeOnDone(ctx, raw)
	defer stop()
	var c *smtp.Client
	if implicit {
		tc := tls.Client(raw, tlsConfig(o))
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, nil, fmt.Errorf("smtpauth: TLS handshake with %s: %w", addr, err)
		}
		c = smtp.NewClient(tc)
	} else {
		// NewClientStartTLS fails when STARTTLS is not offered or fails: never
		// continues in plaintext.
		c, err = smtp.NewClientStartTLS(raw, tlsConfig(o))
		if err != nil {
			raw.Close()
			return nil, nil, ctxErr(ctx, fmt.Errorf("smtpauth: STARTTLS with %s: %w", addr, err))
		}
	}
	return c, raw, nil
}

// Authenticate authenticates an existing go-smtp client. It refuses unless the client's
// connection is TLS (c.TLSConnectionState) or opts.InsecureAllowPlaintext is set. After a
// refused token it retries once on the same connection with a fresh token when the source
// can invalidate. ctx bounds the exchange only if conn is given (the connection c was
// created over; go-smtp does not expose it): it is closed when ctx ends. conn may be nil.
func Authenticate(ctx context.Context, c *smtp.Client, conn net.Conn, opts *Options) (*Client, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	o := *opts
	if conn != nil {
		h, p, _ := net.SplitHostPort(conn.RemoteAddr().String())
		o.host = h
		o.port, _ = strconv.Atoi(p)
	}
	cl, tok, err := authOnce(ctx, &o, c, conn, false)
	var ae *AuthError
	if err != nil && errors.As(err, &ae) && ctx.Err() == nil && retryable(ae) && mailauth.Invalidate(o.Token, tok) {
		o.log("smtpauth: token refused; invalidated it, retrying once with a fresh token", "user", o.Username)
		cl, _, err = authOnce(ctx, &o, c, conn, true)
	}
	return cl, err
}

func authOnce(ctx context.Context, o *Options, c *smtp.Client, conn net.Conn, retried bool) (*Client, *oauth2.Token, error) {
	if conn != nil {
		stop := closeOnDone(ctx, conn)
		defer stop()
	}
	if _, ok := c.TLSConnectionState(); !ok && !o.InsecureAllowPlaintext {
		return nil, nil, ErrInsecureConnection
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
	long := authLineLen(mech, o, tok.AccessToken) > MaxCommandLine
	sc := sasl.NewClient(sasl.ClientOptions{Mechanism: mech, Mailbox: o.Username, Host: o.host, Port: o.port, Token: tok, NoInitialResponse: long})
	o.log("smtpauth: authenticating", "mechanism", mech, "user", o.Username, "initial_response", !long, "retry", retried)
	err = c.Auth(sc)
	if err == nil {
		return &Client{Client: c, conn: conn, mech: mech, identity: sc.Identity(), expiry: sc.Expiry()}, tok, nil
	}
	if ctx.Err() != nil {
		return nil, tok, fmt.Errorf("smtpauth: authenticating: %w", ctx.Err())
	}
	return nil, tok, authError(err, sc, mech, o.Username, retried)
}

func authError(err error, sc *sasl.Client, mech, user string, retried bool) error {
	ae := &AuthError{Protocol: "SMTP", Mechanism: mech, Mailbox: user, Challenge: sc.Challenge(),
		Identity: sc.Identity(), Retried: retried, Err: err}
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		if errors.Is(err, sasl.ErrTooManyChallenges) {
			ae.ServerText = "server kept challenging"
		} else {
			ae.ServerText = "connection ended without a reply (" + err.Error() + ")"
		}
		ae.Hint = sasl.DefaultHint(ae.Identity, user)
		return ae
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
		hint = sasl.DefaultHint(ae.Identity, user)
	}
	ae.Hint = hint
	return ae
}

// authLineLen is the length of "AUTH <mech> <base64 payload>\r\n".
func authLineLen(mech string, o *Options, token string) int {
	var p []byte
	if mech == OAuthBearer {
		p, _ = sasl.OAuthBearerPayload(o.Username, o.host, o.port, token)
	} else {
		p, _ = sasl.XOAuth2Payload(o.Username, token)
	}
	return len("AUTH ") + len(mech) + 1 + base64.StdEncoding.EncodedLen(len(p)) + 2
}

// SendMail sends one message: MAIL FROM, RCPT TO for each of to, DATA with r. ctx bounds
// it (the connection is closed if ctx ends first, and the Client is unusable then).
// Refusals become [*SendError].
func (c *Client) SendMail(ctx context.Context, from string, to []string, r io.Reader) error {
	if c.conn != nil {
		stop := closeOnDone(ctx, c.conn)
		defer stop()
	}
	if err := c.Mail(from, nil); err != nil {
		return ctxErr(ctx, sendError("MAIL FROM", err))
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return ctxErr(ctx, sendError("RCPT TO", err))
		}
	}
	w, err := c.Data()
	if err != nil {
		return ctxErr(ctx, sendError("DATA", err))
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Close()
		return ctxErr(ctx, fmt.Errorf("smtpauth: writing message: %w", err))
	}
	if err := w.Close(); err != nil {
		return ctxErr(ctx, sendError("DATA", err))
	}
	return nil
}

// SendMail dials addr (see [Dial]), authenticates, sends one message and quits.
func SendMail(ctx context.Context, addr string, opts *Options, from string, to []string, r io.Reader) error {
	c, err := Dial(ctx, addr, opts)
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
// [Authenticate] does not fit. Single-use; no I/O until Start.
func NewXOAuth2Client(username string, src oauth2.TokenSource) gosasl.Client {
	return sasl.NewClient(sasl.ClientOptions{Mechanism: XOAuth2, Mailbox: username, Source: src, NoInitialResponse: true})
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
