package imapauth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	gosasl "github.com/emersion/go-sasl"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/internal/core/sasl"
	"github.com/modernauth/mailauth/internal/core/tlsconf"
)

// NewXOAuth2Client returns a go-sasl client for XOAUTH2 that fetches a token from src in
// Start and answers an error challenge with the empty response, for use with
// (*imapclient.Client).Authenticate or go-smtp's (*smtp.Client).Auth when the helpers of
// this package do not fit. mailbox is the XOAUTH2 user=. The client is single-use. It
// does no I/O until Start.
func NewXOAuth2Client(mailbox string, src oauth2.TokenSource) gosasl.Client {
	return sasl.NewClient(sasl.ClientOptions{Mechanism: XOAuth2, Mailbox: mailbox, Source: src})
}

// NewOAuthBearerClient returns a go-sasl client for OAUTHBEARER (RFC 7628) that fetches a
// token from src in Start and answers an error challenge with 0x01. host and port should
// describe the connection in use. The client is single-use. It does no I/O until Start.
func NewOAuthBearerClient(mailbox, host string, port int, src oauth2.TokenSource) gosasl.Client {
	return sasl.NewClient(sasl.ClientOptions{Mechanism: OAuthBearer, Mailbox: mailbox, Host: host, Port: port, Source: src})
}

// Authenticate authenticates an existing client (created with imapclient.New over
// opts.Conn, greeting received, not yet authenticated) and probes the session. It
// refuses unless opts.Conn is a *tls.Conn or opts.InsecureAllowPlaintext is set. After a
// refused token it retries once on the same connection with a fresh token, when the
// source can invalidate and the connection is still open. ctx bounds the whole exchange.
// When the exchange fails (or ctx ends first) c is closed; refusals before anything is
// sent (an error wrapping [mailauth.ErrInsecure], invalid Options) leave c open. "* BYE"
// detection ([Conn.TokenExpired]) is available only on connections dialled by [DialTLS]
// or [DialStartTLS], and so is one wire fix: on a
// client it did not dial, the empty answer to an XOAUTH2 error challenge goes out as
// go-imap writes it, "=" instead of an empty line (Dovecot accepts either).
func Authenticate(ctx context.Context, c *imapclient.Client, opts *Options) (*Conn, error) {
	o, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	tc, ok := o.Conn.(*tls.Conn)
	if !ok {
		peer := "an unknown peer (Options.Conn is nil)"
		if o.Conn != nil {
			peer = o.Conn.RemoteAddr().String()
		}
		if err := checkPlaintext(&o.Options, peer); err != nil {
			return nil, err
		}
	}
	if o.Conn != nil {
		o.host, o.port = splitAddr(o.Conn.RemoteAddr())
	}
	if ok && tc.ConnectionState().ServerName != "" {
		o.host = tc.ConnectionState().ServerName
	}
	used := false
	connect := func() (*imapclient.Client, *byeWatcher, bool, error) {
		if used {
			if c.State() != imap.ConnStateNotAuthenticated {
				return nil, nil, false, errors.New("imapauth: connection closed by the server; cannot retry on it")
			}
		}
		used = true
		return c, nil, true, nil
	}
	return authenticateWith(ctx, o, connect)
}

// checkPlaintext refuses a connection that is not TLS unless the caller allowed
// plaintext and the peer is on loopback.
func checkPlaintext(o *Options, peer string) error {
	if !o.InsecureAllowPlaintext {
		return fmt.Errorf("imapauth: %w (set Options.InsecureAllowPlaintext only for tests on loopback)", mailauth.ErrInsecure)
	}
	return tlsconf.CheckInsecure("imapauth: Options.InsecureAllowPlaintext", peer)
}

type connectFunc func() (*imapclient.Client, *byeWatcher, bool, error)

