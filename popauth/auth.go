package popauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/internal/core/sasl"
	"github.com/modernauth/mailauth/internal/core/tlsconf"
)

// Mechanism names.
const (
	XOAuth2     = sasl.XOAuth2
	OAuthBearer = sasl.OAuthBearer
)

// SASLClient is a client-side SASL mechanism. Its method set is the one of
// github.com/emersion/go-sasl's Client, so those mechanisms can be passed to
// [Client.Auth] directly. Start returns the mechanism name and the initial
// response (nil: none); Next answers a server challenge.
type SASLClient interface {
	Start() (mech string, ir []byte, err error)
	Next(challenge []byte) (response []byte, err error)
}

// maxSASLRounds stops a server that keeps sending challenges.
const maxSASLRounds = 8

// Auth runs one SASL exchange (RFC 5034) with mech. It never sends an
// initial response on the AUTH line: it sends "AUTH <mech>", waits for the
// server's "+", then sends the initial response. When mech.Next fails, the
// exchange is cancelled with "*" and the server's reply is read, so the
// session stays usable.
//
// Auth does not check for TLS and does no probe; [Client.Authenticate] does.
// The returned error is an [*Error] for the server's -ERR, or the error of
// mech.
func (c *Client) Auth(ctx context.Context, mech SASLClient) error {
	if err := c.prepare(ctx); err != nil {
		return err
	}
	name, ir, err := mech.Start()
	if err != nil {
		return err
	}
	if name == "" || strings.ContainsAny(name, " \r\n") {
		return fmt.Errorf("popauth: AUTH: bad mechanism name %q", name)
	}
	stop := c.watch(ctx)
	defer stop()
	if err := c.writeLine(ctx, "AUTH", "AUTH "+name); err != nil {
		return err
	}
	first := true
	for round := 0; ; round++ {
		r, err := c.readReply(ctx, "AUTH")
		if err != nil {
			return err
		}
		switch r.kind {
		case replyOK:
			return nil
		case replyErr:
			return &Error{Command: "AUTH", Code: r.code, Text: r.text}
		}
		if round >= maxSASLRounds {
			return c.abortAuth(ctx, errors.New("popauth: AUTH: too many server challenges"))
		}
		challenge, derr := base64.StdEncoding.DecodeString(r.text)
		if derr != nil {
			return c.abortAuth(ctx, fmt.Errorf("popauth: AUTH: %w: challenge is not base64", ErrMalformedReply))
		}
		var resp []byte
		if first && ir != nil {
			resp = ir
		} else {
			resp, err = mech.Next(challenge)
			if err != nil {
				return c.abortAuth(ctx, err)
			}
		}
		first = false
		if err := c.writeLine(ctx, "AUTH", base64.StdEncoding.EncodeToString(resp)); err != nil {
			return err
		}
	}
}

// abortAuth cancels a SASL exchange with "*" and reads the server's reply.
func (c *Client) abortAuth(ctx context.Context, cause error) error {
	if err := c.writeLine(ctx, "AUTH", "*"); err != nil {
		return errors.Join(cause, err)
	}
	r, err := c.readReply(ctx, "AUTH")
	if err != nil {
		return errors.Join(cause, err)
	}
	if r.kind == replyContinue {
		c.broken = true
	}
	return cause
}

// Authenticate logs in as mailbox (the mailbox to open) with a token from
// src, using [Options.Mechanism]. On a connection that is not TLS it refuses,
// before fetching a token, with an error wrapping [mailauth.ErrInsecure], unless
// [Options.InsecureAllowPlaintext] is set and the server is on loopback.
//
// If src passes ctx on (a TokenContext(ctx) method), ctx reaches the token
// fetch. When the server rejects the token and src has an
// Invalidate(*oauth2.Token) method, the token is invalidated, a fresh one is
// fetched and the login is retried once. After the login it sends STAT; a
// failure there is a [*mailauth.MailboxAccessError]. A rejected login is a
// [*mailauth.AuthError].
func (c *Client) Authenticate(ctx context.Context, mailbox string, src oauth2.TokenSource) error {
	username := mailbox
	if !c.secure {
		if !c.opts.InsecureAllowPlaintext {
			return fmt.Errorf("popauth: %w (use DialTLS or DialStartTLS, or set Options.InsecureAllowPlaintext for a test server on loopback)", mailauth.ErrInsecure)
		}
		if err := tlsconf.CheckInsecure("popauth: Options.InsecureAllowPlaintext", c.conn.RemoteAddr().String()); err != nil {
			return err
		}
	}
	if src == nil {
		return errors.New("popauth: Authenticate: nil token source")
	}
	if err := checkUsername(username); err != nil {
		return err
	}
	if c.broken {
		return ErrBroken
	}
	if c.mech != "" {
		return errors.New("popauth: Authenticate: the session is already logged in")
	}
	mech, err := c.chooseMechanism()
	if err != nil {
		return err
	}

	tok, err := fetchToken(ctx, src)
	if err != nil {
		return err
	}
	aerr := c.authOnce(ctx, mech, username, tok)
	if aerr != nil && retryable(aerr) && !c.broken {
		if inv, ok := src.(mailauth.Invalidator); ok {
			if c.opts.Logger != nil {
				c.opts.Logger.LogAttrs(ctx, slog.LevelDebug, "pop3 login rejected; retrying once with a fresh token",
					slog.String("mechanism", mech), slog.String("user", username))
			}
			inv.Invalidate(tok)
			tok, err = fetchToken(ctx, src)
			if err != nil {
				return errors.Join(aerr, err)
			}
			aerr = c.authOnce(ctx, mech, username, tok)
			if ae, ok := aerr.(*mailauth.AuthError); ok {
				ae.Retried = true
				if retryable(aerr) {
					// Drop the second rejected token too, so the next caller
					// does not get it from the cache; do not try a third.
					inv.Invalidate(tok)
				}
			}
		}
	}
	if aerr != nil {
		return aerr
	}
	c.expiry = tok.Expiry
	c.mech = mech
	if c.opts.NoProbe {
		return nil
	}
	if _, _, err := c.Stat(ctx); err != nil {
		mae := &mailauth.MailboxAccessError{Protocol: "POP3", Mailbox: username, Identity: mailauth.ParseIdentity(tok.AccessToken), Err: err}
		var pe *Error
		if errors.As(err, &pe) {
			mae.Code, mae.ServerText = pe.Code, pe.Text
		}
		return mae
	}
	return nil
}

