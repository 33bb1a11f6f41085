package cloud

import "strings"

// ConsumersTenant is the tenant segment of the authority for personal Microsoft accounts
// (outlook.com, hotmail.com, live.com, msn.com).
const ConsumersTenant = "consumers"

// ConsumersTenantID is the directory id (tid) of every personal Microsoft account.
const ConsumersTenantID = "9188040d-6c67-4c5b-b112-36a304b66dad"

// Consumers is Outlook.com: personal Microsoft accounts signing in through the "consumers"
// tenant of the global cloud. Their delegated scopes name the resource
// https://outlook.office.com (as Microsoft's IMAP/POP/SMTP OAuth documentation lists them);
// IMAP and POP are served by outlook.office365.com, SMTP submission by smtp-mail.outlook.com
// (Microsoft's "POP, IMAP, and SMTP settings for Outlook.com"). There is no app-only access
// to personal mailboxes. Use it with tenant [ConsumersTenant]; [Cloud.ForTenant] picks it.
var Consumers = Cloud{
	Name:                "consumers",
	AuthorityHost:       "https://login.microsoftonline.com",
	Resource:            "https://outlook.office.com",
	IMAPHost:            "outlook.office365.com",
	POPHost:             "outlook.office365.com",
	SMTPHost:            "smtp-mail.outlook.com",
	EWSURL:              "https://outlook.office365.com/EWS/Exchange.asmx",
	EASURL:              "https://outlook.office365.com/Microsoft-Server-ActiveSync",
	AutodiscoverHost:    "outlook.office365.com",
	AutodiscoverPOXHost: "autodiscover-s.outlook.com",
	GraphURL:            "https://graph.microsoft.com",
}

// ForTenant returns the cloud to use with tenant: [Consumers] (keeping c's AuthorityHost, so
// a test or proxy authority still applies) when tenant is "consumers" and c is the global
// cloud, c itself otherwise.
func (c Cloud) ForTenant(tenant string) Cloud {
	if !strings.EqualFold(strings.TrimSpace(tenant), ConsumersTenant) || c.Resource != Global.Resource {
		return c
	}
	out := Consumers
	out.AuthorityHost = c.AuthorityHost
	return out
}

// IsConsumerDomain reports whether addr (an address or a domain) belongs to a personal
// Microsoft account domain: outlook.com, hotmail.com, live.com or msn.com, including their
// country variants such as hotmail.co.uk or live.fr.
func IsConsumerDomain(addr string) bool {
	d := strings.ToLower(strings.TrimSpace(addr))
	if i := strings.LastIndexByte(d, '@'); i >= 0 {
		d = d[i+1:]
	}
	for _, base := range []string{"outlook.", "hotmail.", "live.", "msn."} {
		if rest, ok := strings.CutPrefix(d, base); ok && rest != "" && !strings.Contains(strings.TrimSuffix(rest, "."), "..") &&
			(rest == "com" || len(rest) <= 6) {
			return true
		}
	}
	return false
}
