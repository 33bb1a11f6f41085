package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/core/audience"
	"github.com/modernauth/mailauth/internal/core/httpx"
	"github.com/modernauth/mailauth/internal/core/redact"
)

// Codes of Graph errors people meet. Any other code the server sends is kept verbatim in
// [Error.Code].
const (
	CodeAccessDenied               = "ErrorAccessDenied"
	CodeMailboxNotEnabledForREST   = "MailboxNotEnabledForRESTAPI"
	CodeResourceNotFound           = "ResourceNotFound"
	CodeItemNotFound               = "ErrorItemNotFound"
	CodeInvalidUser                = "ErrorInvalidUser"
	CodeInvalidAuthenticationToken = "InvalidAuthenticationToken"
	CodeInvalidRecipients          = "ErrorInvalidRecipients"
	CodeSendAsDenied               = "ErrorSendAsDenied"
	CodeApplicationThrottled       = "ApplicationThrottled"
	CodeMessageSizeExceeded        = "ErrorMessageSizeExceeded"
	CodeQuotaExceeded              = "ErrorQuotaExceeded"
	CodeAuthenticationError        = "AuthenticationError"
	// CodeNonPremiumTenant is the 403 for sign-in logs in a tenant without Microsoft
	// Entra ID P1 or P2.
	CodeNonPremiumTenant = "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
	// CodeAuthorizationRequestDenied is the 403 of directory and audit APIs for a token
	// without the permission (AuditLog.Read.All, Reports.Read.All, ...).
	CodeAuthorizationRequestDenied = "Authorization_RequestDenied"
)

var (
	// ErrNotFound matches (errors.Is) an *Error for HTTP 404: an unknown item, folder or
	// mailbox.
	ErrNotFound = errors.New("graph: not found")
	// ErrAccessDenied matches an *Error for HTTP 403.
	ErrAccessDenied = errors.New("graph: access denied")
	// ErrThrottled matches an *Error for HTTP 429 (also after the client's retries ran out).
	ErrThrottled = errors.New("graph: throttled")
	// ErrWrongAudience is wrapped by the error returned instead of sending a token that is
	// for Exchange Online (or another resource Graph refuses) rather than Microsoft Graph.
	ErrWrongAudience = errors.New("graph: the token is not for Microsoft Graph")
	// ErrUntrustedLink is wrapped by the error returned instead of following an
	// @odata.nextLink or deltaLink to a host that may not receive the token.
	ErrUntrustedLink = errors.New("graph: refusing to send the token to a link outside the Graph endpoint")
)

// Error is an error Microsoft Graph returned: its HTTP status and the error JSON
// ({"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}).
// It never holds a token.
type Error struct {
	Op              string        // what the client was doing, such as "list messages"
	StatusCode      int           // the HTTP status
	Code            string        // error.code, such as "ErrorAccessDenied"
	Message         string        // error.message (or a printable prefix of a non-JSON body)
	InnerCode       string        // error.innerError.code, when Graph nests a more precise one
	RequestID       string        // request-id: quote it to Microsoft support
	ClientRequestID string        // client-request-id: the id the client sent
	Date            string        // innerError.date
	RetryAfter      time.Duration // Retry-After of a 429/503/504, if any
	Claims          string        // the claims a WWW-Authenticate challenge asked for, if any
	Mailbox         string        // the mailbox the client opens ("" = /me)

	// Identity is who the token was for (decoded without verification), filled for 401
	// and 403 so that the hint can be specific.
	Identity mailauth.Identity
}

// Error returns "graph: op: status code: message", the ids and the hint.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("graph: ")
	if e.Op != "" {
		b.WriteString(e.Op + ": ")
	}
	fmt.Fprintf(&b, "%d", e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + strings.TrimSpace(e.Message))
	}
	if e.RequestID != "" {
		b.WriteString(" (request-id " + e.RequestID)
		if e.ClientRequestID != "" {
			b.WriteString(", client-request-id " + e.ClientRequestID)
		}
		b.WriteString(")")
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if h := e.Hint(); h != "" {
		b.WriteString("; hint: " + h)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNotFound), ErrAccessDenied and ErrThrottled work by status.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrAccessDenied:
		return e.StatusCode == http.StatusForbidden
	case ErrThrottled:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrWrongAudience:
		return e.wrongAudience()
	}
	return false
}

