// Package smtpauth authenticates go-smtp clients with OAuth 2.0 bearer tokens over SASL
// XOAUTH2 or OAUTHBEARER and sends mail through Exchange Online's submission endpoint
// (smtp.office365.com:587, STARTTLS) or any server that speaks these mechanisms.
//
//	msg := strings.NewReader("From: alice@contoso.com\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nHello.\r\n")
//	err := smtpauth.SendMail(ctx, "smtp.office365.com:587", &smtpauth.Options{
//		Token:   src,                 // any oauth2.TokenSource
//		Mailbox: "alice@contoso.com", // the mailbox that authenticates (XOAUTH2 user=)
//	}, "alice@contoso.com", []string{"bob@example.com"}, msg)
//
// [DialStartTLS] (submission, port 587) and [DialTLS] (implicit TLS, port 465) return an
// authenticated [*Client] for several messages; [NewClient] authenticates on a connection
// the caller opened. [Client.SendMailOptions] sends with ESMTP parameters (SIZE, SMTPUTF8,
// DSN, REQUIRETLS, ...) that the server advertises.
//
// # What it does that go-smtp alone does not
//
//   - The AUTH line carries the initial response only while it stays within the
//     512-octet command line limit of RFC 4954 §4. Entra tokens (1.5–2.5 KB) never fit,
//     so in practice it sends "AUTH XOAUTH2", waits for "334 " and then the payload —
//     the form Microsoft documents and the only one Dovecot accepts for long tokens.
//   - A JSON error challenge is answered (empty response for XOAUTH2, 0x01 for
//     OAUTHBEARER), and the final reply becomes a [*mailauth.AuthError]. Nothing is sent
//     after a final reply (go-smtp's own Auth sends a stray "*", which RFC 4954 allows
//     only in answer to a 334 and Exchange answers with 500 5.3.3), and a bare "334"
//     continuation with no text is accepted.
//   - Enhanced status codes become errors with a plain-words hint, testable with
//     errors.Is: [ErrSMTPAuthDisabled] and [ErrBasicAuthDisabled] (535 5.7.139),
//     [ErrAuthUnsuccessful] (535 5.7.3), [ErrTokenExpiresSoon] (501 5.5.127),
//     [ErrSendAsDenied] (554 5.2.0 SendAsDenied); "430 4.2.0 STOREDRV; mailbox
//     logon failure" becomes the module's [*mailauth.MailboxAccessError], as IMAP's
//     "authenticated but not connected" does. errors.As still reaches go-smtp's *smtp.SMTPError.
//   - When the token source can invalidate, a refused token is invalidated, a fresh one
//     fetched and the authentication retried once on a new connection, never more.
//   - Every call takes a context; go-smtp has none, so the connection is closed when the
//     context ends.
//
// # Tracing
//
// [Options.DebugWriter] receives the protocol trace ("C: " and "S: " lines) with every
// AUTH payload and anything shaped like a token redacted; it is the one trace knob, as
// imapauth's Options.DebugWriter is. [Options.Logger] gets one line per attempt.
//
// # Security
//
// A token is never sent over a connection that is not TLS (the error wraps
// [mailauth.ErrInsecure]) unless [Options.InsecureAllowPlaintext] is set and the peer is a
// loopback address; STARTTLS failures are errors, never a fallback
// to plaintext.
//
// Reference: Microsoft, "Authenticate an IMAP, POP or SMTP connection using OAuth"
// (https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth);
// RFC 4954 (SMTP AUTH), RFC 7628 (OAUTHBEARER).
package smtpauth
