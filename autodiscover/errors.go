package autodiscover

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// Sentinel errors. They are reached through [*RedirectError],
// [*LookupError] and friends with errors.Is.
var (
	// ErrInvalidEmail is returned for an address Lookup cannot use: not
	// local@domain, a domain with a single label (autodiscover would then
	// ask a top-level domain), or characters that do not belong in a host
	// name.
	ErrInvalidEmail = errors.New("autodiscover: not a usable e-mail address")

	// ErrHostNotAllowed means a redirect, an SRV record or a returned URL
	// pointed at a host outside the allow-list. Nothing was sent to it.
	ErrHostNotAllowed = errors.New("autodiscover: host is not on the allow-list")

	// ErrInsecureRedirect means a redirect or a returned URL was not https.
	ErrInsecureRedirect = errors.New("autodiscover: refusing a URL that is not https")

	// ErrRedirectLoop means a redirect led back to a URL or an address
	// already tried in this lookup.
	ErrRedirectLoop = errors.New("autodiscover: redirect loop")

	// ErrTooManyRedirects means the lookup followed more redirects than
	// Options.MaxRedirects allows.
	ErrTooManyRedirects = errors.New("autodiscover: too many redirects")

	// ErrNotFound means every candidate endpoint failed or answered without
	// the requested setting.
	ErrNotFound = errors.New("autodiscover: no autodiscover endpoint returned the setting")
)

// RedirectError reports a redirect (HTTP 3xx, redirectUrl, redirectAddr)
// or a URL in an answer that the client refused to follow. Err is one of
// [ErrHostNotAllowed], [ErrInsecureRedirect], [ErrRedirectLoop] or
// [ErrTooManyRedirects], or the error of Options.CheckRedirect.
type RedirectError struct {
	From string // the endpoint that answered with the redirect
	To   string // the URL or e-mail address it pointed to
	Err  error
}

func (e *RedirectError) Error() string {
	msg := fmt.Sprintf("autodiscover: refused redirect from %s to %s: %s", e.From, e.To, strings.TrimPrefix(e.Err.Error(), "autodiscover: "))
	switch {
	case errors.Is(e.Err, ErrHostNotAllowed):
		if u, err := url.Parse(e.To); err == nil && u.Host != "" {
			if name := otherCloud(u.Hostname()); name != "" {
				msg += " (that host belongs to the " + name + " cloud; set Options.Cloud to it)"
				break
			}
		}
		msg += " (if you trust that host, name its domain in Options.AllowedDomains)"
	case errors.Is(e.Err, ErrInsecureRedirect):
		msg += " (autodiscover answers must come over https)"
	case errors.Is(e.Err, ErrRedirectLoop):
		msg += " (the autodiscover configuration of this domain is circular)"
	}
	return msg
}

// Unwrap returns Err.
func (e *RedirectError) Unwrap() error { return e.Err }

// HTTPError reports an autodiscover endpoint that answered with an HTTP
// status other than 200 (after any bearer retry).
type HTTPError struct {
	URL        string
	StatusCode int
	// Bearer is true when a 401 carried a Bearer challenge
	// (WWW-Authenticate: Bearer).
	Bearer bool
	// Hint says in plain words what the status usually means here; it may
	// be empty.
	Hint string
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("autodiscover: %s answered %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Hint != "" {
		msg += ": " + e.Hint
	}
	return msg
}

// TokenNotAllowedError reports an endpoint that asked for a bearer token
// (401 with WWW-Authenticate: Bearer) on a host that may not receive one:
// neither a host of the cloud nor in Options.AllowedDomains. No token was
// sent.
type TokenNotAllowedError struct {
	URL  string
	Host string
}

func (e *TokenNotAllowedError) Error() string {
	return fmt.Sprintf("autodiscover: %s asks for a bearer token, but %s is neither a host of the cloud nor in Options.AllowedDomains, so none was sent (name its domain there if it is your Exchange server)", e.URL, e.Host)
}

// ResponseError is an error the autodiscover service itself returned in
// its answer: a POX Error element, a SOAP ErrorCode other than NoError, a
// SOAP fault, or an error object in v2 JSON.
type ResponseError struct {
	URL     string
	Method  Method
	Code    string // e.g. "600", "InvalidUser", "ServerBusy"
	Message string
}

func (e *ResponseError) Error() string {
	msg := fmt.Sprintf("autodiscover: %s (%s) returned error %s", e.URL, e.Method, e.Code)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if h := responseHint(e.Code); h != "" {
		msg += " (" + h + ")"
	}
	return msg
}

func responseHint(code string) string {
	switch code {
	case "InvalidUser", "500":
		return "the server does not know this mailbox; check the address"
	case "ServerBusy":
		return "the server is busy; try again later"
	case "600", "InvalidRequest":
		return "the server did not understand the request"
	case "601", "ProviderUnavailable":
		return "the server has no settings for the requested protocol"
	}
	return ""
}

// Attempt is one step of a lookup: a request sent (or refused) and how it
// ended.
type Attempt struct {
	// Method is MethodV2, MethodPOX or MethodSOAP for requests, or
	// "http-redirect" (the plain-http probe), "srv" (the SRV lookup) or
	// "redirect" (a refused redirect target).
	Method Method
	URL    string // the endpoint, or the refused redirect target
	Email  string // the address asked for
	Err    error  // nil for the step that succeeded or redirected
}

// LookupError is returned by [Client.Lookup] when no URL was found. Err is
// [ErrNotFound], [ErrTooManyRedirects], [ErrRedirectLoop] or
// [ErrInvalidEmail]; Attempts lists what was tried. errors.As and errors.Is
// see Err and the error of every attempt.
type LookupError struct {
	Email    string
	Protocol Protocol
	Attempts []Attempt
	Err      error
}

func (e *LookupError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "autodiscover: no %s URL for %s: %s", e.Protocol, e.Email, strings.TrimPrefix(e.Err.Error(), "autodiscover: "))
	// The most telling causes first: what the caller can act on.
	var failed []error
	for _, a := range e.Attempts {
		if a.Err != nil {
			failed = append(failed, a.Err)
		}
	}
	sort.SliceStable(failed, func(i, j int) bool { return errRank(failed[i]) < errRank(failed[j]) })
	for i, err := range failed {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more (see LookupError.Attempts)", len(failed)-3)
			break
		}
		fmt.Fprintf(&b, "; %s", strings.TrimPrefix(err.Error(), "autodiscover: "))
	}
	return b.String()
}

// errRank orders attempt errors by how much they tell the caller.
func errRank(err error) int {
	var (
		tn *TokenNotAllowedError
		re *RedirectError
		he *HTTPError
		se *ResponseError
	)
	switch {
	case errors.As(err, &tn):
		return 0
	case errors.As(err, &re):
		return 1
	case errors.As(err, &he) && (he.StatusCode == http.StatusUnauthorized || he.StatusCode == http.StatusForbidden):
		return 2
	case errors.As(err, &se) && se.Code != "ProtocolMismatch" && se.Code != "NoSetting":
		return 3
	case errors.As(err, &se):
		return 5
	}
	return 4
}

// Unwrap returns Err followed by the errors of the attempts.
func (e *LookupError) Unwrap() []error {
	out := []error{e.Err}
	for _, a := range e.Attempts {
		if a.Err != nil {
			out = append(out, a.Err)
		}
	}
	return out
}

var (
	_ error = (*RedirectError)(nil)
	_ error = (*HTTPError)(nil)
	_ error = (*TokenNotAllowedError)(nil)
	_ error = (*ResponseError)(nil)
	_ error = (*LookupError)(nil)
)
