// Package sasl holds the wire format shared by imapauth, popauth and smtpauth: the SASL
// XOAUTH2 and OAUTHBEARER (RFC 7628) client mechanisms, the parser for the server's JSON
// error challenge, the typed [AuthError] every protocol package returns, and the
// unverified decoding of a token's identity claims used in error messages.
//
// # Error challenges
//
// When a server rejects a bearer token it may answer the payload with a continuation
// (IMAP and POP3 "+", SMTP "334") carrying base64 JSON such as
// {"status":"401","schemes":"bearer","scope":"mail"}. The client must answer it (an empty
// response for XOAUTH2, a single 0x01 byte for OAUTHBEARER, RFC 7628 §3.2.3) and then read
// the server's final failure. [Client] does exactly that: its Next method never returns an
// error for the first two challenges, so the protocol library in use (go-imap, go-smtp or
// popauth's own loop) always completes the exchange instead of leaving it half open.
//
// # Secrets
//
// Nothing in this package prints a token: [AuthError], [Identity] and [Client] carry only
// claims decoded from the token (upn, oid, appid, tid, aud, scp, roles, exp).
package sasl
