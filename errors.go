package mailauth

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrInsecure is the one refusal to send a bearer token where it could be read: over a
// connection that is not TLS (IMAP, POP3, SMTP) or over plain http (EWS, EAS,
// autodiscover). Every package returns it, wrapped with what was refused, before it asks
// the token source for a token. The Insecure options that lift it are honoured only for
// loopback addresses (127.0.0.0/8, ::1, localhost), for tests.
var ErrInsecure = errors.New("mailauth: refusing to send a bearer token over a connection that is not TLS")

// ErrLineTooLong is wrapped by the error of a dial that failed because the server sent
// more than the protocol packages accept before authentication ended: one endless line,
// or endless capability or continuation lines. The connection is closed.
var ErrLineTooLong = errors.New("mailauth: line too long")

// AuthError reports an OAuth SASL authentication the server refused. imapauth, popauth
// and smtpauth all return it, so one errors.As works for the three protocols. It never
// contains the token.
type AuthError struct {
	// Protocol is "IMAP", "POP3" or "SMTP".
	Protocol string
	// Mechanism is "XOAUTH2" or "OAUTHBEARER".
	Mechanism string
	// Mailbox is the user name sent in the payload (XOAUTH2 user=, OAUTHBEARER a=): the
	// mailbox that was asked for.
	Mailbox string
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

// Error implements error. The message names the protocol, mechanism, mailbox, the
// server's reply, the challenge status, the token's identity and the hint; never the
// token.
func (e *AuthError) Error() string {
	var b strings.Builder
	b.WriteString(pkgPrefix(e.Protocol))
	b.WriteString(": ")
	if e.Mechanism != "" {
		b.WriteString(e.Mechanism + " ")
	}
	b.WriteString("authentication")
	if e.Mailbox != "" {
		b.WriteString(" as " + e.Mailbox)
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

// MailboxAccessError reports that the server accepted the token but its principal may not
// open the mailbox that was asked for. IMAP (Exchange's "BAD User is authenticated but
// not connected." after the login), POP3 (the STAT after the login fails) and SMTP ("430
// 4.2.0 STOREDRV; mailbox logon failure") all return this one type.
type MailboxAccessError struct {
	// Protocol is "IMAP", "POP3" or "SMTP".
	Protocol string
	// Mailbox is the mailbox asked for.
	Mailbox string
	// Identity is who the token is for, decoded without verification.
	Identity Identity
	// Code is the server's code, if any (an SMTP "430 4.2.0", a POP3 "SYS/PERM").
	Code string
	// ServerText is the server's reply text.
	ServerText string
	// Err is the protocol error of the refused command, or the I/O error.
	Err error
}

// Error implements error; it names who was refused what, and the usual causes.
func (e *MailboxAccessError) Error() string {
	var b strings.Builder
	b.WriteString(pkgPrefix(e.Protocol))
	b.WriteString(": authenticated as ")
	b.WriteString(e.Identity.Principal())
	b.WriteString(" but may not open mailbox ")
	if e.Mailbox == "" {
		b.WriteString(`""`)
	} else {
		b.WriteString(e.Mailbox)
	}
	if t := strings.TrimSpace(e.Code + " " + printable([]byte(e.ServerText), 512)); t != "" {
		b.WriteString(` (server said "` + t + `")`)
	}
	b.WriteString("; hint: ")
	b.WriteString(e.Hint())
	return b.String()
}

// Hint names the usual causes in plain words, with the PowerShell that fixes them.
func (e *MailboxAccessError) Hint() string {
	mb := e.Mailbox
	if mb == "" {
		mb = "<mailbox>"
	}
	proto := e.Protocol
	if proto == "" {
		proto = "the protocol"
	}
	return "either (1) the token's user or app has no FullAccess permission on " + mb +
		" (Add-MailboxPermission -Identity " + mb + " -User <user or service principal> -AccessRights FullAccess) or " +
		proto + " is disabled for that mailbox (Get-CASMailbox " + mb + "), " +
		"or (2) for an app-only token, the service principal is not registered in Exchange Online " +
		"(New-ServicePrincipal with the Enterprise Application's object id, not the App Registration's) " +
		"or the mailbox name does not match the one the permission was granted on"
}

// Unwrap returns the protocol error.
func (e *MailboxAccessError) Unwrap() error { return e.Err }

// Challenge is a server's OAuth error challenge, decoded from its JSON form (RFC 7628
// §3.2.2; Google's and Microsoft's XOAUTH2 use the same object).
type Challenge struct {
	// Status is the "status" member: an HTTP-like code such as "401" or "400" (XOAUTH2)
	// or an RFC 6749 error such as "invalid_token" (OAUTHBEARER). A JSON number is
	// converted to its decimal form.
	Status string
	// Schemes is the "schemes" member, e.g. "bearer".
	Schemes string
	// Scope is the "scope" member: the scope the server wants, e.g.
	// "https://mail.google.com/" or Dovecot's fixed "mail".
	Scope string
	// OpenIDConfiguration is the "openid-configuration" member of RFC 7628, if present.
	OpenIDConfiguration string
	// Malformed is true when the challenge was not a JSON object; Raw then holds a
	// printable prefix of it.
	Malformed bool
	// Raw is the challenge as received (decoded from base64), cut to 256 bytes and with
	// non-printable bytes replaced, for diagnostics.
	Raw string
}

// String describes the challenge in one line.
func (c *Challenge) String() string {
	if c == nil {
		return "<no challenge>"
	}
	if c.Malformed {
		return "malformed challenge " + strconv.Quote(c.Raw)
	}
	var parts []string
	if c.Status != "" {
		parts = append(parts, "status="+c.Status)
	}
	if c.Schemes != "" {
		parts = append(parts, "schemes="+c.Schemes)
	}
	if c.Scope != "" {
		parts = append(parts, "scope="+c.Scope)
	}
	if len(parts) == 0 {
		return "empty challenge"
	}
	return strings.Join(parts, " ")
}

func pkgPrefix(protocol string) string {
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

// printable returns at most max bytes of b as a string with control characters and
// invalid UTF-8 replaced by '?': server text made safe for an error message.
func printable(b []byte, max int) string {
	b = b[:min(len(b), max)]
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(string(b), "?"))
}
