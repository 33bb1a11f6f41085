package sasl

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/cloud"
)

// DefaultHint returns the generic explanation for a refused token, preferring the
// audience warning when the token is visibly not an Exchange Online one.
func DefaultHint(id mailauth.Identity, mailbox string) string {
	if h := AudienceHint(id); h != "" {
		return h
	}
	var b strings.Builder
	if !id.ExpiresAt.IsZero() && !id.ExpiresAt.After(time.Now()) {
		b.WriteString("the token had expired; ")
	}
	if id.AppOnly() {
		b.WriteString("for an app-only token, check that the service principal was registered in Exchange (New-ServicePrincipal with the Enterprise Application's object id) and was granted FullAccess on " + orMailbox(mailbox) + " (Add-MailboxPermission), and that the app has the IMAP.AccessAsApp / POP.AccessAsApp / SMTP.SendAsApp role")
	} else {
		b.WriteString("check that the token is for Exchange Online with the protocol's scope (IMAP.AccessAsUser.All, POP.AccessAsUser.All or SMTP.Send), that the user name is the mailbox the token's user may open, and that the protocol is enabled for " + orMailbox(mailbox))
	}
	return b.String()
}

func orMailbox(m string) string {
	if m == "" {
		return "the mailbox"
	}
	return m
}

// AudienceHint returns a plain-words warning when the token's audience is clearly not
// Exchange Online (the commonest mistake is a Microsoft Graph token), or "" when the
// audience is unknown, is an Exchange one, or belongs to another server (Dovecot, Gmail).
func AudienceHint(id mailauth.Identity) string {
	for _, a := range id.Audience {
		if cloud.IsExchangeAudience(a) {
			return ""
		}
		if cloud.IsGraphAudience(a) || strings.Contains(strings.ToLower(a), "graph.microsoft") {
			return fmt.Sprintf("the token's audience is %s (Microsoft Graph): IMAP, POP and SMTP need a token for Exchange Online, e.g. scope https://outlook.office365.com/.default (app-only) or https://outlook.office.com/IMAP.AccessAsUser.All (delegated)", a)
		}
	}
	return ""
}

// LongResponse is the length of a base64 authentication response above which a server
// that drops the connection or refuses the line is likely to have hit its line limit
// rather than judged the token: Dovecot's SMTP submission takes continuation lines of up
// to 8 KB, and Entra access tokens are usually 1.5 to 2.5 KB.
const LongResponse = 8 << 10

// ErrLongResponse is wrapped into the error of an exchange whose long response (see
// [Client.SizeHint]) the server dropped or refused; a retry with a fresh token of the same
// size would fail the same way, so the protocol packages do not make one.
var ErrLongResponse = errors.New("sasl: the authentication response is longer than servers accept")

// SizeHint returns the explanation for a failed exchange whose response was long (see
// [Client.ResponseLen]), naming the token's size, or "" when the response was short.
func (c *Client) SizeHint() string {
	n := c.ResponseLen()
	if n <= LongResponse || c.tok == nil {
		return ""
	}
	return fmt.Sprintf("the token is %d bytes, so the %s response is %d bytes; many servers (Dovecot among them) cap the authentication line, and one that drops or refuses such a line has not judged the token: request a smaller token (fewer claims, e.g. no group claims) or raise the server's limit", len(c.tok.AccessToken), c.mech, n)
}
