package sasl

import (
	"strings"
	"time"
)

// AuthError reports an OAuth SASL authentication the server refused. imapauth, popauth
// and smtpauth return it (each re-exports it under its own name), so one errors.As works
// for all three protocols. It never contains the token.
type AuthError struct {
	// Protocol is "IMAP", "POP3" or "SMTP".
	Protocol string
	// Mechanism is "XOAUTH2" or "OAUTHBEARER".
	Mechanism string
	// Username is the user name sent in the payload (XOAUTH2 user=, OAUTHBEARER a=): the
	// mailbox that was asked for.
	Username string
	// Challenge is the server's JSON error challenge, or nil if the server failed the
	// exchange without one (Exchange usually does).
	Challenge *Challenge
	// Code is the server's machine-readable code: an IMAP response code such as
	// "AUTHENTICATIONFAILED", a POP3 response code such as "AUTH", or an SMTP reply code
	// and enhanced status such as "535 5.7.139".
	Code string
	// ServerText is the human-readable text of the server's final reply, e.g.
	// "AUTHENTICATE failed." or "Authentication unsuccessful, SmtpClientAuthentication is
	// disabled for the Tenant.".
	ServerText string
	// Identity holds the claims of the token that was sent, decoded without verification.
	Identity Identity
	// Retried is true when this failure came on the second attempt, with a fresh token
	// fetched after the first one was invalidated.
	Retried bool
	// Hint explains the usual causes and fixes in plain words; it may be empty.
	Hint string
	// Err is the protocol library's error (*imap.Error, *smtp.SMTPError, a POP3 reply
	// error), if any.
	Err error
}

// Error implements error. The message names the protocol, mechanism, user, the server's
// reply, the challenge status, the token's identity and the hint; never the token.
func (e *AuthError) Error() string {
	var b strings.Builder
	b.WriteString(prefix(e.Protocol))
	b.WriteString(": ")
	if e.Mechanism != "" {
		b.WriteString(e.Mechanism + " ")
	}
	b.WriteString("authentication")
	if e.Username != "" {
		b.WriteString(" as " + e.Username)
	}
	b.WriteString(" failed")
	if e.Code != "" || e.ServerText != "" {
		b.WriteString(": server said ")
		b.WriteString(strings.TrimSpace(e.Code + " " + printable([]byte(e.ServerText), 512)))
	}
	if e.Challenge != nil {
		b.WriteString(" (challenge " + e.Challenge.String() + ")")
	}
	if e.Retried {
		b.WriteString(" (after a retry with a fresh token)")
	}
	if !e.Identity.IsZero() {
		b.WriteString("; token: " + e.Identity.String())
	}
	if e.Hint != "" {
		b.WriteString("; hint: " + e.Hint)
	}
	return b.String()
}

// Unwrap returns the protocol library's error.
func (e *AuthError) Unwrap() error { return e.Err }

// Status returns the challenge's status member, or "" when there was no challenge.
func (e *AuthError) Status() string {
	if e.Challenge == nil {
		return ""
	}
	return e.Challenge.Status
}

func prefix(protocol string) string {
	switch strings.ToUpper(protocol) {
	case "IMAP":
		return "imapauth"
	case "POP3", "POP":
		return "popauth"
	case "SMTP":
		return "smtpauth"
	}
	return "mailauth"
}

// DefaultHint returns the generic explanation for a refused token, preferring the
// audience warning when the token is visibly not an Exchange Online one.
func DefaultHint(id Identity, mailbox string) string {
	if h := id.AudienceHint(); h != "" {
		return h
	}
	var b strings.Builder
	if !id.ExpiresAt.IsZero() && !id.ExpiresAt.After(time.Now()) {
		b.WriteString("the token had expired; ")
	}
	if id.AppOnly() {
		b.WriteString("for an app-only token, check that the service principal was registered in Exchange (New-ServicePrincipal with the Enterprise Application's object id) and was granted FullAccess on " + orMailbox(mailbox) + " (Add-MailboxPermission), and that the app has the IMAP.AccessAsApp / POP.AccessAsApp / SMTP.SendAsApp role")
	} else {
		b.WriteString("check that the token is for Exchange Online with the protocol's scope (IMAP.AccessAsUser.All, POP.AccessAsUser.All or SMTP.Send), that the user name is the mailbox the token's user may open, and that the protocol is enabled for " + orMailbox(mailbox))
	}
	return b.String()
}

func orMailbox(m string) string {
	if m == "" {
		return "the mailbox"
	}
	return m
}
