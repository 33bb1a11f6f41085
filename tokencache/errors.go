package tokencache

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/modernauth/mailauth/internal/core/httpx"

	"golang.org/x/oauth2"
)

// IdPError reports a token request that the identity provider refused or
// could not answer. The fields come from the provider's JSON error reply;
// they never contain a token or a secret. Use [errors.As] to get one.
type IdPError struct {
	// StatusCode is the HTTP status of the reply, or 0 when no reply
	// arrived (timeout, connection refused).
	StatusCode int
	// Code is the OAuth error code ("invalid_grant", "invalid_client",
	// "temporarily_unavailable").
	Code string
	// AADSTS is Entra's numeric error code with its prefix, e.g.
	// "AADSTS70043" (refresh token expired); empty when the reply had none.
	AADSTS string
	// Description is the provider's error_description, shortened.
	Description string
	// CorrelationID and TraceID identify the request for a support case.
	CorrelationID, TraceID string
	// RetryAfter is the wait the provider asked for (HTTP 429/503), or 0.
	RetryAfter time.Duration
	// Transient reports that the request may succeed later without any
	// change (5xx, 429, timeout, unreadable reply).
	Transient bool
	// Hint is a plain-words suggestion for the person reading the error.
	// For the sign-in failures listed at [Explain] it is Cause and Fix.
	Hint string
	// Cause and Fix say in plain words why a known AADSTS failure
	// happened and what to do about it (see [Explain]); empty for other
	// failures.
	Cause, Fix string

	err error // sanitized cause
}

// Error describes the failure in one line: HTTP status, OAuth error code,
// AADSTS code, the provider's description, the correlation id and a hint.
func (e *IdPError) Error() string {
	var b strings.Builder
	if e.StatusCode == 0 && (e.Code == "client_error" || e.Code == "source_error") {
		return "tokencache: token request failed: " + e.Description
	}
	b.WriteString("tokencache: identity provider")
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " answered HTTP %d", e.StatusCode)
	} else {
		b.WriteString(" did not answer")
	}
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.AADSTS != "" {
		b.WriteString(" (" + e.AADSTS + ")")
	}
	if e.Description != "" {
		b.WriteString(": " + e.Description)
	} else if e.err != nil {
		b.WriteString(": " + e.err.Error())
	}
	if e.CorrelationID != "" {
		b.WriteString("; correlation id " + e.CorrelationID)
	}
	if e.Hint != "" {
		b.WriteString("; " + e.Hint)
	}
	return b.String()
}

// Unwrap returns the sanitized cause (for example a [net.Error] or
// [context.DeadlineExceeded]), or nil.
func (e *IdPError) Unwrap() error { return e.err }

// GoString makes %#v print the same safe text as Error.
func (e *IdPError) GoString() string { return "&tokencache.IdPError{" + e.Error() + "}" }

// Temporary reports whether retrying later may succeed.
func (e *IdPError) Temporary() bool { return e.Transient }

// InteractionRequiredError reports that the identity provider will not issue
// a token until a person signs in again (MFA required, consent missing,
// refresh token expired or revoked, password changed). Retrying does not
// help: run a sign-in flow ([User.SignInDeviceCode], [User.SignInBrowser]).
type InteractionRequiredError struct {
	IdPError
}

// Error is like [IdPError.Error], prefixed to say a sign-in is required.
func (e *InteractionRequiredError) Error() string {
	return strings.Replace(e.IdPError.Error(), "tokencache: identity provider", "tokencache: sign-in required: identity provider", 1)
}

// GoString makes %#v print the same safe text as Error.
func (e *InteractionRequiredError) GoString() string {
	return "&tokencache.InteractionRequiredError{" + e.Error() + "}"
}

// Unwrap returns the embedded *IdPError, so errors.As finds either type.
func (e *InteractionRequiredError) Unwrap() error { return &e.IdPError }

// ErrNotSignedIn is returned by a delegated [Source] when the account has no
// refresh token (it never signed in, or signed out). Sign in first.
var ErrNotSignedIn = errors.New("tokencache: account is not signed in; run a sign-in flow (device code, browser or refresh-token import) first")

