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
	var ae *mailauth.AuthError
	if err != nil && errors.As(err, &ae) && ctx.Err() == nil && !errors.Is(err, sasl.ErrLongResponse) && mailauth.Invalidate(o.Token, tok) {
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
	tok, err := mailauth.TokenContext(ctx, o.Token)
	if err != nil {
		return nil, nil, fmt.Errorf("imapauth: %w", err)
	}
	sc := sasl.NewClient(sasl.ClientOptions{Mechanism: mech, Mailbox: o.Mailbox, Host: o.host, Port: o.port, Token: tok})
	o.log("imapauth: authenticating", "mechanism", mech, "mailbox", o.Mailbox, "sasl_ir", caps.Has(imap.CapSASLIR), "retry", retried)
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
		ae := &mailauth.AuthError{
			Protocol: "IMAP", Mechanism: mech, Mailbox: o.Mailbox, Challenge: sc.Challenge(),
			Identity: sc.Identity(), Retried: retried, Hint: sasl.DefaultHint(sc.Identity(), o.Mailbox), Err: err,
		}
		var ie *imap.Error
		if errors.As(err, &ie) {
			ae.Code, ae.ServerText = string(ie.Code), ie.Text
		} else {
			ae.ServerText = "connection ended without a reply (" + err.Error() + ")"
			if bw != nil && bw.text() != "" {
				ae.ServerText = "* BYE " + bw.text()
			}
			ae.Hint = "the server closed the connection during authentication; Dovecot does this when the token is valid but the user has no mailbox. " + ae.Hint
		}
		if h := sc.SizeHint(); h != "" {
			ae.Hint, ae.Err = h, fmt.Errorf("%w: %w", sasl.ErrLongResponse, err)
		}
		return nil, tok, ae
	}
	if o.NoProbe {
		return conn, tok, nil
	}
	err = run(ctx, c, func() error { _, err := c.List("", "", nil).Collect(); return err })
	if err != nil {
		if ctx.Err() != nil {
			return nil, tok, fmt.Errorf("imapauth: probing the session: %w", ctx.Err())
		}
		var ie *imap.Error
		if errors.As(err, &ie) && strings.Contains(strings.ToLower(ie.Text), "not connected") {
			return nil, tok, &mailauth.MailboxAccessError{Protocol: "IMAP", Mailbox: o.Mailbox, Identity: sc.Identity(),
				Code: string(ie.Type), ServerText: ie.Text, Err: err}
		}
		if err := conn.Err(err); errors.Is(err, ErrTokenExpired) {
			return nil, tok, err
		}
		return nil, tok, fmt.Errorf("imapauth: probe LIST \"\" \"\" after authentication failed: %w", err)
	}
	return conn, tok, nil
}

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
