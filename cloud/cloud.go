// Package cloud describes the Microsoft clouds that host Exchange Online: where Entra ID signs
// tokens, which resource the mail protocols accept tokens for, and which hosts serve IMAP, POP3,
// SMTP, EWS, Exchange ActiveSync and Autodiscover, and where each cloud's Microsoft Graph lives
// (GraphURL, with its own scopes: Graph tokens and Exchange tokens are not interchangeable).
//
// The four clouds are plain values. Copy one and change any field to reach a test server, an
// ADFS authority or a host this package does not know:
//
//	c := cloud.Global
//	c.AuthorityHost = "https://login.example.test"
//
// Scopes follow the pattern Entra ID documents for Exchange Online: delegated scopes are the
// resource followed by the permission name, always together with offline_access so that a
// refresh token is issued; app-only access asks for the resource's ".default" scope and relies on
// the application permissions an administrator consented to.
package cloud

import (
	"fmt"
	"net"
	"strings"
)

// Protocol names a mail protocol. Its string form is the name used by flags and JSON output.
type Protocol string

// The protocols Exchange Online serves with OAuth.
const (
	IMAP Protocol = "imap"
	POP  Protocol = "pop"
	SMTP Protocol = "smtp"
	EWS  Protocol = "ews"
	EAS  Protocol = "eas"
)

// Protocols lists every protocol in a stable order.
func Protocols() []Protocol { return []Protocol{IMAP, POP, SMTP, EWS, EAS} }

// Cloud holds the endpoints of one Microsoft cloud. The zero value is not useful; start from
// Global, USGov, USGovDoD or China, or from ByName.
type Cloud struct {
	// Name is the short name accepted by ByName: "global", "usgov", "usgovdod" or "china".
	Name string
	// AuthorityHost is the Entra ID endpoint, scheme and host with no tenant,
	// for example "https://login.microsoftonline.com".
	AuthorityHost string
	// Resource is the Exchange Online resource tokens are issued for,
	// for example "https://outlook.office365.com".
	Resource string
	// IMAPHost, POPHost and SMTPHost serve IMAP (993), POP3 (995) and SMTP submission (587).
	IMAPHost, POPHost, SMTPHost string
	// EWSURL is the Exchange Web Services endpoint.
	EWSURL string
	// EASURL is the Exchange ActiveSync endpoint.
	EASURL string
	// AutodiscoverHost answers Autodiscover v2 (JSON) requests.
	AutodiscoverHost string
	// AutodiscoverPOXHost serves Exchange Online's POX and SOAP autodiscover; the
	// unauthenticated http probe of a domain hosted in this cloud redirects to it.
	AutodiscoverPOXHost string
	// GraphURL is the cloud's Microsoft Graph endpoint, scheme and host with no version
	// (the graph package adds /v1.0), for example "https://graph.microsoft.com". It is also
	// the resource Graph tokens are issued for; see [Cloud.GraphScopes].
	GraphURL string
}

// Global is the worldwide commercial cloud (also used by GCC).
var Global = Cloud{
	Name:                "global",
	AuthorityHost:       "https://login.microsoftonline.com",
	Resource:            "https://outlook.office365.com",
	IMAPHost:            "outlook.office365.com",
	POPHost:             "outlook.office365.com",
	SMTPHost:            "smtp.office365.com",
	EWSURL:              "https://outlook.office365.com/EWS/Exchange.asmx",
	EASURL:              "https://outlook.office365.com/Microsoft-Server-ActiveSync",
	AutodiscoverHost:    "outlook.office365.com",
	AutodiscoverPOXHost: "autodiscover-s.outlook.com",
	GraphURL:            "https://graph.microsoft.com",
}

