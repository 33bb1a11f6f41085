// Package graph is a mail client for Microsoft Graph v1.0 over the module's bearer
// transport: the path that survives when Exchange Online switches EWS off (blocked by
// default from October 2026, gone in April 2027) and SMTP AUTH off for a tenant.
//
// It covers what mail scripts do — folders, messages (as JSON and as MIME), sending (from
// fields or raw MIME, large messages through upload sessions), delta sync, move, copy,
// delete, read and flag state, attachments, $batch and id translation — with typed
// errors, and no generated model: a message is a Go struct of the fields people use.
//
//	c, err := graph.New(&graph.Options{
//		Token:   src,                   // a Graph token source, e.g. a tokencache.Source
//		Mailbox: "shared@contoso.com",  // "" means /me
//	})
//	for m, err := range c.Messages(ctx, graph.Inbox, &graph.ListOptions{Max: 20}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(m.ReceivedDateTime, m.From, m.Subject)
//	}
//
// # Tokens
//
// Graph tokens are for the resource https://graph.microsoft.com (in the national clouds,
// cloud.Cloud.GraphURL), never for outlook.office365.com: ask for
// Cloud.GraphAppOnlyScope() (app-only, with the Microsoft Graph application permissions
// Mail.Read, Mail.ReadWrite or Mail.Send) or Cloud.GraphDelegatedScopes() (delegated).
// The client refuses an Exchange Online token before sending it, with an error wrapping
// [ErrWrongAudience] that names the right scope; the Exchange packages (ews, eas) refuse a
// Graph token the same way. App-only permissions reach every mailbox of the tenant until
// Exchange scopes them with RBAC for Applications; a refusal comes back as an [*Error]
// with code ErrorAccessDenied and a hint naming the cmdlets.
//
// # Security defaults
//
//   - The token goes only to the Graph host of Options.Cloud and to Options.URL's host
//     (plus Options.AllowedHosts), over https; http is allowed only to a loopback test
//     server with Options.InsecureAllowHTTP. An @odata.nextLink or delta link on another
//     host or scheme is not followed: the call fails with [ErrUntrustedLink] (or
//     mailauth.ErrInsecure for http) and nothing is sent.
//   - Upload session URLs are pre-authorised: they are sent no Authorization header, only
//     over https, and are never logged or shown in errors (their query holds a credential).
//   - Errors and log records never contain a token; error bodies pass through the module's
//     redactor.
//
// # Sign-in log and usage reports
//
// Two tenant-wide calls serve the basic-auth report (package
// github.com/modernauth/mailauth/graph/report): [Client.SignIns] lists the Microsoft Entra
// sign-in log (AuditLog.Read.All and a tenant with Entra ID P1 or P2), filtered with
// [SignInFilter] on [LegacyClientApps], and [Client.UsageReport] returns a usage report's
// CSV (Reports.Read.All). Graph answers the report with a 302 to a pre-authorised download
// URL on another host; the client follows it without the token, only over https, and never
// logs it. The client's Mailbox plays no part in either.
//
// # Limits
//
// Outlook allows 4 concurrent requests per app per mailbox; the client keeps to that by
// itself (Options.MaxConcurrent), so 50 goroutines sharing a client queue instead of
// earning 429s. A 429, 503 or 504 is retried after its Retry-After (or a doubling back-off)
// within the request's context. Request bodies are limited to 4 MB: [Client.SendMIME] and
// [Client.Send] move large attachments to upload sessions (3 to 150 MB, chunks of a
// multiple of 320 KiB) by themselves. [Client.Batch] sends 20 requests a call.
//
// # From EWS
//
// [Client.Messages] is FindItem, [Client.MIME] is GetItem with MimeContent,
// [Client.SendMIME] is CreateItem with SendAndSaveCopy, [Client.SyncMessages] is
// SyncFolderItems (the delta link is the sync state), [Client.Move], [Client.Delete] and
// [Client.SetRead] are MoveItem, DeleteItem and UpdateItem, and
// [Client.TranslateExchangeIDs] converts stored EWS ids. Options.ImmutableIDs gives ids
// that survive moves. See the README's "From EWS to Graph" for the whole table.
//
// References: https://learn.microsoft.com/graph/api/resources/mail-api-overview,
// https://learn.microsoft.com/graph/throttling-limits,
// https://learn.microsoft.com/graph/outlook-large-attachments,
// https://learn.microsoft.com/graph/json-batching.
package graph
