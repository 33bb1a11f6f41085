// Package relay lets programs that can only log in with a user name and a password
// (multifunction printers, scanners, old scripts) keep reading and sending mail after
// basic authentication is switched off.
//
// A [Relay] listens for IMAP, POP3 and SMTP submission on the local side. Clients log
// in the old way (IMAP LOGIN and AUTHENTICATE PLAIN, POP3 USER/PASS and AUTH PLAIN,
// SMTP AUTH PLAIN and LOGIN) with a local password that the relay keeps only as an
// argon2id or bcrypt hash ([HashPassword], [CheckPassword]). Failed logins are delayed
// and, after Options.MaxFailures in Options.FailureWindow, refused per client address
// without looking at the password.
//
// Upstream, the relay logs in with SASL XOAUTH2 and a token from the account's
// oauth2.TokenSource (for example a tokencache source), through the SDK's clients:
// imapauth's [imapauth.RawConn] for IMAP and popauth for POP3, so the upstream login
// follows their rules (initial response only where the server advertises SASL-IR, the
// error challenge answered, one retry with a fresh token after a refused one, and the
// probe after login). A token the upstream refuses, or a mailbox it will not open
// (Exchange's "not connected"), gets the client a NO or -ERR saying so, a counted
// failure and a log record with the typed error. For IMAP and POP3 the relay then gets
// out of the way and copies bytes both ways, so IDLE, large FETCHes and APPENDs work
// unchanged; an upstream session that ends on token expiry ends the client's.
// SMTP submissions are forwarded per message through smtpauth, or, for an account
// with a Graph client, sent with Microsoft Graph sendMail as raw MIME.
//
// SMTP clients from Options.DeviceNetworks may submit without AUTH and send as
// Options.DeviceAccount; other clients without AUTH get 530 5.7.0.
//
// # Capabilities
//
// Before login a client sees the upstream's capabilities with the upstream's AUTH
// mechanisms replaced by the local ones (PLAIN and LOGIN on a secure connection, none
// otherwise) and STARTTLS/STLS only when the relay offers it. Serve reads them once
// before its first accept, without logging in; no session opens an upstream connection
// for them.
//
// For SMTP the EHLO list is read after TLS (implicit or STARTTLS, verified), and read
// again in the background when a session starts and the list is an hour old, or a
// minute after a failed read (until then the relay shows its own list). The relay shows
// only what it honours end to end: SIZE (the smaller of the upstream's and
// Options.MaxMessageBytes, so a larger SIZE= gets 552 before DATA), LIMITS RCPTMAX (at
// most 500), and SMTPUTF8, DSN, REQUIRETLS, RRVS, DELIVERBY and MT-PRIORITY, whose MAIL
// and RCPT parameters go to the upstream unchanged (the client's MAIL AUTH= does not).
// BINARYMIME, BURL, VRFY, ETRN, XCLIENT and vendor extensions are dropped. go-smtp
// always shows PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES and CHUNKING: PIPELINING,
// ENHANCEDSTATUSCODES and CHUNKING concern only the client's hop (BDAT chunks are
// joined and the message goes upstream with DATA); for an upstream without 8BITMIME a
// BODY=8BITMIME is refused with 554 5.6.3. When an
// account sends through Graph, or no SMTP upstream is set, the parameter-carrying
// extensions are not shown (Graph cannot honour them); the graph package states no
// limit for a whole message, so a Graph-only relay's SIZE is Options.MaxMessageBytes.
//
// # Security
//
// A plaintext listener is allowed only on a loopback address or, for SMTP, on an
// address inside one of the device networks ([Relay.Listen] fails with an error wrapping
// mailauth.ErrInsecure otherwise). Passwords are accepted only over TLS or from a
// loopback client. Upstream TLS is always verified. Log records never carry a
// password, a hash, a token or a SASL payload.
//
// # Transcript
//
// Options.DebugWriter receives a transcript of each session until the relay starts
// copying bytes: the client's lines ("C:") and the relay's answers ("S:"), the
// upstream login ("upstream" lines, from imapauth, popauth and smtpauth's traces), and
// for SMTP the whole session with message bodies replaced by their size. A LOGIN or
// PASS password, every SASL response and every token show as [REDACTED], and every
// line passes through the module's redactor.
package relay
