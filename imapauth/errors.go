package imapauth

import (
	"errors"
	"time"

	"github.com/modernauth/mailauth"
)

// AuthError reports an AUTHENTICATE the server refused. It is the same type as
// popauth.AuthError and mailauth.AuthError. Err unwraps to the *imap.Error of the
// tagged NO or BAD.
type AuthError = mailauth.AuthError

// Challenge is a server's decoded JSON error challenge, found in [AuthError].Challenge.
type Challenge = mailauth.Challenge

// Identity holds the claims of a token, decoded without verification, for diagnostics.
type Identity = mailauth.Identity

// Sentinel errors; test with errors.Is.
var (
	// ErrInsecureConnection is returned instead of sending a token over a connection
	// that is not TLS, unless Options.InsecureAllowPlaintext is set.
	ErrInsecureConnection = errors.New("imapauth: refusing to send a bearer token over a connection that is not TLS (set Options.InsecureAllowPlaintext only for tests)")
	// ErrLegacySharedMailbox is returned for a Mailbox in the "delegate\shared" form.
	ErrLegacySharedMailbox = errors.New(`imapauth: the "delegate@domain\shared@domain" user form is not supported by Exchange Online: set Options.Mailbox to the shared mailbox address and use the delegate's token`)
	// ErrNoOAuthMechanism is returned when the server advertises neither XOAUTH2 nor
	// OAUTHBEARER (over this connection: some servers list them only after STARTTLS).
	ErrNoOAuthMechanism = errors.New("imapauth: server advertises neither AUTH=XOAUTH2 nor AUTH=OAUTHBEARER")
	// ErrNotConnected matches every [*NotConnectedError].
	ErrNotConnected = errors.New("imapauth: authenticated but not connected to the mailbox")
	// ErrTokenExpired matches every [*TokenExpiredError].
	ErrTokenExpired = errors.New("imapauth: session ended because the access token expired")
)

// NotConnectedError reports Exchange's "BAD User is authenticated but not connected."
// after a successful AUTHENTICATE: the token was good, but its principal may not open
// the mailbox named in the SASL user name. errors.Is(err, ErrNotConnected) holds.
type NotConnectedError struct {
	Mailbox    string   // the mailbox asked for
	ServerText string   // the server's reply text
	Identity   Identity // who the token is for
	Err        error    // the *imap.Error of the probe
}

// Error implements error; it names the two usual causes.
func (e *NotConnectedError) Error() string {
	s := "imapauth: authenticated as " + e.who() + " but not connected to mailbox " + e.Mailbox
	if e.ServerText != "" {
		s += ` (server said "` + e.ServerText + `")`
	}
	return s + "; hint: " + e.Hint()
}

func (e *NotConnectedError) who() string {
	if e.Identity.UPN != "" {
		return e.Identity.UPN
	}
	if e.Identity.AppID != "" {
		return "app " + e.Identity.AppID
	}
	return "the token's principal"
}

// Hint returns the two usual causes in plain words.
func (e *NotConnectedError) Hint() string {
	return "either (1) the token's user or app has no FullAccess permission on " + e.Mailbox +
		" (Add-MailboxPermission -Identity " + e.Mailbox + " -User <user or service principal> -AccessRights FullAccess) or IMAP is disabled for that mailbox, " +
		"or (2) for an app-only token, the service principal is not registered in Exchange Online " +
		"(New-ServicePrincipal with the Enterprise Application's object id, not the App Registration's) or the mailbox name does not match the one the permission was granted on"
}

// Unwrap returns the probe's error.
func (e *NotConnectedError) Unwrap() error { return e.Err }

// Is reports whether target is ErrNotConnected.
func (e *NotConnectedError) Is(target error) bool { return target == ErrNotConnected }

// TokenExpiredError reports that the server ended the session because the token expired
// ("* BYE Session invalidated - AccessTokenExpired" on Exchange). It is a re-authenticate
// signal: dial again with a fresh token, or let [Session] do it.
// errors.Is(err, ErrTokenExpired) holds.
type TokenExpiredError struct {
	ServerText string    // the BYE text
	Expiry     time.Time // the token's expiry as known to the client
	Err        error     // the error the command failed with, if any
}

// Error implements error.
func (e *TokenExpiredError) Error() string {
	s := "imapauth: server closed the session because the access token expired"
	if e.ServerText != "" {
		s += ` ("* BYE ` + e.ServerText + `")`
	}
	if !e.Expiry.IsZero() {
		s += "; token expiry was " + e.Expiry.UTC().Format(time.RFC3339)
	}
	return s + "; hint: reconnect with a fresh token (imapauth.Session does this before expiry)"
}

// Unwrap returns the underlying command error.
func (e *TokenExpiredError) Unwrap() error { return e.Err }

// Is reports whether target is ErrTokenExpired.
func (e *TokenExpiredError) Is(target error) bool { return target == ErrTokenExpired }
