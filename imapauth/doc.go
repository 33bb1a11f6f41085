// Package imapauth authenticates go-imap v2 clients with OAuth 2.0 bearer tokens over SASL
// XOAUTH2 or OAUTHBEARER (RFC 7628), the way Exchange Online, Gmail and Dovecot expect.
//
//	c, err := imapauth.DialTLS(ctx, "outlook.office365.com:993", &imapauth.Options{
//		Token:   src,                  // any oauth2.TokenSource, e.g. a tokencache source
//		Mailbox: "shared@contoso.com", // the mailbox to open (XOAUTH2 user=)
//	})
//	if err != nil { ... }
//	defer c.Close()
//	mbox, err := c.Select("INBOX", nil).Wait() // c embeds *imapclient.Client
//
// # What it does that go-imap alone does not
//
//   - The payload goes out as an initial response only when the server advertises
//     SASL-IR; otherwise it waits for the "+" (RFC 4959).
//   - A JSON error challenge is answered (empty response for XOAUTH2, 0x01 for
//     OAUTHBEARER) so the server can finish with NO instead of the connection hanging;
//     the failure comes back as a [*mailauth.AuthError] carrying the challenge's status, the
//     server's text and the claims of the token that was refused (never the token).
//   - After the tagged OK it runs a cheap probe (LIST "" "") because Exchange accepts a
//     token for a mailbox its user may not open and only then answers
//     "BAD User is authenticated but not connected."; that becomes a
//     [*mailauth.MailboxAccessError] naming the two usual causes (the same type POP3 and
//     SMTP return).
//   - When the token source can invalidate (tokencache's can), a refused token is
//     invalidated, a fresh one fetched and the authentication retried once, never more.
//   - The token's expiry is kept on the [Conn]; "* BYE ... AccessTokenExpired" becomes a
//     [*TokenExpiredError], and [Session] re-dials before expiry so an IDLE loop survives
//     hour after hour.
//
// # Proxies
//
// A proxy that logs in upstream and then copies bytes both ways cannot use imapclient,
// which reads from its connection in a goroutine of its own. [DialTLSRaw] and
// [DialStartTLSRaw] log in line by line under the same rules, from the same code, and
// [RawConn.Detach] hands back the connection with the bytes already read.
//
// # Security
//
// A token is never sent over a connection that is not TLS (the error wraps
// [mailauth.ErrInsecure]) unless [Options.InsecureAllowPlaintext] is set and the server is
// on a loopback address. [DialTLS] uses implicit TLS (port 993);
// [DialStartTLS] upgrades with STARTTLS (port 143) and fails rather than continue in
// plaintext. The legacy "delegate@contoso.com\shared" user form is rejected:
// Exchange Online no longer supports it; put the shared mailbox in Options.Mailbox and
// use the delegate's token. Debug output configured through Options.DebugWriter has the
// SASL payloads redacted.
//
// Reference: Microsoft, "Authenticate an IMAP, POP or SMTP connection using OAuth"
// (https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth).
package imapauth