// Temporary reports whether retrying later may succeed (429, 503, 504 and 5xx).
func (e *Error) Temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

func (e *Error) wrongAudience() bool {
	if e.StatusCode != http.StatusUnauthorized {
		return false
	}
	if strings.Contains(strings.ToLower(e.Message), "invalid audience") {
		return true
	}
	for _, a := range e.Identity.Audience {
		if cloud.IsGraphAudience(a) {
			return false
		}
	}
	return len(e.Identity.Audience) > 0
}

// Hint explains the usual causes and fixes in plain words, or returns "".
func (e *Error) Hint() string {
	mb := e.Mailbox
	if mb == "" {
		mb = "the signed-in user's mailbox"
	}
	code := e.Code
	switch {
	case code == CodeMailboxNotEnabledForREST || e.InnerCode == CodeMailboxNotEnabledForREST:
		return "Graph reaches only mailboxes in Exchange Online: " + mb + " is on-premises (hybrid), inactive or soft-deleted, or its user has no Exchange Online license; for an on-premises mailbox use ews or imapauth against the on-premises server"
	case e.StatusCode == http.StatusUnauthorized && e.wrongAudience():
		return "the token is not for Microsoft Graph (its audience is " + strings.Join(e.Identity.Audience, ",") + "): ask for scope https://graph.microsoft.com/.default (app-only) or https://graph.microsoft.com/Mail.ReadWrite (delegated); tokens for outlook.office365.com work only for IMAP, POP, SMTP, EWS and EAS"
	case e.StatusCode == http.StatusUnauthorized && e.Claims != "":
		return "Conditional Access or continuous access evaluation wants a new token with the claims in Claims (sign in again)"
	case e.StatusCode == http.StatusUnauthorized && e.Identity.Expired(time.Now()):
		return "the token had expired; a tokencache source refreshes by itself, a token from elsewhere must be renewed"
	case e.StatusCode == http.StatusUnauthorized:
		return "the token was refused: it must be a Microsoft Graph token (aud https://graph.microsoft.com) of this tenant with a Mail.* permission, and unexpired"
	case code == CodeNonPremiumTenant:
		return "Graph serves sign-in logs (auditLogs/signIns) only to a tenant with a Microsoft Entra ID P1 or P2 licence; the usage reports (Reports.Read.All) need none"
	case e.Op == opSignIns && (e.StatusCode == http.StatusForbidden || code == CodeAuthorizationRequestDenied):
		return "reading sign-in logs needs the Microsoft Graph permission AuditLog.Read.All (application, with admin consent; or delegated, with the signed-in user in a role such as Reports Reader, Security Reader or Global Reader) and a tenant with Microsoft Entra ID P1 or P2"
	case e.Op == opUsageReport && (e.StatusCode == http.StatusForbidden || code == CodeAuthorizationRequestDenied):
		return "usage reports need the Microsoft Graph permission Reports.Read.All (application, with admin consent; or delegated, with the signed-in user in a role such as Reports Reader or Global Reader)"
	case code == CodeAccessDenied || e.StatusCode == http.StatusForbidden:
		if e.Identity.AppOnly() {
			return "the app may not open " + mb + ": grant the Microsoft Graph application permission it needs (Mail.Read, Mail.ReadWrite or Mail.Send) with admin consent; if Exchange scopes the app, give it this mailbox with RBAC for Applications (New-ServicePrincipal, New-ManagementScope, New-ManagementRoleAssignment -App <app id> -Role \"Application Mail.ReadWrite\" -CustomResourceScope <scope>) or fix the application access policy (Test-ApplicationAccessPolicy -Identity " + orBox(e.Mailbox) + " -AppId <app id>)"
		}
		return "the signed-in user may not open " + mb + ": for another user's or a shared mailbox grant FullAccess (Add-MailboxPermission) or folder permissions and ask for the delegated Mail.ReadWrite.Shared / Mail.Send.Shared scopes; check the token has Mail.ReadWrite (or Mail.Read / Mail.Send for what you do)"
	case code == CodeInvalidUser:
		return "no user or mailbox is named " + orBox(e.Mailbox) + ": use its user principal name, primary SMTP address or object id"
	case code == CodeResourceNotFound || code == CodeItemNotFound || e.StatusCode == http.StatusNotFound:
		return "the id names no item or folder here: it may have moved (ids change on a move unless Options.ImmutableIDs is set) or been deleted, belong to another mailbox, or be an EWS id (convert it with TranslateExchangeIDs)"
	case code == CodeSendAsDenied:
		return "the sender may not send as this address: grant Send As (Add-RecipientPermission) or Send on Behalf, or send from the mailbox's own address"
	case code == CodeInvalidRecipients:
		return "a recipient address is malformed or missing: check To, Cc and Bcc"
	case code == CodeMessageSizeExceeded || e.StatusCode == http.StatusRequestEntityTooLarge:
		return "the message is over the mailbox's size limit (35 MB by default; Set-Mailbox -MaxSendSize) or a request body over 4 MB; SendMIME moves large attachments to upload sessions by itself"
	case e.StatusCode == http.StatusTooManyRequests || code == CodeApplicationThrottled:
		return "Graph throttles per app and mailbox (4 concurrent requests, 10,000 per 10 minutes): wait for Retry-After, send fewer requests at once, or batch them with $batch"
	case e.StatusCode >= 500:
		return "a transient Graph or Exchange failure: retry later with the same client-request-id in mind; quote request-id to support if it persists"
	}
	return ""
}

