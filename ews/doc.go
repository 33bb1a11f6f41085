// Package ews is a client for Exchange Web Services (EWS) with OAuth 2.0
// bearer tokens, for the operations that mail scripts use: GetFolder,
// FindFolder, FindItem (paged, as an iterator), GetItem (properties and
// MIME), CreateItem (send), SyncFolderItems, MoveItem, DeleteItem and
// UpdateItem (mark read or unread).
//
// It works against Exchange Online and against Exchange Server on-premises
// and hybrid (2013 SP1 and later with OAuth): nothing in it depends on
// Exchange Online. Exchange Online is retiring EWS (tenant by tenant from
// October 2026, off in April 2027); on-premises Exchange keeps it.
//
// # Tokens
//
// A [Client] takes an [golang.org/x/oauth2.TokenSource] and asks it for a
// token on every request, so a caching source (such as the tokencache
// package's) keeps that cheap. Delegated tokens need the scope
// "https://outlook.office365.com/EWS.AccessAsUser.All"; app-only tokens need
// the application permission full_access_as_app and the scope
// "https://outlook.office365.com/.default". For app-only access set
// [Options.AppOnly]: every request then carries the ExchangeImpersonation
// SOAP header for [Options.Mailbox], which Exchange requires for that kind
// of token.
//
// # Headers
//
// Every request carries X-AnchorMailbox (the target mailbox, which routes
// the request to the mailbox's server), a RequestServerVersion SOAP header
// (default Exchange2013_SP1) and, with [Options.PreferServerAffinity],
// X-PreferServerAffinity. A X-BackEndOverrideCookie set by the server is
// echoed on later requests.
//
// # Security
//
// The token is sent only to the host (and port) of [Options.URL], only
// over https unless [Options.InsecureAllowHTTP] is set, and redirects are
// never followed: a 3xx answer is returned as an [*HTTPError] with its
// Location. Tokens never appear in errors or logs; text copied from an
// error page has anything that looks like a bearer token or JWT masked.
//
// # Errors and throttling
//
// Every EWS ResponseCode other than NoError becomes an [*Error] carrying the
// code, the server's MessageText and a hint in plain words; SOAP faults too.
// Test codes with errors.Is against the [ResponseCode] constants, or use
// errors.As. ErrorServerBusy is waited out (BackOffMilliseconds, capped by
// [Options.MaxBusyWait], inside the context) and retried up to
// [Options.MaxBusyRetries] times. HTTP 401 makes the client invalidate the
// token and retry once; 429 and 503 honour Retry-After.
//
// References: https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-authenticate-an-ews-application-by-using-oauth
// and https://learn.microsoft.com/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange.
package ews
