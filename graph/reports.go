package graph

import (
	"context"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/internal/core/tlsconf"
)

// Operation names of the tenant-wide calls, as they appear in [Error.Op].
const (
	opSignIns       = "list sign-ins"
	opUsageReport   = "get usage report"
	opReportContent = "download usage report"
)

// SignIn is one entry of the Microsoft Entra sign-in log (GET /auditLogs/signIns), with
// the fields a report on legacy authentication uses.
type SignIn struct {
	ID                string       `json:"id"`
	CreatedDateTime   time.Time    `json:"createdDateTime"`
	UserPrincipalName string       `json:"userPrincipalName"`
	UserDisplayName   string       `json:"userDisplayName"`
	UserID            string       `json:"userId"`
	AppID             string       `json:"appId"`
	AppDisplayName    string       `json:"appDisplayName"`
	ClientAppUsed     string       `json:"clientAppUsed"` // such as "Authenticated SMTP" or "IMAP4"
	IPAddress         string       `json:"ipAddress"`
	Status            SignInStatus `json:"status"`
}

// SignInStatus is the outcome of a sign-in: ErrorCode 0 is a success.
type SignInStatus struct {
	ErrorCode         int    `json:"errorCode"`
	FailureReason     string `json:"failureReason"`
	AdditionalDetails string `json:"additionalDetails"`
}

// Succeeded reports whether the sign-in succeeded (status.errorCode 0).
func (s *SignIn) Succeeded() bool { return s.Status.ErrorCode == 0 }

// LegacyClientApps returns the clientAppUsed values of the sign-in log that mean a legacy
// (basic authentication) client: the protocols that send a password rather than a token.
// Microsoft's documents spell some of them two ways (IMAP4 and IMAP, POP3 and POP,
// Authenticated SMTP and SMTP, MAPI Over HTTP and MAPI); both are listed.
func LegacyClientApps() []string {
	return []string{
		"Authenticated SMTP", "SMTP",
		"IMAP4", "IMAP",
		"POP3", "POP",
		"Exchange ActiveSync",
		"Exchange Web Services",
		"Autodiscover",
		"MAPI Over HTTP", "MAPI",
		"Offline Address Book",
		"Outlook Anywhere (RPC over HTTP)",
		"Outlook Service",
		"Exchange Online PowerShell",
		"Reporting Web Services",
		"Universal Outlook",
		"Other clients",
	}
}

// SignInOptions shapes [Client.SignIns]. A nil *SignInOptions lists every sign-in of the
// log's retention period, 1000 a page.
type SignInOptions struct {
	// Since keeps the sign-ins at or after this time (createdDateTime ge); zero means no
	// bound.
	Since time.Time
	// ClientApps keeps the sign-ins whose clientAppUsed is one of these (see
	// [LegacyClientApps]); nil means all.
	ClientApps []string
	// Filter is more OData $filter, joined with "and".
	Filter string
	// Top is the page size ($top), at most 1000. Zero means 1000: fewer pages, fewer
	// throttled requests.
	Top int
	// Progress, when set, is called after each page with the pages and sign-ins read so far.
	Progress func(pages, signIns int)
}

// SignInFilter returns the OData $filter [Client.SignIns] sends for since and clientApps,
// such as "createdDateTime ge 2026-11-06T00:00:00Z and (clientAppUsed eq 'IMAP4' or
// clientAppUsed eq 'POP3')". It does no I/O.
func SignInFilter(since time.Time, clientApps []string) string {
	var parts []string
	if !since.IsZero() {
		parts = append(parts, "createdDateTime ge "+since.UTC().Format("2006-01-02T15:04:05Z"))
	}
	if len(clientApps) > 0 {
		ors := make([]string, len(clientApps))
		for i, a := range clientApps {
			ors[i] = "clientAppUsed eq '" + strings.ReplaceAll(a, "'", "''") + "'"
		}
		if len(ors) == 1 {
			parts = append(parts, ors[0])
		} else {
			parts = append(parts, "("+strings.Join(ors, " or ")+")")
		}
	}
	return strings.Join(parts, " and ")
}

