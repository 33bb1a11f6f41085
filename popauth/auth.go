package popauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"golang.org/x/oauth2"
)

// Mechanism names.
const (
	XOAuth2     = "XOAUTH2"
	OAuthBearer = "OAUTHBEARER"
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

type contextTokenSource interface {
	TokenContext(ctx context.Context) (*oauth2.Token, error)
}

type invalidator interface {
	Invalidate(tok *oauth2.Token)
}

func fetchToken(ctx context.Context, src oauth2.TokenSource) (*oauth2.Token, error) {
	var (
		tok *oauth2.Token
		err error
	)
	if cs, ok := src.(contextTokenSource); ok {
		tok, err = cs.TokenContext(ctx)
	} else {
		tok, err = src.Token()
	}
	if err != nil {
		return nil, fmt.Errorf("popauth: fetching token: %w", err)
	}
	if tok == nil || tok.AccessToken == "" {
		return nil, errors.New("popauth: fetching token: the token source returned an empty token")
	}
	return tok, nil
}

// Authenticate logs in as username (the mailbox to open) with a token from
// src, using [Options.Mechanism]. It refuses with [ErrInsecure] on a
// connection that is not TLS (unless [Options.InsecureAllowPlaintext]),
// before fetching a token.
//
// If src passes ctx on (a TokenContext(ctx) method), ctx reaches the token
// fetch. When the server rejects the token and src has an
// Invalidate(*oauth2.Token) method, the token is invalidated, a fresh one is
// fetched and the login is retried once. After the login it sends STAT; a
// failure there is a [*ProbeError]. A rejected login is an [*AuthError].
func (c *Client) Authenticate(ctx context.Context, username string, src oauth2.TokenSource) error {
	if !c.secure && !c.opts.InsecureAllowPlaintext {
		return ErrInsecure
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
	mech := c.opts.mechanism()
	switch mech {
	case XOAuth2:
	case OAuthBearer:
		if !c.SupportsMechanism(OAuthBearer) {
			return fmt.Errorf("%w: OAUTHBEARER (the server offers %q)", ErrNoMechanism, strings.Join(c.caps["SASL"], " "))
		}
	default:
		return fmt.Errorf("popauth: unknown mechanism %q (want XOAUTH2 or OAUTHBEARER)", c.opts.Mechanism)
	}

	tok, err := fetchToken(ctx, src)
	if err != nil {
		return err
	}
	aerr := c.authOnce(ctx, mech, username, tok)
	if aerr != nil && retryable(aerr) && !c.broken {
		if inv, ok := src.(invalidator); ok {
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
			if ae, ok := aerr.(*AuthError); ok {
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
	if _, _, err := c.Stat(ctx); err != nil {
		return &ProbeError{Username: username, Err: err}
	}
	return nil
}

// retryable reports whether a failed login may succeed with a fresh token:
// the server blamed the credentials, not a temporary condition.
func retryable(err error) bool {
	var ae *AuthError
	if !errors.As(err, &ae) {
		return false
	}
	var pe *Error
	if !errors.As(ae.Err, &pe) {
		return false
	}
	switch strings.ToUpper(pe.Code) {
	case CodeSysTemp, CodeSysPerm, CodeInUse, CodeLoginDelay:
		return false
	}
	return true
}

func (c *Client) authOnce(ctx context.Context, mech, username string, tok *oauth2.Token) error {
	m := &oauthMech{name: mech, user: username, token: tok.AccessToken}
	err := c.Auth(ctx, m)
	m.token = ""
	if err == nil {
		return nil
	}
	var pe *Error
	if !errors.As(err, &pe) && !isIOErr(err) {
		return err
	}
	return &AuthError{
		Mechanism: mech,
		Username:  username,
		TokenUser: tokenUser(tok.AccessToken),
		Status:    m.failure.Status,
		Schemes:   m.failure.Schemes,
		Scope:     m.failure.Scope,
		Err:       err,
	}
}

func isIOErr(err error) bool {
	return !errors.Is(err, ErrMalformedReply) && !errors.Is(err, context.Canceled) &&
		!errors.Is(err, context.DeadlineExceeded)
}

func checkUsername(u string) error {
	if u == "" {
		return fmt.Errorf("%w: empty (set the mailbox address)", ErrBadUsername)
	}
	if strings.ContainsAny(u, "\r\n\x00\x01,=") {
		return fmt.Errorf("%w: contains a control character, ',' or '='", ErrBadUsername)
	}
	if strings.Contains(u, `\`) {
		return fmt.Errorf(`%w: the "delegate\mailbox" form is retired; put the shared mailbox's address in Username and use the delegate's token`, ErrBadUsername)
	}
	return nil
}

// challenge is the JSON of an OAuth error challenge (RFC 7628 section
// 3.2.2; XOAUTH2 uses the same fields).
type challenge struct {
	Status  string `json:"status"`
	Schemes string `json:"schemes"`
	Scope   string `json:"scope"`
}

// parseChallenge decodes an error challenge. Fields of an unexpected JSON
// type are ignored rather than failing the parse.
func parseChallenge(b []byte) (challenge, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return challenge{}, fmt.Errorf("%w: error challenge is not a JSON object", ErrMalformedReply)
	}
	str := func(k string) string {
		var s string
		if v, ok := raw[k]; ok && json.Unmarshal(v, &s) == nil {
			return truncate(s, 200)
		}
		return ""
	}
	return challenge{Status: str("status"), Schemes: str("schemes"), Scope: str("scope")}, nil
}

// oauthMech is the XOAUTH2 or OAUTHBEARER client mechanism.
type oauthMech struct {
	name     string
	user     string
	token    string
	failure  challenge
	answered bool
}

func (m *oauthMech) Start() (string, []byte, error) {
	var p string
	if m.name == OAuthBearer {
		p = "n,a=" + m.user + ",\x01auth=Bearer " + m.token + "\x01\x01"
	} else {
		p = "user=" + m.user + "\x01auth=Bearer " + m.token + "\x01\x01"
	}
	return m.name, []byte(p), nil
}

func (m *oauthMech) Next(ch []byte) ([]byte, error) {
	if m.answered {
		return nil, errors.New("popauth: AUTH: unexpected second challenge from the server")
	}
	m.answered = true
	f, err := parseChallenge(ch)
	if err != nil {
		return nil, err
	}
	m.failure = f
	if m.name == OAuthBearer {
		return []byte{0x01}, nil // RFC 7628 section 3.2.3
	}
	return []byte{}, nil
}

// tokenUser reads who a JWT access token was issued to, without verifying
// it. It returns "" for a token that is not a JWT.
func tokenUser(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(parts[1]) > 64<<10 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return ""
	}
	var claims map[string]any
	if json.Unmarshal(b, &claims) != nil {
		return ""
	}
	for _, k := range []string{"upn", "preferred_username", "email", "unique_name", "app_displayname", "appid", "azp", "sub"} {
		if s, ok := claims[k].(string); ok && s != "" {
			return truncate(s, 200)
		}
	}
	return ""
}
