package imapauth

import (
	"errors"
	"time"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrLegacySharedMailbox is returned for a Mailbox in the "delegate\shared" form.
	ErrLegacySharedMailbox = errors.New(`imapauth: the "delegate@domain\shared@domain" user form is not supported by Exchange Online: set Options.Mailbox to the shared mailbox address and use the delegate's token`)
	// ErrNoOAuthMechanism is returned when the server advertises neither XOAUTH2 nor
	// OAUTHBEARER (over this connection: some servers list them only after STARTTLS).
	ErrNoOAuthMechanism = errors.New("imapauth: server advertises neither AUTH=XOAUTH2 nor AUTH=OAUTHBEARER")
	// ErrTokenExpired matches every [*TokenExpiredError].
	ErrTokenExpired = errors.New("imapauth: session ended because the access token expired")
)

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
