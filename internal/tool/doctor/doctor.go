// Package doctor checks whether OAuth works for one mailbox over each mail protocol (and
// Microsoft Graph) and explains a failure in plain words with its fix. examples/mailcheck and the quickstart's
// Exchange Online mode print its results.
package doctor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/tokencache"
)

// Protocol names, as used by -protocols and in JSON results.
const (
	IMAP         = "imap"
	POP          = "pop"
	SMTP         = "smtp"
	EWS          = "ews"
	EAS          = "eas"
	Autodiscover = "autodiscover"
)

// AllProtocols lists every check in the order they run.
var AllProtocols = []string{IMAP, POP, SMTP, EWS, EAS, Autodiscover, Graph}

// ParseProtocols parses a comma-separated list of protocol names; "" or "all" means all.
func ParseProtocols(s string) ([]string, error) {
	if s == "" || s == "all" {
		return slices.Clone(AllProtocols), nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "pop3" {
			p = POP
		}
		if p == "activesync" {
			p = EAS
		}
		if !slices.Contains(AllProtocols, p) {
			return nil, fmt.Errorf("unknown protocol %q (want some of %s)", p, strings.Join(AllProtocols, ","))
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// Result is the outcome of one protocol's check.
type Result struct {
	Protocol string `json:"protocol"`
	OK       bool   `json:"ok"`
	Detail   string `json:"detail"`
	Cause    string `json:"cause"`
	Fix      string `json:"fix"`
	// Tried is what the check connected to: an address, a URL, or the Entra ID host
	// for a token that could not be had.
	Tried string `json:"tried,omitempty"`
	// ErrorClass is the kind of failure (see ErrorClass): DNS, connection refused,
	// timeout, TLS, "HTTP 401", authentication refused, ...
	ErrorClass string   `json:"error_class,omitempty"`
	Findings   []string `json:"findings,omitempty"`
	Elapsed    string   `json:"elapsed"`
}

// Target says what to check and how to reach it.
type Target struct {
	Mailbox string
	AppOnly bool
	Cloud   cloud.Cloud

	// Addresses; empty means the cloud's. Ports 993, 995 and 465 mean implicit TLS, any
	// other port STARTTLS.
	IMAPAddr, POPAddr, SMTPAddr string
	EWSURL, EASURL              string
	// GraphURL is the Microsoft Graph endpoint without version; empty means the cloud's.
	GraphURL string
	DeviceID string
	// SendTestTo, when set, makes the SMTP check send a short test message there.
	SendTestTo string

	// Credential describes how the program proves itself to Entra ID, for causes such as
	// "the client secret in $MAILAUTH_CLIENT_SECRET (-client-secret-env)"; empty for none.
	Credential string

	// Source returns the token source for a protocol.
	Source func(p cloud.Protocol) oauth2.TokenSource

	TLS *tls.Config
	// HTTP is the transport for EWS, EAS and autodiscover (trusting TLS's roots).
	HTTP http.RoundTripper
	// AutodiscoverDial and AutodiscoverResolver replace DNS and dialing for
	// autodiscover (tests and the quickstart).
	AutodiscoverDial     func(ctx context.Context, network, addr string) (net.Conn, error)
	AutodiscoverResolver interface {
		LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	}
	// AllowedDomains for autodiscover redirects and results.
	AllowedDomains []string

	// Transcript receives a redacted protocol trace; nil for none.
	Transcript io.Writer
	Logger     *slog.Logger
	// Progress is told when each check starts; nil for silence.
	Progress func(protocol string)
	// Timeout bounds each protocol's check; zero means 30 s.
	Timeout time.Duration
}

// Run checks each protocol in turn and returns one Result per protocol.
func Run(ctx context.Context, t Target, protocols []string) []Result {
	var out []Result
	for _, p := range protocols {
		if t.Progress != nil {
			t.Progress(p)
		}
		start := time.Now()
		timeout := t.Timeout
		if timeout == 0 {
			timeout = 30 * time.Second
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		r := check(cctx, t, p)
		cancel()
		r.Protocol = p
		r.Elapsed = time.Since(start).Round(time.Millisecond).String()
		out = append(out, r)
	}
	return out
}

func check(ctx context.Context, t Target, p string) Result {
	proto := cloud.Protocol(p)
	if p == Autodiscover {
		return checkAutodiscover(ctx, t)
	}
	src := t.Source(proto)
	var tokenErr error
	var findings []Finding
	tok, err := fetch(ctx, src)
	if err != nil {
		tokenErr = err
	} else {
		if p == Graph {
			findings = CheckGraphClaims(tok.AccessToken, t)
		} else {
			findings = CheckClaims(tok.AccessToken, proto, t)
		}
	}
	if tokenErr != nil {
		return TokenFailure(t, tokenErr)
	}
	var r Result
	switch p {
	case IMAP:
		r = checkIMAP(ctx, t, src)
	case POP:
		r = checkPOP(ctx, t, src)
	case SMTP:
		r = checkSMTP(ctx, t, src)
	case EWS:
		r = checkEWS(ctx, t, src)
	case EAS:
		r = checkEAS(ctx, t, src)
	case Graph:
		r = checkGraph(ctx, t, src)
	}
	for _, f := range findings {
		r.Findings = append(r.Findings, f.Cause)
	}
	if !r.OK && len(findings) > 0 && !networkClass(r.ErrorClass) {
		// The claims explain the refusal better than the server's words.
		r.Cause = findings[0].Cause + " (server: " + r.Cause + ")"
		r.Fix = findings[0].Fix
		r.ErrorClass = ClassClaims
	}
	if !r.OK && r.Tried == "" {
		r.Tried = where(t, p)
	}
	return r
}

// fetch gets a token through TokenContext when the source has it.
func fetch(ctx context.Context, src oauth2.TokenSource) (*oauth2.Token, error) {
	return mailauth.TokenContext(ctx, src)
}

// Finding is a problem seen in a token's claims, with its fix.
type Finding struct {
	Cause string
	Fix   string
}

// exchangeAppID is Office 365 Exchange Online's application id, a valid audience.
const exchangeAppID = "00000002-0000-0ff1-ce00-000000000000"

// CheckClaims looks at the claims of tok (without verifying it) for what protocol p needs.
func CheckClaims(tok string, p cloud.Protocol, t Target) []Finding {
	c := mailauth.ParseIdentity(tok)
	if c.IsZero() {
		return nil // opaque token (another IdP); the server decides
	}
	var out []Finding
	if !c.ExpiresAt.IsZero() && time.Now().After(c.ExpiresAt) {
		out = append(out, Finding{
			Cause: fmt.Sprintf("the access token expired at %s", c.ExpiresAt.UTC().Format(time.RFC3339)),
			Fix:   "get a fresh token (a tokencache source refreshes by itself; a token from -access-token-file must be renewed)",
		})
	}
	res := strings.TrimRight(t.Cloud.Resource, "/")
	okAud := false
	for _, a := range c.Audience {
		a = strings.TrimRight(a, "/")
		if a == res || a == exchangeAppID || a == strings.TrimRight(cloud.Global.Resource, "/") || a == "https://outlook.office.com" {
			okAud = true
		}
	}
	if !okAud {
		out = append(out, Finding{
			Cause: fmt.Sprintf("the token's audience is %s, not Exchange Online (%s): it was issued for another API (Graph tokens do not work for IMAP, POP, SMTP, EWS or EAS)", strings.Join(c.Audience, ","), res),
			Fix:   fmt.Sprintf("request the token for the Exchange resource: scope %s (app-only) or %s (delegated)", t.Cloud.AppOnlyScope(), t.Cloud.DelegatedScope(p)),
		})
	}
	if c.TenantID == "" {
		out = append(out, Finding{Cause: "the token has no tid (tenant) claim", Fix: "use a token from your organisation's tenant, not a personal account"})
	}
	if c.AppOnly() {
		want := cloud.AppPermission(p)
		if want == "" {
			out = append(out, Finding{Cause: fmt.Sprintf("%s has no app-only access; an app-only token cannot be used", strings.ToUpper(string(p))), Fix: "sign in as a user (delegated, -device-code or -browser) for this protocol"})
		} else if !slices.Contains(c.Roles, want) {
			out = append(out, Finding{
				Cause: fmt.Sprintf("the app-only token's roles (%s) lack %s", strings.Join(c.Roles, ","), want),
				Fix:   fmt.Sprintf("in the app registration add the Office 365 Exchange Online application permission %s and grant admin consent", want),
			})
		}
	} else {
		want := cloud.DelegatedPermission(p)
		if !slices.Contains(c.Scopes, want) {
			out = append(out, Finding{
				Cause: fmt.Sprintf("the token's scopes (%s) lack %s", strings.Join(c.Scopes, " "), want),
				Fix:   fmt.Sprintf("add the delegated permission %s to the app registration and sign in again asking for %s", want, t.Cloud.DelegatedScope(p)),
			})
		}
	}
	return out
}

// ClaimsSummary describes a token for humans, without the token.
func ClaimsSummary(tok string) string {
	c := mailauth.ParseIdentity(tok)
	if c.IsZero() {
		return "opaque token (not a JWT)"
	}
	who := c.UPN
	kind := "delegated"
	perms := strings.Join(c.Scopes, " ")
	if c.AppOnly() {
		kind, who, perms = "app-only", "app "+c.AppID, strings.Join(c.Roles, ",")
	}
	left := time.Until(c.ExpiresAt).Round(time.Second)
	return fmt.Sprintf("%s token for %s, aud %s, tid %s, appid %s, permissions [%s], expires in %s",
		kind, who, strings.Join(c.Audience, ","), c.TenantID, c.AppID, perms, left)
}

// TokenFailure explains why no token could be had: what was asked (the Entra ID host),
// the kind of failure and, when Entra ID refused the credential, which credential.
func TokenFailure(t Target, err error) Result {
	host := hostOf(t.Cloud.AuthorityHost)
	if host == "" {
		host = hostOf(cloud.Global.AuthorityHost)
	}
	r := Result{Detail: "could not get a token: " + err.Error(), Tried: "Entra ID at " + host, ErrorClass: ErrorClass(err)}
	cred := t.Credential
	if cred == "" {
		cred = "the credential"
	}
	var ir *tokencache.InteractionRequiredError
	var ie *tokencache.IdPError
	switch {
	case errors.As(err, &ir):
		r.Cause = fmt.Sprintf("Entra ID at %s wants the user to sign in again (%s %s)", host, ir.Code, ir.AADSTS)
		r.Fix = "run again with -device-code or -browser"
		if ir.Hint != "" {
			r.Cause += ": " + ir.Hint
		}
	case errors.Is(err, tokencache.ErrNotSignedIn):
		r.Cause, r.ErrorClass = "not signed in: the token cache holds no sign-in for this account", "not signed in"
		r.Fix = "run once with -device-code or -browser (or sign in with: token login)"
	case errors.As(err, &ie) && ie.StatusCode == 0:
		r.Cause = fmt.Sprintf("could not reach Entra ID at %s (%s): %s", host, r.ErrorClass, firstLine(rootText(err)))
		switch r.ErrorClass {
		case ClassTLS:
			r.Fix = "the identity provider's certificate is not trusted: pass its CA with -ca-file, or check -authority-host and any TLS-inspecting proxy"
		case ClassTimeout:
			r.Fix = "check this machine's network and any proxy; raise -timeout on a slow link"
		default:
			r.Fix = "check this machine's network and DNS, and -authority-host or -cloud if you set them"
		}
	case errors.As(err, &ie):
		r.ErrorClass = fmt.Sprintf("HTTP %d %s", ie.StatusCode, strings.TrimSpace(ie.Code+" "+ie.AADSTS))
		switch ie.AADSTS {
		case "AADSTS7000215", "AADSTS7000222":
			r.Cause = fmt.Sprintf("Entra ID at %s refused %s (%s %s): the client secret is wrong or expired", host, cred, ie.Code, ie.AADSTS)
			r.Fix = "copy the secret's Value (not its Secret ID) from the app registration's Certificates & secrets, or create a new secret there, and put it in that environment variable"
		case "AADSTS700027", "AADSTS700024", "AADSTS700023", "AADSTS7000274", "AADSTS700021":
			r.Cause = fmt.Sprintf("Entra ID at %s refused %s (%s %s): the certificate is not the one registered for the app, or has expired", host, cred, ie.Code, ie.AADSTS)
			r.Fix = "upload the certificate (its public part) to the app registration's Certificates & secrets, or give -cert the certificate that is registered"
		case "AADSTS700016":
			r.Cause = fmt.Sprintf("Entra ID at %s does not know the client id in this tenant (%s)", host, ie.AADSTS)
			r.Fix = "check -client-id (the Application (client) ID of the app registration) and -tenant"
		case "AADSTS90002", "AADSTS900023":
			r.Cause = fmt.Sprintf("Entra ID at %s does not know the tenant (%s)", host, ie.AADSTS)
			r.Fix = "check -tenant (the Directory (tenant) ID or a verified domain) and -cloud"
		default:
			r.Cause = fmt.Sprintf("Entra ID at %s refused the token request (%s)", host, r.ErrorClass)
			if ie.Description != "" {
				r.Cause += ": " + ie.Description
			}
			r.Fix = ie.Hint
			if r.Fix == "" || ie.Code == "invalid_client" {
				r.Fix = "check -tenant, -client-id and " + cred + "; quote the correlation id in the detail in a support case"
			}
		}
	default:
		r.Cause = fmt.Sprintf("no token (%s): %s", r.ErrorClass, firstLine(err.Error()))
		r.Fix = "check the token flags (-tenant, -client-id, -client-secret-env or -cert, or -access-token-file)"
	}
	return r
}

// hostPort splits addr and reports whether its port means implicit TLS.
func implicitTLS(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	return port == "993" || port == "995" || port == "465"
}

// fail builds a failed Result; the error class is filled in from err.
func fail(cause, fix string, err error) Result {
	r := Result{Cause: cause, Fix: fix}
	if err != nil {
		r.Detail = err.Error()
		r.ErrorClass = ErrorClass(err)
	}
	return r
}