// Temporary reports whether err is a failure that may go away by itself
// (an identity provider outage, throttling or a timeout), as opposed to one
// that needs a change (wrong secret, sign-in required).
func Temporary(err error) bool {
	var ie *InteractionRequiredError
	if errors.As(err, &ie) {
		return false
	}
	var e *IdPError
	if errors.As(err, &e) {
		return e.Transient
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// interaction-required AADSTS codes and OAuth error codes. Sources: the
// Entra error code reference (AADSTS50076 MFA, 50079 MFA registration,
// 65001 consent, 70043/700082 refresh token expired, 50173 grant revoked,
// 700084 SPA refresh token expired, 50078, 50158 external challenge,
// 530003 device management) and RFC 6749 §5.2 (invalid_grant).
var interactionCodes = map[string]bool{
	"AADSTS50076": true, "AADSTS50079": true, "AADSTS50078": true, "AADSTS65001": true,
	"AADSTS70043": true, "AADSTS700082": true, "AADSTS700084": true, "AADSTS50173": true,
	"AADSTS50158": true, "AADSTS530003": true, "AADSTS50058": true, "AADSTS70008": true,
	"AADSTS54005": true, "AADSTS70000": true,
	"AADSTS70044": true, "AADSTS50133": true, "AADSTS53003": true,
}

func hintFor(e *IdPError) string {
	if cause, fix, ok := Explain(e.AADSTS); ok {
		e.Cause, e.Fix = cause, fix
		return cause + "; " + fix
	}
	switch {
	case e.AADSTS == "AADSTS70043" || e.AADSTS == "AADSTS700082" || e.AADSTS == "AADSTS70008":
		return "the refresh token has expired; sign in again"
	case e.AADSTS == "AADSTS50076" || e.AADSTS == "AADSTS50079":
		return "the tenant requires multi-factor authentication; sign in interactively"
	case e.AADSTS == "AADSTS65001":
		return "the application has no consent for these scopes; an administrator must grant consent"
	case e.AADSTS == "AADSTS7000215" || e.AADSTS == "AADSTS7000222":
		return "the client secret is wrong or expired; create a new one in the app registration"
	case e.AADSTS == "AADSTS700016":
		return "the client id is not registered in this tenant"
	case e.AADSTS == "AADSTS90002":
		return "the tenant does not exist; check the tenant id and the cloud"
	case e.Code == "interaction_required" || e.Code == "invalid_grant":
		return "sign in again"
	case e.StatusCode == 429:
		return "the identity provider is throttling this client; slow down"
	case e.Transient:
		return "the identity provider is unavailable; retry later"
	}
	return ""
}

// entraError is the JSON error body of Entra's token endpoint (and of any
// RFC 6749 §5.2 server).
type entraError struct {
	Error         string `json:"error"`
	Description   string `json:"error_description"`
	ErrorCodes    []int  `json:"error_codes"`
	CorrelationID string `json:"correlation_id"`
	TraceID       string `json:"trace_id"`
	Suberror      string `json:"suberror"`
	// Message and CorrelationId are what managed identity endpoints
	// (App Service, IMDS) send instead.
	Message       string `json:"message"`
	CorrelationId string `json:"correlationId"` //lint:ignore ST1003 the JSON name
}

// idpError builds an *IdPError (or *InteractionRequiredError) from an HTTP
// reply. cause is kept for Unwrap only if it is safe to print.
func idpError(status int, header http.Header, body []byte, cause error) error {
	e := &IdPError{StatusCode: status, err: cause}
	var eb entraError
	if len(body) > 0 && json.Unmarshal(body, &eb) == nil {
		e.Code = eb.Error
		e.Description = shorten(eb.Description)
		if e.Description == "" {
			e.Description = shorten(eb.Message)
		}
		if eb.CorrelationID == "" {
			eb.CorrelationID = eb.CorrelationId
		}
		e.CorrelationID = safeID(eb.CorrelationID)
		e.TraceID = safeID(eb.TraceID)
		if len(eb.ErrorCodes) > 0 {
			e.AADSTS = "AADSTS" + strconv.Itoa(eb.ErrorCodes[0])
		} else if m := aadstsRE.FindString(eb.Description); m != "" {
			e.AADSTS = m
		}
		e.err = nil
	} else if status != 0 && len(body) > 0 {
		e.Code = "invalid_response"
		e.Description = "the reply was not the JSON the protocol requires"
		e.err = nil
	}
	if status == 0 && e.Code == "" && cause == nil {
		e.Code = "invalid_response"
	}
	if header != nil {
		if d, ok := httpx.RetryAfter(header.Get("Retry-After"), time.Now()); ok {
			e.RetryAfter = min(d, 5*time.Minute)
		}
	}
	e.Transient = status == 0 || status >= 500 || status == 429 || status == 408 ||
		e.Code == "temporarily_unavailable" || e.Code == "invalid_response"
	if status == 0 && cause != nil && !isTimeoutLike(cause) {
		// Connection refused, DNS failure, TLS failure: worth a retry,
		// but a TLS certificate problem is not.
		var ce *tls.CertificateVerificationError
		if errors.As(cause, &ce) {
			e.Transient = false
			e.Hint = "the identity provider's TLS certificate is not trusted"
		}
	}
	interaction := e.Code == "interaction_required" || e.Code == "consent_required" ||
		e.Code == "login_required" || interactionCodes[e.AADSTS] ||
		(e.Code == "invalid_grant" && e.AADSTS == "")
	if e.Hint == "" {
		e.Hint = hintFor(e)
	}
	if interaction {
		e.Transient = false
		return &InteractionRequiredError{IdPError: *e}
	}
	return e
}

var aadstsRE = regexp.MustCompile(`AADSTS\d{5,7}`)

func isTimeoutLike(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// shorten cuts a provider message to its first line and 300 bytes.
func shorten(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// safeID keeps an id only if it looks like one (a GUID or similar).
func safeID(s string) string {
	if len(s) > 64 {
		return ""
	}
	for _, r := range s {
		if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return ""
		}
	}
	return s
}

// transportError wraps a failure to reach the provider, keeping only the
// kind of failure: a *url.Error's text carries the URL, which is safe, but
// its wrapped request is not kept.
func transportError(err error) error {
	if isTimeoutLike(err) {
		return idpError(0, nil, nil, fmt.Errorf("request timed out: %w", context.DeadlineExceeded))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return idpError(0, nil, nil, errors.New(ue.Op+" "+ue.URL+": "+rootText(ue.Err)))
	}
	return idpError(0, nil, nil, errors.New(rootText(err)))
}

func rootText(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

// classifyOAuth2 turns an error from an x/oauth2 token source into a typed
// error without keeping the HTTP request (whose body holds secrets).
func classifyOAuth2(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		var h http.Header
		if re.Response != nil {
			status, h = re.Response.StatusCode, re.Response.Header
		}
		out := idpError(status, h, re.Body, nil)
		if ie, ok := out.(*IdPError); ok && ie.Code == "" {
			ie.Code = re.ErrorCode
			ie.Description = shorten(re.ErrorDescription)
		}
		return out
	}
	var ie *IdPError
	if errors.As(err, &ie) {
		return err
	}
	if isTimeoutLike(err) || errors.As(err, new(*url.Error)) {
		return transportError(err)
	}
	return &IdPError{Code: "source_error", Description: shorten(err.Error())}
}
