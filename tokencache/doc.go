// Package tokencache caches OAuth 2.0 access tokens for mail protocols and
// refreshes them before they expire.
//
// A [Cache] hands out [Source] values. A Source implements
// [golang.org/x/oauth2.TokenSource] plus two optional methods that the
// protocol packages of this module discover by interface assertion:
// TokenContext(ctx), so a request's context reaches a blocking fetch, and
// Invalidate(tok), which drops tok only if it is still the cached token.
//
// # Cost of a hit
//
// A Source holds its cache entry. Token is an atomic load and one clock read
// compared against the start of the refresh window, plus one atomic add on a
// striped counter for [Cache.Stats]: no map lookup, no lock and no
// allocation. A cache holding 100,000 entries answers as fast as a cache
// holding one. See bench/tokencache.md in the repository for measurements
// against golang.org/x/oauth2 and MSAL Go.
//
// # Misses, early refresh and failures
//
// A miss starts one flight per key; every other caller of that key waits for
// the same flight and may leave early when its own context ends. The flight
// runs on a context detached from the caller's cancellation and bounded by
// [Options.FetchTimeout], so one impatient caller does not fail the others.
//
// A token enters its refresh window at the earliest of: the server's
// refresh_in hint, half its lifetime when it lives two hours or more, and
// [Options.RefreshMargin] (default 10 minutes) before it expires. Inside the
// window callers keep getting the valid token at once while exactly one
// background refresh runs. A failed background refresh backs off and the
// valid token keeps being served; an expired token is never served.
//
// Transient identity-provider failures (HTTP 5xx, 429 with Retry-After,
// timeouts, unreadable replies) are retried with capped back-off inside the
// flight. Other failures are returned as *[IdPError], or as
// *[InteractionRequiredError] when a person has to sign in again; both carry
// the AADSTS code and the correlation id for a support ticket.
//
// # Credentials and flows
//
// [Cache.AppOnly] covers the client-credentials grant with a client secret, a
// certificate (PEM or PKCS#12) or a signed assertion from a callback.
// [Cache.Delegated] covers a user: device code, browser sign-in with
// authorization code and PKCE on a loopback redirect, the import of an
// existing refresh token, and sign-out. Both talk to Microsoft Entra ID
// through MSAL Go, which is called only on a miss, with one MSAL client per
// partition (per tenant and credential for app-only, per account for
// delegated). App-only keys include the credential's
// [Credential.Fingerprint], a one-way digest (never the secret): a changed
// secret or a rotated certificate is a new key and goes to Entra ID at once.
// [Cache.Wrap] caches any other [golang.org/x/oauth2.TokenSource], for
// example Gmail's.
//
// # Persistence
//
// A [Store] keeps one record per partition (see [PartitionName]): the refresh
// token (rotated and written after every redemption) and the access tokens.
// Records carry a generation number and Store.Save is a compare-and-set on
// it, so a late writer never replaces a newer rotated refresh token. A store
// that is also a [Locker] lets processes that miss at once redeem once: under
// the partition lock each reloads the record and uses a token a peer has
// just written. When a shared store fails, the cache keeps serving and
// acquiring tokens from memory, counts the error in [Stats.StoreErrors],
// and writes its newest record through once the store answers again. [MemoryStore] is the
// default; [FileStore] keeps one 0600 file per partition, written
// atomically, with a cross-process lock so several processes sharing a
// directory redeem a refresh token once. [EncryptedStore] seals any store's
// records with AES-GCM under a key the caller supplies. Writes never sit on
// the hit path.
//
// # Secrets
//
// No token, secret, refresh token, assertion or key appears in an error
// string, a log line or the %v, %+v or %#v output of any type of this
// package. Logging is off unless [Options.Logger] is set.
package tokencache
