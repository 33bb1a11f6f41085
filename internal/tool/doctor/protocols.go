package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/autodiscover"
	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/eas"
	"github.com/modernauth/mailauth/ews"
	"github.com/modernauth/mailauth/imapauth"
	"github.com/modernauth/mailauth/popauth"
)

// appIDOf returns the appid claim of the token src currently holds, or a placeholder.
func appIDOf(ctx context.Context, src oauth2.TokenSource) string {
	if tok, err := fetch(ctx, src); err == nil {
		if id := mailauth.ParseIdentity(tok.AccessToken).AppID; id != "" {
			return id
		}
	}
	return "<application id>"
}

// mailboxPermissionFix is the usual fix when a valid token may not open the mailbox.
func mailboxPermissionFix(t Target, appID string) string {
	if t.AppOnly {
		return fmt.Sprintf("in Exchange Online PowerShell register the app's service principal and give it the mailbox: "+
			"New-ServicePrincipal -AppId %s -ObjectId <object id of the enterprise application>; "+
			"Add-MailboxPermission -Identity %s -User <service principal id> -AccessRights FullAccess", appID, t.Mailbox)
	}
	return fmt.Sprintf("give the signed-in user access to the mailbox: Add-MailboxPermission -Identity %s -User <user> -AccessRights FullAccess (for your own mailbox, check the token is for %s)", t.Mailbox, t.Mailbox)
}

// explainAuth turns a SASL failure into a cause and a fix.
func explainAuth(ctx context.Context, t Target, src oauth2.TokenSource, proto string, err error) Result {
	var mae *mailauth.MailboxAccessError
	if errors.As(err, &mae) {
		return fail(fmt.Sprintf("%s accepted the token but %s may not open %s (%s)", strings.ToUpper(proto), mae.Identity.Principal(), t.Mailbox, firstLine(strings.TrimSpace(mae.Code+" "+mae.ServerText))),
			mailboxPermissionFix(t, appIDOf(ctx, src)), err)
	}
	var ae *mailauth.AuthError
	if !errors.As(err, &ae) {
		return explainOther(t, proto, err)
	}
	text := strings.TrimSpace(ae.Code + " " + ae.ServerText)
	if ae.Challenge != nil {
		text += fmt.Sprintf(" (error challenge status %s)", ae.Challenge.Status)
	}
	appID := appIDOf(ctx, src)
	switch {
	case strings.Contains(ae.Code, "5.7.139") && strings.Contains(strings.ToLower(ae.ServerText), "smtpclientauthentication is disabled"):
		return fail("SMTP AUTH is disabled for the tenant or the mailbox (535 5.7.139): "+ae.ServerText,
			fmt.Sprintf("Set-CASMailbox -Identity %s -SmtpClientAuthenticationDisabled $false (or for the whole tenant: Set-TransportConfig -SmtpClientAuthenticationDisabled $false)", t.Mailbox), err)
	case strings.Contains(ae.Code, "5.7.139"):
		return fail("Exchange refused the sign-in (535 5.7.139): "+ae.ServerText,
			fmt.Sprintf("check that SMTP AUTH is enabled for the mailbox (Set-CASMailbox -Identity %s -SmtpClientAuthenticationDisabled $false) and that no Conditional Access or security default blocks it", t.Mailbox), err)
	case strings.Contains(ae.Code, "5.7.3"):
		return fail("authentication unsuccessful (535 5.7.3): Exchange did not accept the token for "+t.Mailbox,
			"check the token has SMTP.Send (delegated) or SMTP.SendAsApp (app-only) and, app-only, that the service principal exists: "+mailboxPermissionFix(t, appID), err)
	case t.AppOnly:
		return fail(fmt.Sprintf("%s refused the app-only token for %s (%s): the app's service principal is not registered in Exchange Online, or it has no permission on the mailbox", strings.ToUpper(proto), t.Mailbox, text),
			mailboxPermissionFix(t, appID), err)
	default:
		enable := map[string]string{IMAP: "-ImapEnabled $true", POP: "-PopEnabled $true", SMTP: "-SmtpClientAuthenticationDisabled $false"}[proto]
		return fail(fmt.Sprintf("%s refused the token for %s (%s)", strings.ToUpper(proto), t.Mailbox, text),
			fmt.Sprintf("check the protocol is enabled for the mailbox (Set-CASMailbox -Identity %s %s) and that the token's user may open it; %s", t.Mailbox, enable, mailboxPermissionFix(t, appID)), err)
	}
}