// chooseMechanism picks OAUTHBEARER when it was asked for and is
// advertised, else XOAUTH2. A server whose CAPA has no SASL line gets
// XOAUTH2; one whose SASL line lists neither gets ErrNoMechanism.
func (c *Client) chooseMechanism() (string, error) {
	want := c.opts.mechanism()
	if want != XOAuth2 && want != OAuthBearer {
		return "", fmt.Errorf("popauth: unknown mechanism %q (want XOAUTH2 or OAUTHBEARER)", c.opts.Mechanism)
	}
	list, listed := c.caps["SASL"]
	switch {
	case !listed:
		return XOAuth2, nil
	case want == OAuthBearer && c.SupportsMechanism(OAuthBearer):
		return OAuthBearer, nil
	case c.SupportsMechanism(XOAuth2):
		return XOAuth2, nil
	case c.SupportsMechanism(OAuthBearer):
		return OAuthBearer, nil
	}
	if len(list) == 0 {
		return "", fmt.Errorf("%w: the server lists no SASL mechanism on this connection (some servers, such as Dovecot, list them only after TLS)", ErrNoMechanism)
	}
	return "", fmt.Errorf("%w: the server offers only %q", ErrNoMechanism, strings.Join(list, " "))
}

// retryable reports whether a failed login may succeed with a fresh token:
// the server blamed the credentials, not a temporary condition.
func retryable(err error) bool {
	var ae *mailauth.AuthError
	if !errors.As(err, &ae) {
		return false
	}
	var pe *Error
	if !errors.As(ae.Err, &pe) || errors.Is(ae.Err, sasl.ErrLongResponse) {
		return false
	}
	switch strings.ToUpper(pe.Code) {
	case CodeSysTemp, CodeSysPerm, CodeInUse, CodeLoginDelay:
		return false
	}
	return true
}

func fetchToken(ctx context.Context, src oauth2.TokenSource) (*oauth2.Token, error) {
	tok, err := mailauth.TokenContext(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("popauth: %w", err)
	}
	return tok, nil
}

func (c *Client) authOnce(ctx context.Context, mech, username string, tok *oauth2.Token) error {
	port := 0
	if _, p, err := net.SplitHostPort(c.conn.RemoteAddr().String()); err == nil {
		port, _ = strconv.Atoi(p)
	}
	m := sasl.NewClient(sasl.ClientOptions{
		Mechanism:         mech,
		Mailbox:           username,
		Host:              c.host,
		Port:              port,
		Token:             tok,
		NoInitialResponse: true, // POP3 always in two steps: AUTH, "+", payload
	})
	err := c.Auth(ctx, m)
	if err == nil {
		return nil
	}
	var pe *Error
	isPOP := errors.As(err, &pe)
	if !isPOP && !isIOErr(err) {
		return err
	}
	ae := &mailauth.AuthError{
		Protocol:  "POP3",
		Mechanism: mech,
		Mailbox:   username,
		Challenge: m.Challenge(),
		Identity:  mailauth.ParseIdentity(tok.AccessToken),
		Err:       err,
	}
	if isPOP {
		ae.Code, ae.ServerText = pe.Code, pe.Text
	} else {
		ae.ServerText = "connection ended without a reply (" + err.Error() + ")"
	}
	ae.Hint = authHint(ae, pe)
	if h := m.SizeHint(); h != "" {
		ae.Hint, ae.Err = h, fmt.Errorf("%w: %w", sasl.ErrLongResponse, err)
	}
	return ae
}

// authHint names the usual causes of a failed login in plain words.
func authHint(ae *mailauth.AuthError, pe *Error) string {
	if pe == nil {
		return "the server closed the connection without a reply; with a valid token this usually means the mailbox does not exist on this server"
	}
	switch {
	case pe.Temporary(), strings.EqualFold(pe.Code, CodeSysPerm):
		return pe.Hint()
	case strings.Contains(strings.ToLower(pe.Text), "protocol error"):
		return "the server did not accept the SASL exchange; this is a client bug, please report it"
	case strings.Contains(strings.ToLower(pe.Text), "plaintext authentication"):
		return "the server refuses logins before TLS; use DialTLS (port 995) or DialStartTLS"
	}
	return sasl.DefaultHint(ae.Identity, ae.Mailbox)
}

func isIOErr(err error) bool {
	return !errors.Is(err, ErrMalformedReply) && !errors.Is(err, context.Canceled) &&
		!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, sasl.ErrTooManyChallenges)
}

func checkUsername(u string) error {
	if err := sasl.ValidateUsername(u); err != nil {
		return fmt.Errorf("%w: empty or contains a control character (set the mailbox address)", ErrBadUsername)
	}
	if strings.Contains(u, `\`) {
		return fmt.Errorf(`%w: the "delegate\mailbox" form is retired; put the shared mailbox's address in Options.Mailbox and use the delegate's token`, ErrBadUsername)
	}
	return nil
}