// USGov is Microsoft 365 GCC High (US Government L4).
var USGov = Cloud{
	Name:                "usgov",
	AuthorityHost:       "https://login.microsoftonline.us",
	Resource:            "https://outlook.office365.us",
	IMAPHost:            "outlook.office365.us",
	POPHost:             "outlook.office365.us",
	SMTPHost:            "smtp.office365.us",
	EWSURL:              "https://outlook.office365.us/EWS/Exchange.asmx",
	EASURL:              "https://outlook.office365.us/Microsoft-Server-ActiveSync",
	AutodiscoverHost:    "outlook.office365.us",
	AutodiscoverPOXHost: "autodiscover-s.office365.us",
	GraphURL:            "https://graph.microsoft.us",
}

// USGovDoD is Microsoft 365 DoD (US Government L5).
//
// Sources disagree on the DoD resource: Microsoft's own support scripts use
// https://outlook-dod.office365.us, while some third-party tools reuse the GCC High resource
// https://outlook.office365.us. We pick the DoD host because it is the one Microsoft's scripts
// use and the mail hosts of the DoD environment live under it; change Resource (and the hosts)
// if your tenant answers on the GCC High names.
var USGovDoD = Cloud{
	Name:                "usgovdod",
	AuthorityHost:       "https://login.microsoftonline.us",
	Resource:            "https://outlook-dod.office365.us",
	IMAPHost:            "outlook-dod.office365.us",
	POPHost:             "outlook-dod.office365.us",
	SMTPHost:            "outlook-dod.office365.us",
	EWSURL:              "https://outlook-dod.office365.us/EWS/Exchange.asmx",
	EASURL:              "https://outlook-dod.office365.us/Microsoft-Server-ActiveSync",
	AutodiscoverHost:    "outlook-dod.office365.us",
	AutodiscoverPOXHost: "autodiscover-s-dod.office365.us",
	GraphURL:            "https://dod-graph.microsoft.us",
}

// China is Microsoft 365 operated by 21Vianet.
var China = Cloud{
	Name:                "china",
	AuthorityHost:       "https://login.partner.microsoftonline.cn",
	Resource:            "https://partner.outlook.cn",
	IMAPHost:            "partner.outlook.cn",
	POPHost:             "partner.outlook.cn",
	SMTPHost:            "smtp.partner.outlook.cn",
	EWSURL:              "https://partner.outlook.cn/EWS/Exchange.asmx",
	EASURL:              "https://partner.outlook.cn/Microsoft-Server-ActiveSync",
	AutodiscoverHost:    "partner.outlook.cn",
	AutodiscoverPOXHost: "autodiscover-s.partner.outlook.cn",
	GraphURL:            "https://microsoftgraph.chinacloudapi.cn",
}

// ByName returns the cloud with the given short name ("global", "usgov", "usgovdod", "china",
// or "consumers" for personal Outlook.com accounts).
// A few common aliases are accepted: "public", "gcchigh", "dod", "21vianet".
func ByName(name string) (Cloud, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "global", "public", "commercial", "gcc":
		return Global, nil
	case "usgov", "gcchigh", "gcc-high", "usgovernment":
		return USGov, nil
	case "usgovdod", "usgov-dod", "dod":
		return USGovDoD, nil
	case "china", "21vianet", "cn":
		return China, nil
	case "consumers", "outlook.com", "personal":
		return Consumers, nil
	}
	return Cloud{}, fmt.Errorf("cloud: unknown cloud %q (want global, usgov, usgovdod, china or consumers)", name)
}

// All returns the four clouds, Global first: the one list every package that has to
// recognise a cloud by its hosts or resource walks.
func All() []Cloud { return []Cloud{Global, USGov, USGovDoD, China} }

// Authority returns the Entra ID authority URL for a tenant (a tenant ID or a verified domain).
func (c Cloud) Authority(tenant string) string {
	return strings.TrimRight(c.AuthorityHost, "/") + "/" + tenant
}

