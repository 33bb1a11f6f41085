package eas

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/modernauth/mailauth/internal/core/bearer"
)

var (
	// ErrRemoteWipe is returned when the server asks this device to wipe
	// itself during Provision. The client does not acknowledge a wipe;
	// an administrator must cancel it or remove the device partnership.
	ErrRemoteWipe = errors.New("eas: the server requested a remote wipe of this device; this client does not wipe and did not acknowledge it (cancel the wipe or remove the device from the mailbox)")

	// ErrNoPolicyKey is returned when a Provision response carries no
	// policy key although the server reported success.
	ErrNoPolicyKey = errors.New("eas: the Provision response carries no policy key")
)

// StatusError reports a command whose Status element is not success. The
// meaning and hint come from the status tables of [MS-ASCMD] 2.2.2 and
// 2.2.3.177 and [MS-ASPROV] 3.1.5.2.
type StatusError struct {
	// Command is the command that failed, such as "Sync". For a policy
	// status it is "Provision/Policy"; for one collection of a Sync it is
	// "Sync" and CollectionID is set.
	Command string
	// CollectionID names the Sync collection, when the status is per
	// collection.
	CollectionID string
	// Status is the value of the Status element.
	Status int
	// Meaning is the documented meaning of Status.
	Meaning string
	// Hint says, in plain words, what usually fixes it ("" when the
	// document gives no advice).
	Hint string
}

func newStatusError(cmd string, table map[int]statusInfo, code int) *StatusError {
	s := lookupStatus(table, code)
	return &StatusError{Command: cmd, Status: code, Meaning: s.meaning, Hint: s.hint}
}

// Error implements error.
func (e *StatusError) Error() string {
	msg := "eas: " + e.Command
	if e.CollectionID != "" {
		msg += " collection " + strconv.Quote(e.CollectionID)
	}
	msg += " status " + strconv.Itoa(e.Status) + ": " + e.Meaning
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

// NeedsProvision reports whether the status asks the client to provision
// again (140, 142, 143, 144). The Client does that by itself once per call.
func (e *StatusError) NeedsProvision() bool { return needsProvision(e.Status) }

// Temporary reports whether retrying the same request later may succeed.
func (e *StatusError) Temporary() bool {
	switch e.Command {
	case "Sync":
		if e.Status == 5 || e.Status == 16 {
			return true
		}
	case "FolderSync":
		if e.Status == 6 {
			return true
		}
	case "Ping":
		if e.Status == 8 {
			return true
		}
	case "ItemOperations":
		if e.Status == 3 || e.Status == 12 {
			return true
		}
	case "Provision":
		if e.Status == 3 {
			return true
		}
	}
	switch e.Status {
	case 110, 111, 114, 120, 133, 162, 169:
		return true
	}
	return false
}

// HTTPError reports a response whose HTTP status is not 200 and that the
// Client could not handle by itself (after its documented retries).
type HTTPError struct {
	// Command is the command that was sent, or "OPTIONS".
	Command string
	// StatusCode is the HTTP status, such as 401, 403 or 503.
	StatusCode int
	// RetryAfter is the server's Retry-After, when it sent one.
	RetryAfter time.Duration
	// BearerError is the error parameter of the server's Bearer challenge
	// (WWW-Authenticate), such as "invalid_token", when present.
	BearerError string
	// Hint says, in plain words, what usually causes this status.
	Hint string
}

// Error implements error.
func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("eas: %s: HTTP %d", e.Command, e.StatusCode)
	if t := httpStatusText(e.StatusCode); t != "" {
		msg += " " + t
	}
	if e.BearerError != "" {
		msg += " (" + e.BearerError + ")"
	}
	if e.Hint != "" {
		msg += ": " + e.Hint
	}
	return msg
}

// Temporary reports whether retrying later may succeed (500, 503, 507 and
// 429).
func (e *HTTPError) Temporary() bool {
	switch e.StatusCode {
	case http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusTooManyRequests, 507:
		return true
	}
	return false
}

func httpStatusText(code int) string {
	switch code {
	case 449:
		return "Retry With"
	case 451:
		return "Redirect"
	case 456:
		return "Blocked"
	case 457:
		return "Expired Password"
	}
	return http.StatusText(code)
}

// httpHint gives the plain-words cause of an HTTP status as [MS-ASHTTP]
// 2.2.2.1.1 documents it and as Exchange Online uses it.
func httpHint(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "the server could not parse the request (check Cmd, User, DeviceId and DeviceType)"
	case http.StatusUnauthorized:
		return "the token was rejected: it must be a delegated token for the Exchange resource (for example https://outlook.office365.com) with the EAS.AccessAsUser.All scope, for the same user as User; Exchange Online has no app-only ActiveSync access"
	case http.StatusForbidden:
		return "the user is not enabled for ActiveSync, or the device is blocked or quarantined (Set-CASMailbox -ActiveSyncEnabled, device access rules)"
	case http.StatusNotFound:
		return "the server does not know this URL or mailbox (check the ActiveSync URL and the User)"
	case 449:
		return "the server keeps asking to provision again although provisioning succeeded"
	case 451:
		return "the mailbox is served elsewhere; use the X-MS-Location URL or run Autodiscover"
	case 456:
		return "the user is blocked from ActiveSync"
	case 457:
		return "the user's password has expired"
	case http.StatusInternalServerError:
		return "the server failed; retry later"
	case http.StatusServiceUnavailable:
		return "the server is busy or is throttling this client; retry later"
	case 507:
		return "the mailbox is full"
	}
	return ""
}

// RedirectError reports an HTTP 451 the Client did not follow: the
// X-MS-Location header was missing, not https, or named a host that is
// not allowed to receive the token.
type RedirectError struct {
	// Location is the X-MS-Location value ("" when missing).
	Location string
	// Reason says why the redirect was not followed.
	Reason string
}

// Error implements error.
func (e *RedirectError) Error() string {
	if e.Location == "" {
		return "eas: HTTP 451 without X-MS-Location: " + e.Reason + " (run Autodiscover to find the mailbox's ActiveSync URL)"
	}
	return "eas: not following HTTP 451 to " + strconv.Quote(e.Location) + ": " + e.Reason +
		" (add the host to Options.AllowedHosts if you trust it)"
}

// ProtocolError reports a response body that is not the WBXML document
// the command expects. Err is the decoding error (a *wbxml.Error for
// malformed WBXML), when there is one.
type ProtocolError struct {
	// Command is the command whose response was malformed.
	Command string
	// Reason says what was wrong, such as "no SyncKey in a successful
	// Collection".
	Reason string
	// Err is the decoding error, or nil.
	Err error
}

// Error implements error.
func (e *ProtocolError) Error() string {
	msg := "eas: " + e.Command + " response: " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying decoding error.
func (e *ProtocolError) Unwrap() error { return e.Err }

var (
	_ error = (*StatusError)(nil)
	_ error = (*HTTPError)(nil)
	_ error = (*RedirectError)(nil)
	_ error = (*ProtocolError)(nil)
)

// Errors of the bearer transport under the client, exported here so callers can test
// for them with errors.As (they are the same types ews exports).

// HostNotAllowedError is returned for a request to a host that may not receive the
// token (an HTTP 451 redirect to a host outside Options.AllowedHosts, say); nothing was
// sent.
type HostNotAllowedError = bearer.HostNotAllowedError

// TokenError reports that the token source failed; it unwraps to the source's error.
type TokenError = bearer.TokenError

// ChallengeError reports a 401 or 403 carrying a claims challenge (Conditional Access,
// continuous access evaluation): get a token with those claims and try again.
type ChallengeError = bearer.ChallengeError
