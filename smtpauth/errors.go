package smtpauth

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"
	"github.com/modernauth/mailauth"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrNoOAuthMechanism: the server advertises neither mechanism (over this connection).
	ErrNoOAuthMechanism = errors.New("smtpauth: server advertises neither AUTH XOAUTH2 nor AUTH OAUTHBEARER")
	// ErrSMTPAuthDisabled: 535 5.7.139 "SmtpClientAuthentication is disabled".
	ErrSMTPAuthDisabled = errors.New("smtpauth: SMTP AUTH is disabled for the tenant or the mailbox")
	// ErrBasicAuthDisabled: 535 5.7.139 "basic authentication is disabled".
	ErrBasicAuthDisabled = errors.New("smtpauth: the server refused a password (basic) authentication")
	// ErrAuthUnsuccessful: 535 5.7.3, or any other 535.
	ErrAuthUnsuccessful = errors.New("smtpauth: authentication unsuccessful")
	// ErrTokenExpiresSoon: 501 5.5.127 "Token will expire soon".
	ErrTokenExpiresSoon = errors.New("smtpauth: the token expires too soon for this endpoint")
	// ErrSendAsDenied: 554 5.2.0 SendAsDeniedException.
	ErrSendAsDenied = errors.New("smtpauth: the authenticated mailbox may not send as this From address")
)

// classify maps a server reply to a sentinel and a hint.
func classify(e *smtp.SMTPError) (hint string, sentinel error) {
	msg := strings.ToLower(e.Message)
	enh := e.EnhancedCode
	switch {
	case strings.Contains(msg, "sendasdenied"):
		return "the authenticated mailbox lacks SendAs on the From address: grant it (Add-RecipientPermission <from> -Trustee <mailbox> -AccessRights SendAs) or send from the authenticated mailbox's own address; for app-only tokens the From must be the mailbox named in the user name", ErrSendAsDenied
	case enh == smtp.EnhancedCode{5, 7, 139} && strings.Contains(msg, "smtpclientauthentication"):
		return "SMTP AUTH is turned off for the tenant or the mailbox: an admin can enable it per mailbox (Set-CASMailbox <mailbox> -SmtpClientAuthenticationDisabled $false) or tenant-wide (Set-TransportConfig -SmtpClientAuthenticationDisabled $false); otherwise send through Microsoft Graph sendMail", ErrSMTPAuthDisabled
	case enh == smtp.EnhancedCode{5, 7, 139} && strings.Contains(msg, "basic authentication"):
		return "Exchange Online refuses passwords (basic auth); authenticate with XOAUTH2 and an OAuth token (this package never sends passwords, so a proxy or a second client may be involved)", ErrBasicAuthDisabled
	case enh == smtp.EnhancedCode{5, 5, 127} || strings.Contains(msg, "expire soon"):
		return "this endpoint wants at least 10 minutes of token lifetime left; fetch a fresh token (tokencache refreshes 10 minutes before expiry by default)", ErrTokenExpiresSoon
	case e.Code == 535:
		return "check that the token is for Exchange Online with SMTP.Send (delegated) or the SMTP.SendAsApp role (app-only), that the user name is the token's user (or, app-only, a mailbox the service principal has permission on), and that SMTP AUTH is enabled for the mailbox", ErrAuthUnsuccessful
	}
	return "", nil
}

// SendError reports a failure after authentication: at MAIL FROM, RCPT TO or DATA.
// Err unwraps to a sentinel when the reply is a known one, and to the *smtp.SMTPError.
type SendError struct {
	Stage      string // "MAIL FROM", "RCPT TO" or "DATA"
	Code       int    // SMTP reply code, e.g. 554
	Enhanced   string // enhanced status code, e.g. "5.2.0"; "" if none
	ServerText string
	Hint       string
	Err        error
}

// Error implements error.
func (e *SendError) Error() string {
	s := fmt.Sprintf("smtpauth: %s refused: server said %d", e.Stage, e.Code)
	if e.Enhanced != "" {
		s += " " + e.Enhanced
	}
	s += " " + e.ServerText
	if e.Hint != "" {
		s += "; hint: " + e.Hint
	}
	return s
}

// Unwrap returns the sentinel and the protocol error.
func (e *SendError) Unwrap() error { return e.Err }

// Temporary reports whether the reply was a 4xx (worth retrying later).
func (e *SendError) Temporary() bool { return e.Code/100 == 4 }

func enhanced(e *smtp.SMTPError) string {
	c := e.EnhancedCode
	if c == smtp.NoEnhancedCode || c == smtp.EnhancedCodeNotSet || c[0] <= 0 {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d", c[0], c[1], c[2])
}

// mailboxAccess recognises Exchange's "430 4.2.0 STOREDRV; mailbox logon failure": the
// token was accepted but Exchange cannot open the mailbox for its principal.
func mailboxAccess(se *smtp.SMTPError, mailbox string, id mailauth.Identity) *mailauth.MailboxAccessError {
	msg := strings.ToLower(se.Message)
	if se.Code != 430 && !(se.EnhancedCode == smtp.EnhancedCode{4, 2, 0} && strings.Contains(msg, "logon")) {
		return nil
	}
	return &mailauth.MailboxAccessError{Protocol: "SMTP", Mailbox: mailbox, Identity: id,
		Code: strings.TrimSpace(strconv.Itoa(se.Code) + " " + enhanced(se)), ServerText: se.Message, Err: se}
}

func (c *Client) sendError(stage string, err error) error {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return fmt.Errorf("smtpauth: %s: %w", stage, err)
	}
	if mae := mailboxAccess(se, c.mailbox, c.identity); mae != nil {
		return mae
	}
	hint, sentinel := classify(se)
	wrapped := error(se)
	if sentinel != nil {
		wrapped = fmt.Errorf("%w: %w", sentinel, se)
	}
	return &SendError{Stage: stage, Code: se.Code, Enhanced: enhanced(se), ServerText: se.Message, Hint: hint, Err: wrapped}
}
