// Package autodiscover finds the EWS and Exchange ActiveSync URLs of a
// mailbox, for Exchange Online and for Exchange Server on-premises or
// hybrid, without sending a token where it does not belong.
//
//	c, err := autodiscover.New(&autodiscover.Options{Token: src})
//	res, err := c.Lookup(ctx, "alice@contoso.com", autodiscover.EWS)
//	// res.URL == "https://outlook.office365.com/EWS/Exchange.asmx"
//
// # What is asked, in order
//
//  1. Autodiscover v2 (JSON), anonymous, on the cloud's autodiscover host:
//     GET /autodiscover/autodiscover.json/v1.0/{email}?Protocol=EWS|ActiveSync.
//     It answers for every mailbox Exchange Online hosts.
//  2. POX (POST /autodiscover/autodiscover.xml; the Outlook schema for EWS,
//     the MobileSync schema of [MS-ASCMD] for ActiveSync) and SOAP
//     GetUserSettings (POST /autodiscover/autodiscover.svc, EWS only) on
//     https://{domain}, then on https://autodiscover.{domain}.
//  3. An unauthenticated GET of http://autodiscover.{domain}/autodiscover/autodiscover.xml,
//     whose redirect is followed only to an https autodiscover URL.
//  4. The hosts of the _autodiscover._tcp.{domain} SRV record.
//
// A redirectAddr answer (SOAP: RedirectAddress; MobileSync: Redirect)
// starts the list again with the new address; a redirectUrl answer (SOAP:
// RedirectUrl) and HTTP redirects are followed after the checks below.
// These are the steps of Microsoft's "Autodiscover for Exchange" and
// "Generate a list of Autodiscover endpoints" articles and [MS-OXDISCO]
// (https://learn.microsoft.com/openspecs/exchange_server_protocols/ms-oxdisco),
// minus the Active Directory SCP lookup, which needs a domain-joined
// machine.
//
// # Security
//
//   - The client never walks up the domain tree: for user@mail.contoso.com
//     it asks mail.contoso.com and autodiscover.mail.contoso.com, never
//     contoso.com or autodiscover.com, and it refuses an address whose
//     domain has a single label. (Clients that fell back to
//     autodiscover.{tld} leaked credentials to whoever registered it.)
//   - Every request goes to a host on the allow-list: the cloud's hosts
//     ([cloud.Cloud.Hosts], which include its POX autodiscover host such
//     as autodiscover-s.outlook.com), the domain of the address asked for,
//     and [Options.AllowedDomains]. A redirect, redirectUrl, SRV target or
//     returned URL pointing elsewhere is refused with a [*RedirectError]
//     wrapping [ErrHostNotAllowed], and nothing is sent there.
//   - Everything is https except the one anonymous GET of step 3. A
//     redirect or URL that is not https is refused ([ErrInsecureRedirect]).
//   - Requests are anonymous. A token (from [Options.Token]) is sent only
//     when a POX or SOAP endpoint answers 401 with "WWW-Authenticate:
//     Bearer", only to that endpoint's host, through the shared bearer
//     transport, with X-AnchorMailbox; never with a redirected request.
//     That host must be one of the cloud's or in [Options.AllowedDomains]:
//     the domain of the address alone does not qualify, because an Exchange
//     Online token opens every mailbox the app may read and a mistyped
//     domain may belong to anyone ([*TokenNotAllowedError]).
//   - At most 10 redirects per lookup; a redirect back to a URL or an
//     address already tried is a loop ([ErrRedirectLoop]).
//   - Answers are read up to 1 MiB; the parsers are fuzzed.
//
// # Errors
//
// A failed lookup returns a [*LookupError] listing every attempt. Use
// errors.As for [*RedirectError], [*TokenNotAllowedError], [*HTTPError] and
// [*ResponseError], and errors.Is for the sentinel errors. No error text contains a token.
//
// # Cache
//
// A [Client] remembers found URLs per (address, protocol) for
// [Options.CacheTTL] (one hour by default); [Client.Forget] drops one.
package autodiscover
