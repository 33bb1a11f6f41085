// Package mailauth is the shared vocabulary of the mailauth module: the words every
// protocol package uses the same way. It holds no protocol and imports no other package of
// the module; the packages below import it.
//
// # The map of the module
//
// Tokens:
//   - [github.com/modernauth/mailauth/cloud]: authority, Exchange resource, protocol hosts
//     and scopes of Global, USGov, USGovDoD and China; [cloud.All] lists them.
//   - [github.com/modernauth/mailauth/tokencache]: the concurrent token cache over MSAL Go
//     (app-only and delegated flows, stores on memory, files, AES-GCM); its Source
//     implements [ContextTokenSource] and [Invalidator].
//   - [github.com/modernauth/mailauth/tokencache/redisstore]: a store shared by replicas.
//
// Protocols (each takes an *Options with Token and Mailbox; a nil *Options is the zero
// value):
//   - [github.com/modernauth/mailauth/imapauth], [github.com/modernauth/mailauth/smtpauth],
//     [github.com/modernauth/mailauth/popauth]: SASL XOAUTH2 and OAUTHBEARER for IMAP (go-imap
//     v2), SMTP (go-smtp) and POP3 (its own client); DialTLS for implicit TLS, DialStartTLS
//     for STARTTLS/STLS.
//   - [github.com/modernauth/mailauth/ews], [github.com/modernauth/mailauth/eas] (with
//     [github.com/modernauth/mailauth/eas/wbxml]) and
//     [github.com/modernauth/mailauth/autodiscover]: HTTP bearer clients.
//   - [github.com/modernauth/mailauth/graph]: mail over Microsoft Graph v1.0, the way on when
//     Exchange Online switches EWS and SMTP AUTH off (Graph tokens, not Exchange ones).
//   - [github.com/modernauth/mailauth/graph/report]: who still signs in with basic
//     authentication, per user and protocol, from the sign-in log and the email app usage
//     report, as a table, CSV or JSON (behind examples/basic-auth-report).
//   - [github.com/modernauth/mailauth/relay]: a local IMAP, POP3 and SMTP relay from
//     password logins to XOAUTH2 (or SMTP to Graph), for programs that cannot change.
//
// Testing:
//   - [github.com/modernauth/mailauth/mailauthtest]: a lab on loopback for your own tests (a
//     fake Entra ID and IMAP, POP3, SMTP, EWS, ActiveSync, Autodiscover and Graph servers
//     under one test CA) with the settings a program needs and what the servers received.
//
// Inside (not importable): internal/core holds the shared engines (the SASL mechanisms,
// the bearer transport, the one redactor, TLS builder and Retry-After parser, the byte
// budget of a connection until authentication ends, the audience
// check between Graph and Exchange tokens); internal/fake holds the test doubles (a fake
// Entra ID, in-process IMAP, POP3, SMTP, EWS, EAS, autodiscover and Graph servers, a test
// PKI, hostile servers that flood and the lab that wires them together); internal/tool holds the plumbing of the
// example programs (common flags, the mailbox doctor); internal/interop runs the SASL
// packages against a real Dovecot.
//
// # The token-source contract
//
// Protocol packages take any [oauth2.TokenSource] as Options.Token and never import the
// cache. Two optional methods are discovered by interface assertion: a source that is a
// [ContextTokenSource] gets the caller's context for the fetch, and an [Invalidator] is told
// which token a server refused, so the package fetches a fresh one and retries exactly once.
// [TokenContext] and [Invalidate] apply that contract; a source written by hand needs only
// Token, and gains the retry by adding Invalidate.
//
// # Errors every protocol shares
//
// [ErrInsecure] is the one refusal to send a token where it could be read (plaintext, or
// plain http). [*AuthError] is a refused SASL authentication, the same type from IMAP, POP3
// and SMTP. [*MailboxAccessError] is "authenticated, but this principal may not open that
// mailbox", whichever protocol found it. [Identity] says who a token is for, decoded
// without verification, for messages like these.
package mailauth