// authenticateWith runs one authentication and, after a refused token that the source
// could invalidate, exactly one more with a fresh token.
func authenticateWith(ctx context.Context, o *config, connect connectFunc) (*Conn, error) {
	c, bw, secure, err := connect()
	if err != nil {
		return nil, err
	}
	if !secure {
		if err := checkPlaintext(&o.Options, "the server"); err != nil {
			c.Close()
			return nil, err
		}
	}
	conn, tok, err := authOnce(ctx, o, c, bw, false)
	if retryWithFreshToken(ctx, o, err, tok) {
		o.log("imapauth: token refused; invalidated it, retrying once with a fresh token", "mailbox", o.Mailbox)
		if c.State() != imap.ConnStateNotAuthenticated {
			c.Close()
			if c, bw, _, err = connect(); err != nil {
				return nil, err
			}
		}
		conn, _, err = authOnce(ctx, o, c, bw, true)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return conn, nil
}

// authOnce runs CAPABILITY (if needed), AUTHENTICATE and the probe on c. On a
// connection imapauth dialled, a server that sent more than the byte budget
// gets an error wrapping mailauth.ErrLineTooLong; on success the budget is
// lifted.
func authOnce(ctx context.Context, o *config, c *imapclient.Client, bw *byeWatcher, retried bool) (*Conn, *oauth2.Token, error) {
	conn, tok, err := authSteps(ctx, o, c, bw, retried)
	if bw != nil && bw.budget != nil {
		if err != nil {
			return nil, tok, bw.budget.Check("imapauth", err)
		}
		bw.budget.Disarm()
	}
	return conn, tok, err
}

func authSteps(ctx context.Context, o *config, c *imapclient.Client, bw *byeWatcher, retried bool) (*Conn, *oauth2.Token, error) {
	var caps imap.CapSet
	if err := run(ctx, c, func() error { caps = c.Caps(); return nil }); err != nil {
		return nil, nil, fmt.Errorf("imapauth: reading capabilities: %w", err)
	}
	mech := chooseMechanism(caps, o.Mechanism)
	if mech == "" {
		return nil, nil, ErrNoOAuthMechanism
	}
	sc, tok, err := newSASLClient(ctx, o, mech, caps, retried)
	if err != nil {
		return nil, nil, err
	}
	if bw != nil {
		bw.inSASL.Store(true)
	}
	err = run(ctx, c, func() error { return c.Authenticate(sc) })
	if bw != nil {
		bw.inSASL.Store(false)
	}
	conn := &Conn{Client: c, mech: mech, identity: sc.Identity(), expiry: sc.Expiry(), tok: tok, bye: bw}
	if err != nil {
		if ctx.Err() != nil {
			return nil, tok, fmt.Errorf("imapauth: authenticating: %w", ctx.Err())
		}
		bye := ""
		if bw != nil {
			bye = bw.text()
		}
		return nil, tok, authFailure(o, mech, sc, retried, err, bye)
	}
	if o.NoProbe {
		return conn, tok, nil
	}
	err = run(ctx, c, func() error { _, err := c.List("", "", nil).Collect(); return err })
	if err != nil {
		if ctx.Err() != nil {
			return nil, tok, fmt.Errorf("imapauth: probing the session: %w", ctx.Err())
		}
		perr := probeFailure(o, sc.Identity(), err)
		var mae *mailauth.MailboxAccessError
		if !errors.As(perr, &mae) {
			if err := conn.Err(err); errors.Is(err, ErrTokenExpired) {
				return nil, tok, err
			}
		}
		return nil, tok, perr
	}
	return conn, tok, nil
}

// The rules below are shared by the imapclient path and [RawConn]; write each once.

// retryWithFreshToken reports whether a failed attempt may be retried, once, with a fresh
// token: the server refused the token (an AuthError, not a dropped long response), ctx
// is alive, and the source could invalidate tok (which it now has).
func retryWithFreshToken(ctx context.Context, o *config, err error, tok *oauth2.Token) bool {
	var ae *mailauth.AuthError
	return err != nil && errors.As(err, &ae) && ctx.Err() == nil && !errors.Is(err, sasl.ErrLongResponse) && mailauth.Invalidate(o.Token, tok)
}

// newSASLClient fetches a token and returns the SASL client for one AUTHENTICATE with
// mech. Start returns the payload as the initial response; it goes on the AUTHENTICATE
// line only when useSASLIR allows (go-imap and RawConn both follow that rule).
func newSASLClient(ctx context.Context, o *config, mech string, caps imap.CapSet, retried bool) (*sasl.Client, *oauth2.Token, error) {
	tok, err := mailauth.TokenContext(ctx, o.Token)
	if err != nil {
		return nil, nil, fmt.Errorf("imapauth: %w", err)
	}
	ir := useSASLIR(caps)
	o.log("imapauth: authenticating", "mechanism", mech, "mailbox", o.Mailbox, "sasl_ir", ir, "retry", retried)
	sc := sasl.NewClient(sasl.ClientOptions{Mechanism: mech, Mailbox: o.Mailbox, Host: o.host, Port: o.port, Token: tok})
	return sc, tok, nil
}

// useSASLIR reports whether the payload goes out as an initial response on the
// AUTHENTICATE line (RFC 4959): only when the server advertises SASL-IR.
func useSASLIR(caps imap.CapSet) bool { return caps.Has(imap.CapSASLIR) }

// authFailure builds the AuthError of a failed AUTHENTICATE. err is an *imap.Error for a
// tagged NO or BAD, otherwise the I/O error; bye is the text of a "* BYE" seen, if any.
func authFailure(o *config, mech string, sc *sasl.Client, retried bool, err error, bye string) *mailauth.AuthError {
	ae := &mailauth.AuthError{
		Protocol: "IMAP", Mechanism: mech, Mailbox: o.Mailbox, Challenge: sc.Challenge(),
		Identity: sc.Identity(), Retried: retried, Hint: sasl.DefaultHint(sc.Identity(), o.Mailbox), Err: err,
	}
	var ie *imap.Error
	if errors.As(err, &ie) {
		ae.Code, ae.ServerText = string(ie.Code), ie.Text
	} else {
		ae.ServerText = "connection ended without a reply (" + err.Error() + ")"
		if bye != "" {
			ae.ServerText = "* BYE " + bye
		}
		ae.Hint = "the server closed the connection during authentication; Dovecot does this when the token is valid but the user has no mailbox. " + ae.Hint
	}
	if h := sc.SizeHint(); h != "" {
		ae.Hint, ae.Err = h, fmt.Errorf("%w: %w", sasl.ErrLongResponse, err)
	}
	return ae
}

// probeFailure classifies the failure of the LIST "" "" probe after a successful
// AUTHENTICATE: Exchange's "BAD User is authenticated but not connected." becomes a
// *mailauth.MailboxAccessError; anything else is wrapped as a probe failure.
func probeFailure(o *config, id mailauth.Identity, err error) error {
	var ie *imap.Error
	if errors.As(err, &ie) && strings.Contains(strings.ToLower(ie.Text), "not connected") {
		return &mailauth.MailboxAccessError{Protocol: "IMAP", Mailbox: o.Mailbox, Identity: id,
			Code: string(ie.Type), ServerText: ie.Text, Err: err}
	}
	return fmt.Errorf("imapauth: probe LIST \"\" \"\" after authentication failed: %w", err)
}

// chooseMechanism picks OAUTHBEARER when asked for and advertised, else XOAUTH2 when
// advertised, else OAUTHBEARER when advertised; "" when neither is.
func chooseMechanism(caps imap.CapSet, want string) string {
	hasX := caps.Has(imap.AuthCap(XOAuth2))
	hasB := caps.Has(imap.AuthCap(OAuthBearer))
	switch {
	case strings.EqualFold(want, OAuthBearer) && hasB:
		return OAuthBearer
	case hasX:
		return XOAuth2
	case hasB:
		return OAuthBearer
	}
	return ""
}

func splitAddr(a net.Addr) (string, int) {
	if a == nil {
		return "", 0
	}
	h, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return "", 0
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

// run calls f, closing c if ctx ends first (go-imap has no contexts), and waits for f.
func run(ctx context.Context, c *imapclient.Client, f func() error) error {
	if ctx.Done() == nil {
		return f()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		c.Close()
		<-done
		return ctx.Err()
	}
}
