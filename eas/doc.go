// Package eas is an Exchange ActiveSync client that authenticates with
// OAuth 2.0 bearer tokens, for Exchange Online and Exchange Server.
//
// A [Client] speaks for one mailbox as one device. It sends each command
// as an HTTP POST to /Microsoft-Server-ActiveSync with the Cmd, User,
// DeviceId and DeviceType query parameters (plain, or the base64-encoded
// form of [MS-ASHTTP] 2.2.1.1.1.1), the MS-ASProtocolVersion (14.1 or 16.1)
// and X-MS-PolicyKey headers and a WBXML body ([eas/wbxml]):
//
//	c, err := eas.New(&eas.Options{
//		Mailbox:  "alice@contoso.com",
//		DeviceID: "mailauth0001",
//		Token:    src, // EAS.AccessAsUser.All for https://outlook.office365.com
//	})
//	folders, err := c.Folders(ctx)             // FolderSync
//	res, err := c.SyncFolder(ctx, inboxID, nil) // Sync, following MoreAvailable
//	msg, err := c.Fetch(ctx, inboxID, res.Added[0].ServerID, nil)
//	save(c.State())                            // sync keys, policy key, URL
//
// # What the client handles by itself
//
//   - Provisioning ([MS-ASPROV]): on HTTP 449 or a command status of 140,
//     142, 143 or 144 it runs Provision (both phases: policy request, then
//     acknowledgement of the temporary key) and resends the command, once.
//   - HTTP 451 ([MS-ASHTTP] 3.1.5.2.2): it switches to the X-MS-Location URL,
//     but only when that URL is https and its host is allowed to receive
//     the token ([Options.AllowedHosts]); otherwise it returns a
//     [*RedirectError] and the caller should run Autodiscover.
//   - HTTP 503 and 429: it honours Retry-After (capped by
//     [Options.MaxBackoff]) up to [Options.MaxRetries] times.
//   - HTTP 401: it invalidates the token (when the source can) and retries
//     once with a fresh one.
//
// # Errors
//
// A command's Status element other than success becomes a [*StatusError]
// carrying the documented meaning of the code and a hint; HTTP failures
// become [*HTTPError]; undecodable bodies [*ProtocolError]. Use errors.As.
//
// # Security
//
// The token goes only to the hosts in [Options.AllowedHosts] (by default
// the endpoint's host), only over https unless
// [Options.InsecureAllowHTTP] is set, and never across a redirect. No error,
// log record or %v output of this package contains a token.
//
// # State
//
// Sync keys, the folder hierarchy, the policy key and a redirected URL are
// kept in a [State] that marshals to JSON. Persist [Client.State] and pass
// it back in [Options.State] to continue incrementally.
//
// [MS-ASHTTP]: https://learn.microsoft.com/openspecs/exchange_server_protocols/ms-ashttp/
// [MS-ASPROV]: https://learn.microsoft.com/openspecs/exchange_server_protocols/ms-asprov/
package eas
