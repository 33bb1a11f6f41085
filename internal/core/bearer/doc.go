// Package bearer provides the one OAuth 2.0 bearer [http.RoundTripper]
// behind the ews, eas and autodiscover packages.
//
// A [Transport] fetches a token for every request from an
// [golang.org/x/oauth2.TokenSource] (through TokenContext with the request's
// context when the source has it), adds "Authorization: Bearer …" to a clone
// of the request and hands the clone to the base transport.
//
// # Security defaults
//
//   - A token is sent only to a host named in [Options.AllowedHosts]. A
//     request for any other host fails with a [*HostNotAllowedError] before
//     anything is sent.
//   - A token never follows a redirect to another host: when the request is
//     a redirect hop (http.Client sets Request.Response) whose scheme or host
//     differs from the first request's, it goes out without a token. Use
//     [CheckRedirect] (or [Transport.Client]) so an http.Client also refuses
//     https-to-http downgrades and strips a caller-set Authorization header.
//   - Plain http is refused with an error wrapping mailauth.ErrInsecure unless
//     [Options.InsecureAllowHTTP] is set and the host is a loopback address.
//   - Tokens never appear in an error, a log line or a %v of any value of
//     this package.
//
// # Retries
//
// On 401 the transport invalidates the token (when the source has an
// Invalidate(*oauth2.Token) method), fetches a new one and retries once,
// replaying the body through Request.GetBody. A 401 or 403 whose
// WWW-Authenticate header carries a claims challenge (Conditional Access,
// continuous access evaluation) is answered once when the source is a
// [mailauth.ClaimsTokenSource]: one new token with the challenge's claims
// and one retry. A second challenge, or a source that cannot take claims,
// makes RoundTrip return a [*ChallengeError]; a source that needs a person
// to act returns its own error (tokencache's InteractionRequiredError)
// inside a [*TokenError]. On 429 and 503 it honours Retry-After, or waits with a
// capped exponential back-off, at most [Options.MaxRetries] times, and never
// past the request context's deadline.
package bearer