// SignIns lists the tenant's sign-in log (GET /auditLogs/signIns, newest first) and follows
// @odata.nextLink to the end, waiting out 429s like every call of the client. It needs the
// Microsoft Graph permission AuditLog.Read.All and a tenant with Microsoft Entra ID P1 or
// P2: a refusal is an [*Error] (errors.Is [ErrAccessDenied]) whose hint names what is
// missing. The client's Mailbox plays no part.
//
// The sequence yields (sign-in, nil) per entry and, on failure, one (nil, err) and stops.
func (c *Client) SignIns(ctx context.Context, opts *SignInOptions) iter.Seq2[*SignIn, error] {
	var o SignInOptions
	if opts != nil {
		o = *opts
	}
	if o.Top <= 0 || o.Top > 1000 {
		o.Top = 1000
	}
	filter := SignInFilter(o.Since, o.ClientApps)
	if f := strings.TrimSpace(o.Filter); f != "" {
		if filter != "" {
			filter += " and "
		}
		filter += f
	}
	var q query
	q.add("$filter", filter)
	q.addInt("$top", o.Top)
	u := c.api + "/auditLogs/signIns" + q.String()
	return func(yield func(*SignIn, error) bool) {
		pages, n := 0, 0
		for u != "" {
			p, err := getPage[SignIn](ctx, c, opSignIns, u, nil)
			if err != nil {
				yield(nil, err)
				return
			}
			pages++
			n += len(p.Value)
			if o.Progress != nil {
				o.Progress(pages, n)
			}
			for i := range p.Value {
				if !yield(&p.Value[i], nil) {
					return
				}
			}
			u = p.NextLink
			if u != "" {
				if err := c.checkLink(u); err != nil {
					yield(nil, err)
					return
				}
			}
		}
	}
}

// UsageReport fetches a Microsoft 365 usage report of the reports API as CSV, such as
// UsageReport(ctx, "getEmailAppUsageUserDetail", "D30"). period is D7, D30, D90 or D180.
//
// Graph answers with a redirect to a pre-authorised download URL on another host; the
// client follows it with no Authorization header (the bearer token never leaves the Graph
// host), only over https (http only to loopback with InsecureAllowHTTP), and never logs
// the URL or shows it in an error: its path is the credential. The caller must close the
// returned CSV stream. It needs the Microsoft Graph permission Reports.Read.All (delegated:
// a user in a reports reader role).
func (c *Client) UsageReport(ctx context.Context, function, period string) (io.ReadCloser, error) {
	if !validReportFunction(function) {
		return nil, fmt.Errorf("graph: UsageReport: %q is not a report function name (such as getEmailAppUsageUserDetail)", function)
	}
	switch period {
	case "D7", "D30", "D90", "D180":
	default:
		return nil, fmt.Errorf("graph: UsageReport: period %q is not D7, D30, D90 or D180", period)
	}
	u := c.api + "/reports/" + function + "(period='" + period + "')"
	resp, err := c.do(ctx, &call{op: opUsageReport, method: http.MethodGet, url: u, accept: "*/*", redirect: true, stream: true})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 300 {
		return resp.Body, nil // served directly, as a proxy or a test server may
	}
	loc, err := resp.Location()
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("graph: %s: the redirect has no usable Location", opUsageReport)
	}
	if !loc.IsAbs() || loc.Host == "" {
		return nil, fmt.Errorf("graph: %s: the redirect is not to an absolute URL", opUsageReport)
	}
	if err := c.checkPreauthorised(loc, "report download"); err != nil {
		return nil, err
	}
	resp, err = c.do(ctx, &call{op: opReportContent, method: http.MethodGet, url: loc.String(), plain: true, stream: true, secretURL: true})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func validReportFunction(s string) bool {
	if len(s) < 4 || len(s) > 100 || !strings.HasPrefix(s, "get") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// checkPreauthorised allows https pre-authorised URLs anywhere (they carry their own
// authorisation and get no token) and http ones only on loopback with InsecureAllowHTTP.
// Its errors name the host, never the path or query.
func (c *Client) checkPreauthorised(u *url.URL, what string) error {
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && c.insecure:
		return tlsconf.CheckInsecure("graph: InsecureAllowHTTP ("+what+" URL)", u.Host)
	case u.Scheme == "http":
		return fmt.Errorf("%w: graph: the %s URL is plain http (http://%s); its embedded authorisation would travel in clear", mailauth.ErrInsecure, what, u.Host)
	}
	return fmt.Errorf("graph: the %s URL has scheme %q", what, u.Scheme)
}
