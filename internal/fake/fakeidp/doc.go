// Package fakeidp is an in-process Microsoft Entra ID for tests, benchmarks and
// the quickstart.
//
// An [IdP] is an HTTPS server on 127.0.0.1 (net/http/httptest) that MSAL Go
// accepts as an authority when instance discovery is off:
//
//	client, err := confidential.New(idp.Authority("t1"), "app1", cred,
//		confidential.WithInstanceDiscovery(false),
//		confidential.WithHTTPClient(idp.HTTPClient()))
//
// It serves, for any tenant segment:
//
//	GET  /{tenant}/v2.0/.well-known/openid-configuration
//	GET  /{tenant}/discovery/v2.0/keys            (also /discovery/v2.0/keys)
//	GET  /{tenant}/oauth2/v2.0/authorize          (auth code + PKCE, redirects at once)
//	POST /{tenant}/oauth2/v2.0/devicecode
//	POST /{tenant}/oauth2/v2.0/token              (client_credentials, refresh_token,
//	                                               authorization_code, device_code)
//	GET  /devicelogin?user_code=..&login_hint=..  (approves a device code)
//
// Access tokens are RS256 JWTs signed by the IdP's own key with the claims
// Exchange Online puts in its tokens (aud, iss, tid, oid, upn,
// preferred_username, appid, azp, scp or roles, iat, nbf, exp), so protocol
// test servers validate them with [IdP.Verify] or with the JWKS. Token
// responses follow Entra's shape, including expires_in, ext_expires_in,
// refresh_in (when [Options.RefreshIn] is set), and for delegated flows a
// rotating refresh_token, an id_token and client_info. Errors use Entra's JSON
// error shape (error, error_description starting "AADSTSnnnn: ", error_codes,
// timestamp, trace_id, correlation_id).
//
// Beyond that it serves what the secretless and special flows need: the App
// Service managed identity endpoint on a plain-HTTP loopback port
// ([IdP.ManagedIdentityEndpoint], [IdP.AddManagedIdentity]: GET with
// api-version=2019-08-01, resource, client_id/object_id/mi_res_id and the
// X-IDENTITY-HEADER header); workload identity federation, where a client
// assertion is accepted only if it is the current content of the app's token
// file ([App.FederatedTokenFile], [IdP.FederatedAssertions]); the consumers
// tenant, which takes only personal accounts ([ConsumersTenantID]); and
// claims requests, which it records ([IdP.Claims]) and answers with tokens
// carrying xms_cc and the requested claims.
//
// Tests shape the IdP with [Options] (lifetimes, latency, audience) and with
// [IdP.InjectFaults], which makes the next token requests fail in a chosen
// way (HTTP 500, 429 with Retry-After, a hang, invalid JSON, an AADSTS error).
// [IdP.Requests] counts token requests per grant type.
//
// The package has no global state; every IdP is independent. It never writes
// secrets, tokens or keys to its error strings or to the %v forms of its types.
package fakeidp
