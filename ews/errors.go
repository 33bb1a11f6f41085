package ews

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/modernauth/mailauth/internal/core/bearer"
)

// ResponseCode is an EWS response code, such as "ErrorServerBusy". It
// implements error so that errors.Is(err, ews.CodeServerBusy) reports
// whether err is an [*Error] with that code.
type ResponseCode string

// Error returns the code prefixed with "ews: ".
func (c ResponseCode) Error() string { return "ews: " + string(c) }

// Response codes that callers commonly branch on. Any other code the server
// sends is kept verbatim in [Error.Code].
const (
	CodeNoError                                ResponseCode = "NoError"
	CodeServerBusy                             ResponseCode = "ErrorServerBusy"
	CodeImpersonateUserDenied                  ResponseCode = "ErrorImpersonateUserDenied"
	CodeNonExistentMailbox                     ResponseCode = "ErrorNonExistentMailbox"
	CodeInvalidExchangeImpersonationHeaderData ResponseCode = "ErrorInvalidExchangeImpersonationHeaderData"
	CodeImpersonationFailed                    ResponseCode = "ErrorImpersonationFailed"
	CodeAccessDenied                           ResponseCode = "ErrorAccessDenied"
	CodeItemNotFound                           ResponseCode = "ErrorItemNotFound"
	CodeFolderNotFound                         ResponseCode = "ErrorFolderNotFound"
	CodeInvalidIDMalformed                     ResponseCode = "ErrorInvalidIdMalformed"
	CodeInvalidSyncStateData                   ResponseCode = "ErrorInvalidSyncStateData"
	CodeSendAsDenied                           ResponseCode = "ErrorSendAsDenied"
	CodeMailboxMoveInProgress                  ResponseCode = "ErrorMailboxMoveInProgress"
	CodeMailboxStoreUnavailable                ResponseCode = "ErrorMailboxStoreUnavailable"
	CodeExceededConnectionCount                ResponseCode = "ErrorExceededConnectionCount"
	CodeInvalidServerVersion                   ResponseCode = "ErrorInvalidServerVersion"
	CodeInternalServerError                    ResponseCode = "ErrorInternalServerError"
	CodeInternalServerTransientError           ResponseCode = "ErrorInternalServerTransientError"
	CodeQuotaExceeded                          ResponseCode = "ErrorQuotaExceeded"
)

// Error is an EWS error: a response message whose ResponseClass is not
// Success, or a SOAP fault. Code is the ResponseCode and Message the
// server's MessageText (or faultstring). When Exchange answers
// ErrorInternalServerError with an InnerErrorResponseCode in MessageXml,
// Code and Message are the inner error's; Details keeps the raw values.
type Error struct {
	Op         string            // the EWS operation, such as "FindItem"
	Code       ResponseCode      // such as "ErrorServerBusy"
	Message    string            // the server's MessageText or faultstring
	Fault      bool              // the server answered with a SOAP fault
	HTTPStatus int               // the HTTP status of the response (200 or 500)
	BackOff    time.Duration     // BackOffMilliseconds from MessageXml, if any
	Details    map[string]string // the MessageXml Value elements, by Name
}

// Error returns "ews: Op: Code: Message", the back-off if any, and the
// hint.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("ews: ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(string(e.Code))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(strings.TrimSpace(e.Message))
	}
	if e.BackOff > 0 {
		fmt.Fprintf(&b, " (back off %s)", e.BackOff)
	}
	if h := e.Hint(); h != "" {
		b.WriteString(" — ")
		b.WriteString(h)
	}
	return b.String()
}

// Is reports whether target is the ResponseCode of e.
func (e *Error) Is(target error) bool {
	c, ok := target.(ResponseCode)
	return ok && c == e.Code
}

// Temporary reports whether retrying later may succeed.
func (e *Error) Temporary() bool {
	switch e.Code {
	case CodeServerBusy, CodeMailboxMoveInProgress, CodeMailboxStoreUnavailable,
		CodeExceededConnectionCount, CodeInternalServerTransientError:
		return true
	}
	return false
}

