package bearer

import (
	"fmt"
	"net/http"
)

// HostNotAllowedError is returned by [Transport.RoundTrip] for a request
// to a host that is not on the allow-list. Nothing was sent.
type HostNotAllowedError struct {
	Host string // host[:port] of the refused request
	// Audience, when set, is the token's audience, which does not name
	// Host (see Options.AudienceBound).
	Audience string
}

// Error names the refused host and what to do.
func (e *HostNotAllowedError) Error() string {
	if e.Audience != "" {
		return fmt.Sprintf("bearer: the token is for %s, not for host %q, so no request was sent; if that server is yours and trusted with this token, list it in the client's AllowedHosts", e.Audience, e.Host)
	}
	return fmt.Sprintf("bearer: host %q is not on the allow-list, so no request was sent; add it to AllowedHosts only if it is a server you trust with your token", e.Host)
}

// TokenError reports that the token source failed. Err is the source's
// error (for example an *oauth2.RetrieveError), reachable with errors.As.
type TokenError struct {
	Err error
}

// Error returns "bearer: getting a token: " and the source's error.
func (e *TokenError) Error() string { return "bearer: getting a token: " + e.Err.Error() }

// Unwrap returns the token source's error.
func (e *TokenError) Unwrap() error { return e.Err }

// ChallengeError is returned when the server answers 401 or 403 with a
// WWW-Authenticate claims challenge: the token was valid but lacks claims
// the resource now requires (Conditional Access, continuous access
// evaluation, a revoked session). Retrying with the same kind of token does
// not help; acquire a new token passing Challenge.Claims to the token
// endpoint (interactively if needed).
type ChallengeError struct {
	StatusCode int       // 401 or 403
	Challenge  Challenge // the Bearer challenge that carried the claims
}

// Error says a claims challenge came back and what to do; it does not
// include the claims.
func (e *ChallengeError) Error() string {
	msg := fmt.Sprintf("bearer: server answered %d %s with a claims challenge", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Challenge.Error != "" {
		msg += " (" + e.Challenge.Error + ")"
	}
	return msg + "; acquire a new token with these claims (the user may have to sign in again)"
}

var (
	_ error = (*HostNotAllowedError)(nil)
	_ error = (*TokenError)(nil)
	_ error = (*ChallengeError)(nil)
)
