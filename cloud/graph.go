package cloud

import "strings"

// Graph names Microsoft Graph's mail API (the graph package) where a Protocol is expected:
// [Cloud.DelegatedScopes] and [AppPermission] know it. It is not in [Protocols], which lists
// the Exchange protocols that take tokens for [Cloud.Resource]; Graph tokens are for
// [Cloud.GraphURL] instead, and the two kinds are not interchangeable.
const Graph Protocol = "graph"

// GraphAppID is Microsoft Graph's application id, the aud of some Graph tokens.
const GraphAppID = "00000003-0000-0000-c000-000000000000"

// ExchangeAppID is Office 365 Exchange Online's application id, the aud of some Exchange
// tokens.
const ExchangeAppID = "00000002-0000-0ff1-ce00-000000000000"

// GraphHost returns the host of [Cloud.GraphURL], for example "graph.microsoft.com": the
// host a Graph client's bearer allow-list holds.
func (c Cloud) GraphHost() string { return hostOf(c.GraphURL) }

// GraphScope returns the delegated Graph scope for a permission, for example
// "https://graph.microsoft.com/Mail.ReadWrite".
func (c Cloud) GraphScope(permission string) string {
	return strings.TrimRight(c.GraphURL, "/") + "/" + permission
}

// GraphAppOnlyScope returns the scope for app-only Graph tokens, for example
// "https://graph.microsoft.com/.default". The application permissions (Mail.Read,
// Mail.ReadWrite, Mail.Send) come from the admin consent; Exchange can narrow them to some
// mailboxes with RBAC for Applications.
func (c Cloud) GraphAppOnlyScope() string { return c.GraphScope(".default") }

// GraphDelegatedScopes returns the delegated scopes to ask for Graph mail access: each
// permission (default Mail.ReadWrite and Mail.Send) under [Cloud.GraphURL], plus
// offline_access so that a refresh token is issued. Use Mail.ReadWrite.Shared and
// Mail.Send.Shared to open other users' mailboxes the signed-in user has rights on.
func (c Cloud) GraphDelegatedScopes(permissions ...string) []string {
	if len(permissions) == 0 {
		permissions = []string{"Mail.ReadWrite", "Mail.Send"}
	}
	out := make([]string, 0, len(permissions)+1)
	for _, p := range permissions {
		out = append(out, c.GraphScope(p))
	}
	return append(out, "offline_access")
}

// IsGraphAudience reports whether aud (a token's aud claim) is Microsoft Graph in any cloud:
// a cloud's GraphURL (with or without a trailing slash; graph.windows.net, the retired Azure
// AD Graph, is not) or Graph's application id.
func IsGraphAudience(aud string) bool {
	aud = strings.TrimSuffix(strings.TrimSpace(aud), "/")
	if strings.EqualFold(aud, GraphAppID) {
		return true
	}
	for _, c := range All() {
		if strings.EqualFold(aud, strings.TrimSuffix(c.GraphURL, "/")) {
			return true
		}
	}
	return false
}

// IsExchangeAudience reports whether aud is an audience Exchange Online accepts for the mail
// protocols in any cloud: a cloud's Resource, the outlook.office.com alias, Exchange's
// application id or the legacy ps.outlook.com.
func IsExchangeAudience(aud string) bool {
	aud = strings.TrimSuffix(strings.TrimSpace(aud), "/")
	for _, c := range All() {
		if strings.EqualFold(aud, strings.TrimSuffix(c.Resource, "/")) {
			return true
		}
	}
	for _, x := range []string{"https://outlook.office.com", ExchangeAppID, "https://ps.outlook.com"} {
		if strings.EqualFold(aud, x) {
			return true
		}
	}
	return false
}
