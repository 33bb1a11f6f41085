package sasl

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/modernauth/mailauth"

	gosasl "github.com/emersion/go-sasl"
	"golang.org/x/oauth2"
)

// ClientOptions configures a [Client].
type ClientOptions struct {
	// Mechanism is XOAuth2 (the default when empty) or OAuthBearer.
	Mechanism string
	// Mailbox is the mailbox to open (XOAUTH2 user=, OAUTHBEARER a=). Required.
	Mailbox string
	// Host and Port are sent in the OAUTHBEARER payload; they should describe the
	// connection in use. Ignored for XOAUTH2.
	Host string
	Port int
	// Token is the token to send. When nil, Source is asked in Start.
	Token *oauth2.Token
	// Source supplies the token when Token is nil. Its TokenContext method is used when
	// present, with Context.
	Source oauth2.TokenSource
	// Context bounds the token fetch in Start; nil means context.Background().
	Context context.Context
	// NoInitialResponse makes Start return a nil initial response, so the payload is sent
	// only in answer to the server's first (empty) challenge. POP3 to Exchange and SMTP
	// with long tokens need this.
	NoInitialResponse bool
}

// Client is a go-sasl [gosasl.Client] for XOAUTH2 or OAUTHBEARER that answers the server's
// error challenge correctly and remembers it. A Client is single-use (one exchange) and
// not safe for concurrent use.
type Client struct {
	opts        ClientOptions
	mech        string
	tok         *oauth2.Token
	payload     []byte
	sent        bool
	challenges  int
	challenge   *mailauth.Challenge
	startCalled bool
}

var _ gosasl.Client = (*Client)(nil)

// NewClient returns a Client for opts. It does no I/O; the token is fetched in Start.
func NewClient(opts ClientOptions) *Client {
	mech := strings.ToUpper(opts.Mechanism)
	if mech == "" {
		mech = XOAuth2
	}
	return &Client{opts: opts, mech: mech, tok: opts.Token}
}

// Mechanism returns the SASL mechanism name.
func (c *Client) Mechanism() string { return c.mech }

// Start fetches the token (unless one was given) and builds the payload. It returns the
// payload as the initial response unless NoInitialResponse is set.
func (c *Client) Start() (mech string, ir []byte, err error) {
	if c.startCalled {
		return "", nil, errors.New("sasl: Client is single-use; Start called twice")
	}
	c.startCalled = true
	if c.mech != XOAuth2 && c.mech != OAuthBearer {
		return "", nil, fmt.Errorf("sasl: unsupported mechanism %q", c.opts.Mechanism)
	}
	if err := ValidateUsername(c.opts.Mailbox); err != nil {
		return "", nil, err
	}
	if c.tok == nil {
		ctx := c.opts.Context
		if ctx == nil {
			ctx = context.Background()
		}
		tok, err := mailauth.TokenContext(ctx, c.opts.Source)
		if err != nil {
			return "", nil, fmt.Errorf("sasl: %w", err)
		}
		c.tok = tok
	}
	if c.mech == OAuthBearer {
		c.payload, err = OAuthBearerPayload(c.opts.Mailbox, c.opts.Host, c.opts.Port, c.tok.AccessToken)
	} else {
		c.payload, err = XOAuth2Payload(c.opts.Mailbox, c.tok.AccessToken)
	}
	if err != nil {
		return "", nil, err
	}
	if c.opts.NoInitialResponse {
		return c.mech, nil, nil
	}
	c.sent = true
	return c.mech, c.payload, nil
}

// ErrTooManyChallenges is returned by Next when a server keeps challenging after the
// error challenge was answered.
var ErrTooManyChallenges = errors.New("sasl: server sent more challenges than the mechanism allows")

// Next answers a server challenge. Before the payload was sent, any challenge (normally
// the empty one) is answered with the payload. After it, the challenge is an error
// challenge: it is decoded and recorded (see [Client.Challenge]) and answered with the
// mechanism's acknowledgement (empty for XOAUTH2, 0x01 for OAUTHBEARER), so the server
// can finish the exchange with its failure reply. Next returns an error only after three
// challenges, which no conforming server sends.
func (c *Client) Next(challenge []byte) ([]byte, error) {
	if !c.sent {
		if c.payload == nil {
			return nil, errors.New("sasl: Next called before Start")
		}
		c.sent = true
		return c.payload, nil
	}
	c.challenges++
	if c.challenges > 2 {
		return nil, ErrTooManyChallenges
	}
	if c.challenge == nil {
		c.challenge = ParseChallenge(challenge)
	}
	return Ack(c.mech), nil
}

// ResponseLen returns the length of the base64 response that carries the token (0
// before Start).
func (c *Client) ResponseLen() int { return base64.StdEncoding.EncodedLen(len(c.payload)) }

// Token returns the token used by the exchange (nil before Start). Callers use it to
// invalidate a refused token; never print it.
func (c *Client) Token() *oauth2.Token { return c.tok }

// Challenge returns the error challenge the server sent, or nil.
func (c *Client) Challenge() *mailauth.Challenge { return c.challenge }

// Identity returns the claims of the token in use, decoded without verification.
func (c *Client) Identity() mailauth.Identity {
	if c.tok == nil {
		return mailauth.Identity{}
	}
	return mailauth.ParseIdentity(c.tok.AccessToken)
}

// Expiry returns the token's expiry: the earlier of the oauth2.Token's Expiry and the
// JWT exp claim (the server's view, in whole seconds), whichever is known; the zero time
// when neither is.
func (c *Client) Expiry() time.Time {
	if c.tok == nil {
		return time.Time{}
	}
	return mailauth.TokenExpiry(c.tok)
}

// String describes the client without its token.
func (c *Client) String() string {
	return fmt.Sprintf("sasl.Client(%s user=%s)", c.mech, c.opts.Mailbox)
}

// GoString is like String.
func (c *Client) GoString() string { return c.String() }
