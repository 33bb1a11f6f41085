// Package popauth is a small POP3 client (RFC 1939) that authenticates with
// OAuth 2.0 bearer tokens over SASL XOAUTH2 or OAUTHBEARER (RFC 5034, RFC 7628),
// as Exchange Online, Gmail and Dovecot expect.
//
// It speaks implicit TLS (port 995, [DialTLS]) and STLS (RFC 2595, [DialStartTLS]),
// CAPA (RFC 2449), and the mailbox commands STAT, LIST, UIDL, RETR, TOP, DELE,
// RSET, NOOP and QUIT. RETR and TOP return streaming readers that undo the
// dot-stuffing of RFC 1939 section 3, so a large message never has to fit in
// memory.
//
// # Authentication
//
// [Client.Authenticate] always sends AUTH XOAUTH2 in two steps: the command,
// the server's "+" and then the payload. Exchange Online answers the one-line
// form with "-ERR Protocol error", and RFC 5034 forbids an initial response
// that makes the line longer than 255 octets, which every real token does.
// OAUTHBEARER (also in two steps) is used when the caller asks for it with
// [Options.Mechanism] and the server advertises it in CAPA; otherwise
// XOAUTH2 is used.
//
// When the server rejects the token with an error challenge (base64 JSON such
// as {"status":"401","schemes":"bearer","scope":"mail"}), the client answers it
// as the mechanism requires, reads the final -ERR and returns a [*mailauth.AuthError]
// that carries the JSON status and the server's text, never the token. If the
// token source can invalidate a token (a method Invalidate(*oauth2.Token)),
// the rejected token is dropped, a fresh one is fetched and the login is tried
// once more, never twice.
//
// After the server accepts the token, Authenticate sends STAT before it
// reports success: a login that the server accepts but whose mailbox cannot be
// opened surfaces as a [*mailauth.MailboxAccessError] with the usual causes spelled out.
//
// A token source that has a method TokenContext(ctx) gets the context of
// the call, so cancelling a dial also cancels a token request in flight.
//
// # Security
//
// A token is only sent over TLS. On a connection that is not TLS,
// Authenticate returns an error wrapping [mailauth.ErrInsecure] before it asks the token source for a
// token, unless [Options.InsecureAllowPlaintext] is set (for tests on
// loopback).
//
// # Deadlines
//
// Every method that does I/O takes a context. Its deadline becomes the
// connection's deadline, and cancelling it interrupts a blocked read or
// write. After an interrupted command the connection is in an unknown state
// and the Client refuses further commands with [ErrBroken].
package popauth