func orBox(s string) string {
	if s == "" {
		return "<mailbox>"
	}
	return s
}

// errorBody is Graph's error JSON.
type errorBody struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError struct {
			Code            string `json:"code"`
			Date            string `json:"date"`
			RequestID       string `json:"request-id"`
			ClientRequestID string `json:"client-request-id"`
		} `json:"innerError"`
	} `json:"error"`
}

// maxErrorBody caps what is read of an error response.
const maxErrorBody = 64 << 10

// parseError reads Graph's error JSON from body. A body that is not that JSON gives a
// message made of its printable, redacted prefix. It never fails and never panics.
func parseError(status int, body []byte) *Error {
	e := &Error{StatusCode: status}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && (eb.Error.Code != "" || eb.Error.Message != "") {
		e.Code = clean(eb.Error.Code, 128)
		e.Message = redact.String(clean(eb.Error.Message, 1024))
		e.InnerCode = clean(eb.Error.InnerError.Code, 128)
		e.RequestID = clean(eb.Error.InnerError.RequestID, 128)
		e.ClientRequestID = clean(eb.Error.InnerError.ClientRequestID, 128)
		e.Date = clean(eb.Error.InnerError.Date, 64)
		return e
	}
	if t := strings.TrimSpace(clean(string(body), 512)); t != "" {
		e.Message = redact.String(t)
	} else {
		e.Message = http.StatusText(status)
	}
	return e
}

// clean returns at most max bytes of s, valid UTF-8 with control characters replaced.
func clean(s string, max int) string {
	if len(s) > max {
		s = s[:max]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

// errorFrom turns a non-2xx response into an *Error, reading (and closing) its body.
func (c *Client) errorFrom(ctx context.Context, k *call, resp *http.Response) *Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	httpx.Drain(resp)
	e := parseError(resp.StatusCode, body)
	e.Op = k.op
	e.Mailbox = c.mailbox
	if e.RequestID == "" {
		e.RequestID = clean(resp.Header.Get("request-id"), 128)
	}
	if e.ClientRequestID == "" {
		e.ClientRequestID = clean(resp.Header.Get("client-request-id"), 128)
	}
	if d, ok := httpx.RetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		e.RetryAfter = d
	}
	if (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) && !k.plain {
		if tok, err := mailauth.TokenContext(ctx, c.src); err == nil {
			e.Identity = mailauth.ParseIdentity(tok.AccessToken)
		}
	}
	return e
}

// wrongAudienceError is returned instead of sending an Exchange token to Graph.
type wrongAudienceError struct {
	op  string
	err *audience.Error
}

func (e *wrongAudienceError) Error() string { return "graph: " + e.op + ": " + e.err.Error() }

func (e *wrongAudienceError) Is(target error) bool { return target == ErrWrongAudience }

func (e *wrongAudienceError) Unwrap() error { return e.err }