// permission is the delegated permission name of each protocol.
func permission(p Protocol) string {
	switch p {
	case IMAP:
		return "IMAP.AccessAsUser.All"
	case POP:
		return "POP.AccessAsUser.All"
	case SMTP:
		return "SMTP.Send"
	case EWS:
		return "EWS.AccessAsUser.All"
	case EAS:
		return "EAS.AccessAsUser.All"
	case Graph:
		return "Mail.ReadWrite"
	}
	return ""
}

// AppPermission returns the application permission (app role) a token needs for p when it is
// acquired app-only, for example "IMAP.AccessAsApp", for EWS "full_access_as_app" and for Graph
// "Mail.ReadWrite" (Microsoft Graph's permission, not Exchange's).
// EAS has no app-only permission; AppPermission returns "" for it.
func AppPermission(p Protocol) string {
	switch p {
	case IMAP:
		return "IMAP.AccessAsApp"
	case POP:
		return "POP.AccessAsApp"
	case SMTP:
		return "SMTP.SendAsApp"
	case EWS:
		return "full_access_as_app"
	case Graph:
		return "Mail.ReadWrite"
	}
	return ""
}

// DelegatedPermission returns the delegated permission name (the scp value) for p,
// for example "IMAP.AccessAsUser.All".
func DelegatedPermission(p Protocol) string { return permission(p) }

// DelegatedScope returns the fully qualified delegated scope for p,
// for example "https://outlook.office365.com/IMAP.AccessAsUser.All".
func (c Cloud) DelegatedScope(p Protocol) string {
	if p == Graph {
		return c.GraphScope(permission(p))
	}
	perm := permission(p)
	if perm == "" {
		return ""
	}
	return strings.TrimRight(c.Resource, "/") + "/" + perm
}

// DelegatedScopes returns the scopes to request for delegated access to p: the protocol's
// scope and offline_access, so that Entra ID also issues a refresh token.
func (c Cloud) DelegatedScopes(p Protocol) []string {
	if p == Graph {
		return c.GraphDelegatedScopes()
	}
	s := c.DelegatedScope(p)
	if s == "" {
		return []string{"offline_access"}
	}
	return []string{s, "offline_access"}
}

// AppOnlyScope returns the scope for app-only (client credentials) tokens: the resource
// followed by "/.default". For Graph use [Cloud.GraphAppOnlyScope].
func (c Cloud) AppOnlyScope() string { return strings.TrimRight(c.Resource, "/") + "/.default" }

// IMAPAddr returns the IMAP host with the implicit-TLS port 993.
func (c Cloud) IMAPAddr() string { return net.JoinHostPort(c.IMAPHost, "993") }

// POPAddr returns the POP3 host with the implicit-TLS port 995.
func (c Cloud) POPAddr() string { return net.JoinHostPort(c.POPHost, "995") }

// SMTPAddr returns the SMTP submission host with the STARTTLS port 587.
func (c Cloud) SMTPAddr() string { return net.JoinHostPort(c.SMTPHost, "587") }

// Hosts returns every distinct Exchange host of the cloud (resource, protocol and autodiscover
// hosts). It is the natural allow-list for sending a bearer token.
func (c Cloud) Hosts() []string {
	var out []string
	seen := map[string]bool{}
	add := func(h string) {
		h = strings.ToLower(h)
		if h != "" && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	add(hostOf(c.Resource))
	add(c.IMAPHost)
	add(c.POPHost)
	add(c.SMTPHost)
	add(hostOf(c.EWSURL))
	add(hostOf(c.EASURL))
	add(c.AutodiscoverHost)
	add(c.AutodiscoverPOXHost)
	return out
}

// hostOf returns the host part of an absolute URL, or "" when there is none.
func hostOf(u string) string {
	rest, ok := strings.CutPrefix(u, "https://")
	if !ok {
		rest, ok = strings.CutPrefix(u, "http://")
		if !ok {
			return ""
		}
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if h, _, err := net.SplitHostPort(rest); err == nil {
		return h
	}
	return rest
}
