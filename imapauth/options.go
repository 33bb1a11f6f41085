package imapauth

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/emersion/go-imap/v2/imapclient"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/internal/core/redact"
	"github.com/modernauth/mailauth/internal/core/sasl"
)

// Mechanism names for Options.Mechanism.
const (
	XOAuth2     = sasl.XOAuth2
	OAuthBearer = sasl.OAuthBearer
)

// Options configures [DialTLS], [DialStartTLS], [Authenticate] and [Session]. A nil
// *Options is the zero value; Token and Mailbox are required. Options are copied on entry and not retained beyond the call,
// except by [Session].
type Options struct {
	// Token supplies access tokens. Its TokenContext method is used when present, so ctx
	// bounds the fetch; its Invalidate method, when present, enables the one retry with a
	// fresh token after the server refuses one.
	Token oauth2.TokenSource

	// Mailbox is the mailbox to open, sent as the XOAUTH2 user= (OAUTHBEARER a=): the
	// signed-in user's own address, a shared mailbox the user has FullAccess on, or the
	// target mailbox of an app-only token. The legacy "user\shared" form is rejected.
	Mailbox string

	// Mechanism is XOAuth2 (the default) or OAuthBearer. OAUTHBEARER is used only when
	// the server advertises it; otherwise XOAUTH2 is used if advertised.
	Mechanism string

	// TLSConfig is used for the TLS handshake. nil means the system roots and
	// ServerName taken from the address. It is cloned, never modified.
	TLSConfig *tls.Config

	// InsecureAllowPlaintext allows sending the token over a connection that is not TLS,
	// to a loopback address only (127.0.0.0/8, ::1): for tests against local servers.
	InsecureAllowPlaintext bool

	// Dialer dials the TCP connection; nil means a zero net.Dialer. ctx always applies.
	Dialer *net.Dialer

	// Conn is, for [Authenticate] only, the connection the *imapclient.Client was created
	// over. imapclient does not expose it, so Authenticate needs it to check for TLS; it
	// refuses to send a token when Conn is nil or not a *tls.Conn, unless
	// InsecureAllowPlaintext is set and Conn's peer is a loopback address.
	Conn net.Conn

	// NoProbe skips the LIST "" "" probe after a successful AUTHENTICATE. Then a
	// user/mailbox mismatch on Exchange surfaces on the first real command instead.
	NoProbe bool

	// Client is passed to imapclient.New (UnilateralDataHandler, ...); its TLSConfig and
	// Dialer fields are ignored. nil means defaults. Its DebugWriter is used only when
	// Options.DebugWriter is nil (and is redacted the same way): set the trace with
	// Options.DebugWriter.
	Client *imapclient.Options

	// DebugWriter, when set, receives the protocol trace with SASL payloads and anything
	// shaped like a token redacted. It is the one trace knob (smtpauth's Options has the
	// same): when both it and Client.DebugWriter are set, DebugWriter wins and
	// Client.DebugWriter gets nothing.
	DebugWriter io.Writer

	// Logger receives one line per authentication attempt and retry; nil is silent.
	// Tokens are never logged.
	Logger *slog.Logger
}

// config is Options plus what a dial learns: the server's host and port, for the
// OAUTHBEARER payload.
type config struct {
	Options
	host string
	port int
}

// newConfig copies opts (nil is the zero value) and validates it.
func newConfig(opts *Options) (*config, error) {
	c := &config{}
	if opts != nil {
		c.Options = *opts
	}
	return c, c.validate()
}

func (o *Options) validate() error {
	if o.Token == nil {
		return errors.New("imapauth: Options.Token must be set")
	}
	if o.Mailbox == "" {
		return errors.New("imapauth: Options.Mailbox must be set (the mailbox to open)")
	}
	if strings.Contains(o.Mailbox, `\`) {
		return ErrLegacySharedMailbox
	}
	if err := sasl.ValidateUsername(o.Mailbox); err != nil {
		return errors.New("imapauth: Options.Mailbox contains a control character")
	}
	switch strings.ToUpper(o.Mechanism) {
	case "", XOAuth2, OAuthBearer:
	default:
		return errors.New("imapauth: Options.Mechanism must be XOAUTH2 or OAUTHBEARER")
	}
	return nil
}

func (o *Options) dialer() *net.Dialer {
	if o.Dialer != nil {
		return o.Dialer
	}
	return &net.Dialer{}
}

func (o *Options) clientOptions() *imapclient.Options {
	var co imapclient.Options
	if o.Client != nil {
		co = *o.Client
	}
	co.TLSConfig, co.Dialer = nil, nil
	switch {
	case o.DebugWriter != nil:
		co.DebugWriter = redact.NewWriter(o.DebugWriter)
	case co.DebugWriter != nil:
		co.DebugWriter = redact.NewWriter(co.DebugWriter)
	}
	return &co
}

func (o *Options) log(msg string, args ...any) {
	if o.Logger != nil {
		o.Logger.Debug(msg, args...)
	}
}