// explainOther explains a failure that is not a refusal of the token: the server could
// not be reached, TLS failed, or the protocol went wrong. It names the address tried and
// the kind of failure.
func explainOther(t Target, proto string, err error) Result {
	tried := where(t, proto)
	class := ErrorClass(err)
	if networkClass(class) {
		return explainNetwork(proto, tried, class, err)
	}
	r := fail(fmt.Sprintf("%s at %s failed (%s): %s", strings.ToUpper(proto), hostOf(tried), class, firstLine(err.Error())),
		"see the detail in -json output; run with -v for a redacted protocol transcript", err)
	r.Tried = tried
	return r
}

// where returns the address or URL a check of proto connects to.
func where(t Target, proto string) string {
	pick := func(s, def string) string {
		if s != "" {
			return s
		}
		return def
	}
	switch proto {
	case IMAP:
		return pick(t.IMAPAddr, t.Cloud.IMAPAddr())
	case POP:
		return pick(t.POPAddr, t.Cloud.POPAddr())
	case SMTP:
		return pick(t.SMTPAddr, t.Cloud.SMTPAddr())
	case EWS:
		return pick(t.EWSURL, t.Cloud.EWSURL)
	case EAS:
		return pick(t.EASURL, t.Cloud.EASURL)
	case Graph:
		return pick(t.GraphURL, t.Cloud.GraphURL)
	case Autodiscover:
		return "autodiscover for " + domainOf(t.Mailbox)
	}
	return ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func checkIMAP(ctx context.Context, t Target, src oauth2.TokenSource) Result {
	addr := t.IMAPAddr
	if addr == "" {
		addr = t.Cloud.IMAPAddr()
	}
	opts := &imapauth.Options{Token: src, Mailbox: t.Mailbox, TLSConfig: t.TLS, DebugWriter: t.Transcript, Logger: t.Logger}
	dial := imapauth.DialTLS
	if !implicitTLS(addr) {
		dial = imapauth.DialStartTLS
	}
	c, err := dial(ctx, addr, opts)
	if err != nil {
		return explainAuth(ctx, t, src, IMAP, err)
	}
	defer c.Close()
	boxes, err := c.List("", "*", nil).Collect()
	if err != nil {
		return explainOther(t, IMAP, c.Err(err))
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return explainOther(t, IMAP, c.Err(err))
	}
	_ = c.Logout().Wait()
	return Result{OK: true, Detail: fmt.Sprintf("%s %s to %s: LIST %d folders, INBOX %d messages", addr, c.Mechanism(), t.Mailbox, len(boxes), sel.NumMessages)}
}

func checkPOP(ctx context.Context, t Target, src oauth2.TokenSource) Result {
	addr := t.POPAddr
	if addr == "" {
		addr = t.Cloud.POPAddr()
	}
	opts := &popauth.Options{Mailbox: t.Mailbox, Token: src, TLSConfig: t.TLS, Logger: t.Logger}
	dial := popauth.DialTLS
	if !implicitTLS(addr) {
		dial = popauth.DialStartTLS
	}
	c, err := dial(ctx, addr, opts)
	if err != nil {
		return explainAuth(ctx, t, src, POP, err)
	}
	defer c.Close()
	n, size, err := c.Stat(ctx)
	if err != nil {
		return explainOther(t, POP, err)
	}
	_ = c.Quit(ctx)
	return Result{OK: true, Detail: fmt.Sprintf("%s authenticated as %s: STAT %d messages, %d bytes", addr, t.Mailbox, n, size)}
}

func checkEWS(ctx context.Context, t Target, src oauth2.TokenSource) Result {
	url := t.EWSURL
	if url == "" {
		url = t.Cloud.EWSURL
	}
	c, err := ews.New(&ews.Options{URL: url, Token: src, Mailbox: t.Mailbox, AppOnly: t.AppOnly, Transport: t.HTTP, Logger: t.Logger})
	if err != nil {
		return fail("bad EWS settings", "check -ews-url and -mailbox", err)
	}
	folders, err := c.GetFolder(ctx, ews.Inbox)
	if err != nil {
		var ee *ews.Error
		if errors.As(err, &ee) {
			switch ee.Code {
			case "ErrorImpersonateUserDenied":
				return fail("impersonation denied: the app may not act as "+t.Mailbox,
					"grant the app the Office 365 Exchange Online application permission full_access_as_app with admin consent (or, on-premises, New-ManagementRoleAssignment -Role ApplicationImpersonation -User <service account>); an application access policy may also exclude the mailbox", err)
			case "ErrorNonExistentMailbox":
				return fail(t.Mailbox+" does not exist (ErrorNonExistentMailbox)", "check -mailbox: it must be the primary SMTP address of an existing mailbox", err)
			}
			return fail("EWS error "+string(ee.Code)+": "+ee.Message, ee.Hint(), err)
		}
		if strings.Contains(err.Error(), "ExchangeImpersonation SOAP header must be present") {
			return fail("an app-only token was used without impersonation", "run with -app-only (the client then sends ExchangeImpersonation for -mailbox)", err)
		}
		var he *ews.HTTPError
		if errors.As(err, &he) && he.StatusCode == 403 && he.Claims == "" {
			return ewsDisabled(t, err)
		}
		if errors.As(err, &he) {
			return fail(fmt.Sprintf("EWS answered HTTP %d", he.StatusCode), "check the token's audience and EWS.AccessAsUser.All / full_access_as_app permission; EWS may be disabled for the mailbox (Set-CASMailbox -EwsEnabled $true)", err)
		}
		return explainOther(t, EWS, err)
	}
	detail := fmt.Sprintf("%s GetFolder inbox of %s", url, t.Mailbox)
	if len(folders) > 0 {
		detail += fmt.Sprintf(": %d items, %d unread", folders[0].TotalCount, folders[0].UnreadCount)
	}
	if t.AppOnly {
		detail += " (impersonation)"
	}
	return Result{OK: true, Detail: detail}
}

func checkEAS(ctx context.Context, t Target, src oauth2.TokenSource) Result {
	url := t.EASURL
	if url == "" {
		url = t.Cloud.EASURL
	}
	dev := t.DeviceID
	if dev == "" {
		dev = "mailcheck0001"
	}
	c, err := eas.New(&eas.Options{URL: url, Mailbox: t.Mailbox, DeviceID: dev, Token: src, Transport: t.HTTP, Logger: t.Logger})
	if err != nil {
		return fail("bad ActiveSync settings", "check -eas-url, -mailbox and -device-id", err)
	}
	folders, err := c.Folders(ctx)
	if err != nil {
		var he *eas.HTTPError
		if errors.As(err, &he) {
			fix := he.Hint
			if he.StatusCode == 401 || he.StatusCode == 403 {
				fix = "ActiveSync needs a delegated token with EAS.AccessAsUser.All for the mailbox's own user; check Set-CASMailbox -Identity " + t.Mailbox + " -ActiveSyncEnabled $true"
			}
			return fail(fmt.Sprintf("ActiveSync answered HTTP %d", he.StatusCode), fix, err)
		}
		var se *eas.StatusError
		if errors.As(err, &se) {
			return fail(fmt.Sprintf("%s status %d: %s", se.Command, se.Status, se.Meaning), se.Hint, err)
		}
		return explainOther(t, EAS, err)
	}
	return Result{OK: true, Detail: fmt.Sprintf("%s FolderSync for %s: %d folders (protocol %s)", c.URL(), t.Mailbox, len(folders), c.ProtocolVersion())}
}

func checkAutodiscover(ctx context.Context, t Target) Result {
	opts := &autodiscover.Options{Cloud: t.Cloud, DialContext: t.AutodiscoverDial, TLSConfig: t.TLS, AllowedDomains: t.AllowedDomains, Logger: t.Logger}
	if t.AutodiscoverResolver != nil {
		opts.Resolver = t.AutodiscoverResolver
	}
	if t.Source != nil {
		opts.Token = t.Source(cloud.EWS)
	}
	c, err := autodiscover.New(opts)
	if err != nil {
		return fail("bad autodiscover settings", "check -mailbox", err)
	}
	var parts []string
	for _, p := range []autodiscover.Protocol{autodiscover.EWS, autodiscover.ActiveSync} {
		res, err := c.Lookup(ctx, t.Mailbox, p)
		if err != nil {
			return fail("autodiscover found no "+string(p)+" URL for "+t.Mailbox,
				"check the address is right and its domain's autodiscover DNS record (autodiscover."+domainOf(t.Mailbox)+" CNAME to autodiscover.outlook.com for Exchange Online)", err)
		}
		parts = append(parts, fmt.Sprintf("%s %s (via %s)", p, res.URL, res.Method))
	}
	return Result{OK: true, Detail: strings.Join(parts, "; ")}
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return addr
}
