package fakeidp

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// A Fault replaces the answer to one token endpoint request. Queue faults
// with [IdP.InjectFaults]; each is used once, in order, by the next token
// request whose grant type matches. Build them with the Fault* functions or
// by hand.
type Fault struct {
	// Grant restricts the fault to requests with this grant_type; empty
	// matches any. Requests that do not match pass through untouched.
	Grant string

	// Hang delays the answer. With HangForever the request gets no answer
	// until the client gives up (its context ends) or the IdP closes; else,
	// after Hang, the rest of the fault applies (or, when nothing else is
	// set, the request is served normally: a slow IdP).
	Hang        time.Duration
	HangForever bool

	// Status is the HTTP status to answer with; zero serves normally (after
	// any Hang).
	Status int
	// RetryAfter, when positive, is sent as Retry-After in whole seconds.
	RetryAfter time.Duration
	// Body, when set, is sent verbatim with Content-Type application/json,
	// instead of an Entra error document.
	Body string

	// Error, when set, makes the answer an Entra error document: error,
	// error_description ("AADSTS<Code>: <Description>" plus trace lines),
	// error_codes, timestamp, trace_id, correlation_id, and SubError and
	// Claims when set.
	Error       string
	Code        int
	Description string
	SubError    string
	Claims      string
}

// FaultServerError answers HTTP 500 with an Entra error document.
func FaultServerError() Fault {
	return Fault{Status: http.StatusInternalServerError, Error: "server_error", Code: 50000,
		Description: "There was an error issuing a token or an issue with our sign-in service."}
}

// FaultServiceUnavailable answers HTTP 503 with Retry-After.
func FaultServiceUnavailable(retryAfter time.Duration) Fault {
	return Fault{Status: http.StatusServiceUnavailable, RetryAfter: retryAfter, Error: "temporarily_unavailable", Code: 90033,
		Description: "A transient error has occurred. Please try again."}
}

// FaultThrottled answers HTTP 429 with Retry-After.
func FaultThrottled(retryAfter time.Duration) Fault {
	return Fault{Status: http.StatusTooManyRequests, RetryAfter: retryAfter, Error: "temporarily_unavailable", Code: 50196,
		Description: "The server terminated an operation because it encountered a client request loop."}
}

// FaultHang never answers: the request waits until the client's context
// ends or the IdP closes. Use FaultSlow for a late but normal answer.
func FaultHang() Fault { return Fault{HangForever: true} }

// FaultSlow serves the request normally after d.
func FaultSlow(d time.Duration) Fault { return Fault{Hang: d} }

// FaultInvalidJSON answers HTTP 200 with a truncated JSON document.
func FaultInvalidJSON() Fault {
	return Fault{Status: http.StatusOK, Body: `{"token_type":"Bearer","expires_in":3599,"access_token":"eyJ0eXAiOiJKV1Qi`}
}

// FaultEntra answers with an Entra error document.
func FaultEntra(status int, errCode string, aadsts int, description string) Fault {
	return Fault{Status: status, Error: errCode, Code: aadsts, Description: description}
}

// FaultRefreshTokenExpired is AADSTS70043: invalid_grant, the refresh token
// expired or is invalid because of sign-in frequency checks by Conditional
// Access. It applies only to refresh_token requests.
func FaultRefreshTokenExpired() Fault {
	f := FaultEntra(http.StatusBadRequest, "invalid_grant", 70043,
		"The refresh token has expired or is invalid due to sign-in frequency checks by conditional access.")
	f.Grant = GrantRefreshToken
	return f
}

// FaultInteractionRequired is AADSTS50076: multi-factor authentication is
// required, so a person must sign in again. Entra's token endpoint reports it
// as error "invalid_grant" with suberror "basic_action" and a claims
// challenge; clients recognise it by the code in error_codes.
func FaultInteractionRequired() Fault {
	f := FaultEntra(http.StatusBadRequest, "invalid_grant", 50076,
		"Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access 'https://outlook.office365.com'.")
	f.SubError = "basic_action"
	f.Claims = `{"access_token":{"capolids":{"essential":true,"values":["00000000-0000-0000-0000-00000000ca01"]}}}`
	return f
}

// InjectFaults queues faults for the next token requests.
func (p *IdP) InjectFaults(faults ...Fault) {
	p.mu.Lock()
	p.faults = append(p.faults, faults...)
	p.mu.Unlock()
}

// PendingFaults reports how many injected faults have not been used yet.
func (p *IdP) PendingFaults() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.faults)
}

// ClearFaults drops every queued fault.
func (p *IdP) ClearFaults() {
	p.mu.Lock()
	p.faults = nil
	p.mu.Unlock()
}

func (p *IdP) nextFault(grant string) (Fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, f := range p.faults {
		if f.Grant == "" || f.Grant == grant {
			p.faults = append(p.faults[:i:i], p.faults[i+1:]...)
			return f, true
		}
	}
	return Fault{}, false
}

// applyFault answers per f; it reports whether the request was answered
// (false: serve it normally).
func (p *IdP) applyFault(w http.ResponseWriter, r *http.Request, f Fault) bool {
	if f.HangForever {
		select {
		case <-r.Context().Done():
		case <-p.closed:
		}
		// Never answer: returning would send an empty 200, which a client
		// still reading (its context not yet ended) takes for a token
		// response without a token.
		panic(http.ErrAbortHandler)
	}
	if !p.wait(r, f.Hang) {
		panic(http.ErrAbortHandler)
	}
	if f.Status == 0 && f.Body == "" && f.Error == "" {
		return false
	}
	status := f.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((f.RetryAfter+time.Second-1)/time.Second), 10))
	}
	if f.Body != "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(f.Body))
		return true
	}
	if f.Error == "" {
		w.WriteHeader(status)
		return true
	}
	p.entraError(w, r, status, f.Error, f.Code, f.Description, f.SubError, f.Claims)
	return true
}

// oauthError answers with Entra's error document.
func (p *IdP) oauthError(w http.ResponseWriter, r *http.Request, status int, errCode string, aadsts int, description, subError string) {
	p.entraError(w, r, status, errCode, aadsts, description, subError, "")
}

func (p *IdP) entraError(w http.ResponseWriter, r *http.Request, status int, errCode string, aadsts int, description, subError, claims string) {
	corr := r.Header.Get("client-request-id")
	if corr == "" || len(corr) > 64 {
		corr = newID()
	}
	trace := newID()
	ts := p.now().UTC().Format("2006-01-02 15:04:05Z")
	desc := description
	if aadsts != 0 {
		desc = fmt.Sprintf("AADSTS%d: %s", aadsts, description)
	}
	desc += " Trace ID: " + trace + " Correlation ID: " + corr + " Timestamp: " + ts
	doc := map[string]any{
		"error":             errCode,
		"error_description": desc,
		"timestamp":         ts,
		"trace_id":          trace,
		"correlation_id":    corr,
	}
	if aadsts != 0 {
		doc["error_codes"] = []int{aadsts}
		doc["error_uri"] = p.url + "/error?code=" + strconv.Itoa(aadsts)
	}
	if subError != "" {
		doc["suberror"] = subError
	}
	if claims != "" {
		doc["claims"] = claims
	}
	writeJSON(w, status, doc)
}