// Hint returns what to check or do, in plain words, for the common codes,
// and "" for the others.
func (e *Error) Hint() string {
	msg := strings.ToLower(e.Message)
	switch {
	case strings.Contains(msg, "exchangeimpersonation soap header must be present"):
		return "this is an app-only token: set AppOnly and Mailbox so that requests impersonate the target mailbox"
	case strings.Contains(msg, "exchangeimpersonation soap header must not exist"):
		return "this is a delegated (user) token: do not set AppOnly; open other mailboxes through delegate access instead"
	}
	switch e.Code {
	case CodeServerBusy:
		return "Exchange is throttling this client; wait for the back-off and send fewer concurrent requests"
	case CodeImpersonateUserDenied, CodeImpersonationFailed:
		return "the app may not impersonate this mailbox: grant the application permission full_access_as_app with admin consent (on-premises: the ApplicationImpersonation role) and check that no application access policy or management scope excludes the mailbox"
	case CodeNonExistentMailbox:
		return "no mailbox has this SMTP address here: check the spelling, that the mailbox exists and is licensed in this tenant or organisation, and (hybrid) whether it lives on-premises or in Exchange Online"
	case CodeInvalidExchangeImpersonationHeaderData:
		return "the impersonation header was refused: app-only tokens need AppOnly with the target's SMTP address; delegated tokens must not impersonate"
	case CodeAccessDenied:
		return "the token's user or app has no access to this mailbox or folder: grant mailbox permissions (delegated) or full_access_as_app (app-only)"
	case CodeSendAsDenied:
		return "the signed-in user may not send as this address: grant Send As or Send on Behalf, or send from the user's own address"
	case CodeInvalidSyncStateData:
		return "the stored sync state is invalid for this folder: start over with an empty sync state"
	case CodeInvalidIDMalformed, CodeItemNotFound, CodeFolderNotFound:
		return "the id does not name an item or folder in this mailbox (ids are per mailbox; an item moved or deleted gets a new id)"
	case CodeMailboxMoveInProgress, CodeMailboxStoreUnavailable:
		return "the mailbox is being moved or its database is unavailable; retry later"
	case CodeExceededConnectionCount:
		return "too many concurrent EWS connections for this user or app; lower concurrency"
	case CodeInvalidServerVersion:
		return "the server does not know the requested RequestServerVersion; set Options.ServerVersion to an older value such as Exchange2013 or Exchange2010_SP2"
	}
	return ""
}

// HTTPError reports an HTTP answer that is not a SOAP response: an
// authentication failure, a redirect, throttling that outlasted the
// retries, or an error page.
type HTTPError struct {
	Op         string
	StatusCode int
	Location   string // the Location header of a redirect
	CASError   string // the X-CasErrorCode header, if any
	// AuthError and AuthErrorDescription are the error and
	// error_description of the WWW-Authenticate Bearer challenge, if any.
	AuthError, AuthErrorDescription string
	// Claims is the claims challenge of a 401/403, if any: pass it to the
	// token endpoint when acquiring the next token.
	Claims string
	Body   string // the start of the response body, for diagnosis
}

// Error returns "ews: Op: HTTP status", the Bearer error or X-CasErrorCode
// if any, and the hint. It never contains the token or the body.
func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("ews: %s: HTTP %d %s", e.Op, e.StatusCode, http.StatusText(e.StatusCode))
	if e.AuthError != "" {
		msg += " (" + e.AuthError + ")"
	}
	if e.CASError != "" {
		msg += " (X-CasErrorCode " + e.CASError + ")"
	}
	if h := e.Hint(); h != "" {
		msg += " — " + h
	}
	return msg
}

// Hint returns what to check or do, in plain words.
func (e *HTTPError) Hint() string {
	switch {
	case e.Claims != "":
		return "the token lacks claims the server now requires (Conditional Access or a revoked session): acquire a new token with these claims, interactively if needed"
	case e.StatusCode == http.StatusUnauthorized:
		return "the token was refused even after a fresh one: check that its audience is the Exchange resource (https://outlook.office365.com, or the on-premises EWS host for hybrid OAuth), that it carries EWS.AccessAsUser.All (delegated) or the full_access_as_app role (app-only), and that OAuth is enabled for EWS on the server"
	case e.StatusCode == http.StatusForbidden:
		return "EWS refused this app or user: check that the token carries EWS.AccessAsUser.All (delegated) or the full_access_as_app role (app-only), then EwsEnabled and EwsAllowedAppIDs for the organisation and mailbox (Exchange Online is retiring EWS) and any application access policy"
	case e.StatusCode >= 300 && e.StatusCode < 400:
		return "EWS requests are not redirected; use the EWS URL that autodiscover returns for this mailbox"
	case e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusServiceUnavailable:
		return "the server is throttling or overloaded; retry later with fewer concurrent requests"
	case e.StatusCode == http.StatusNotFound:
		return "no EWS endpoint at this URL; it usually ends in /EWS/Exchange.asmx"
	}
	return ""
}

// Temporary reports whether retrying later may succeed.
func (e *HTTPError) Temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusServiceUnavailable ||
		e.StatusCode == http.StatusBadGateway || e.StatusCode == http.StatusGatewayTimeout
}

// Errors of the bearer transport, exported here so callers can test for them
// with errors.As.

// HostNotAllowedError is returned for a request to a host that may not
// receive the token; nothing was sent.
type HostNotAllowedError = bearer.HostNotAllowedError

// TokenError reports that the token source failed; it unwraps to the
// source's error.
type TokenError = bearer.TokenError

// ChallengeError reports a 401 or 403 carrying a claims challenge (Conditional Access,
// continuous access evaluation): get a token with those claims and try again.
type ChallengeError = bearer.ChallengeError

// ParseError reports a response that is not well-formed EWS SOAP.
type ParseError struct {
	Op  string
	Err error
}

// Error returns "ews: Op: malformed response: " and the XML error.
func (e *ParseError) Error() string { return "ews: " + e.Op + ": malformed response: " + e.Err.Error() }

// Unwrap returns the underlying XML error.
func (e *ParseError) Unwrap() error { return e.Err }

var (
	_ error = (*Error)(nil)
	_ error = (*HTTPError)(nil)
	_ error = (*ParseError)(nil)
	_ error = ResponseCode("")
)
