// Command mailcheck answers "does OAuth work for this mailbox, and if not, why?".
//
// For one mailbox (your own, a shared one, or the target of an app-only token) it gets a
// token, checks its claims before dialing (audience, the protocol's permission, tenant, app,
// expiry; printed without the token), then tries each protocol: IMAP (AUTHENTICATE, LIST,
// SELECT INBOX), POP3 (AUTH, STAT), SMTP (EHLO, AUTH; a test message only with
// -send-test-to), EWS (GetFolder inbox), EAS (FolderSync), Autodiscover and Microsoft Graph
// (GET mailFolders/inbox, with its own Graph token). The server has the last word: a finding
// in the claims does not stop the attempt. An EWS refusal because EWS is switched off for
// the tenant is named as such, with Graph as the fix.
//
// A token from -access-token-file is for one API: with -protocols all, mailcheck checks
// Graph alone for a Graph token and everything but Graph for an Exchange token.
//
// With a client secret or certificate it checks the credential itself: the token comes
// fresh from Entra ID on every run, and the token cache is neither read nor written, so a
// wrong or just-rotated secret fails at once with the secret named as the cause.
// -use-cache checks a token stored by an earlier run instead; -cache none keeps tokens in
// memory. The output says which token was checked ("token_from" in JSON).
//
// It prints PASS or FAIL per protocol with the cause and the fix in plain words (the
// PowerShell line to run where that is the fix), or JSON with -json. Every failure names
// what was tried (the address, URL or Entra ID host) and the kind of failure (DNS,
// connection refused, timeout, TLS, HTTP status, authentication refused): "tried" and
// "error_class" in JSON. The exit status is 0 only when every requested protocol passed,
// 1 when one failed and 2 for bad usage (each bad input has its own message).
//
//	mailcheck -tenant contoso.com -client-id ID -device-code -mailbox shared@contoso.com
//	mailcheck -access-token-file tok.txt -mailbox alice@contoso.com -protocols imap,smtp -json
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/modernauth/mailauth"
	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/core/redact"
	"github.com/modernauth/mailauth/internal/tool/cli"
	"github.com/modernauth/mailauth/internal/tool/doctor"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// report is the -json output.
type report struct {
	Mailbox string `json:"mailbox"`
	Mode    string `json:"mode"`
	// TokenFrom says which token was checked: "fresh" (asked from Entra ID on this run,
	// so the credential itself was checked), "cache" (-use-cache), "memory" (-cache none)
	// or "file" (-access-token-file).
	TokenFrom string          `json:"token_from"`
	Token     string          `json:"token,omitempty"`
	SignIn    string          `json:"sign_in,omitempty"` // sign-in age and what ends it (delegated)
	OK        bool            `json:"ok"`
	Results   []doctor.Result `json:"results"`
}

// examples end mailcheck's -h.
var examples = []string{
	"mailcheck -tenant contoso.com -client-id ID -mailbox shared@contoso.com -protocols imap,smtp   # app-only; secret in $MAILAUTH_CLIENT_SECRET",
	"mailcheck -tenant contoso.com -client-id ID -device-code -mailbox alice@contoso.com",
	"mailcheck -access-token-file tok.txt -mailbox alice@contoso.com -json",
}

// flags are mailcheck's own flags, next to the common ones.
type flags struct {
	protocols, imapAddr, popAddr, smtpAddr, ewsURL, easURL, graphURL, deviceID, sendTo *string
	appOnly, asJSON, useCache                                                          *bool
}

// newFlagSet defines every flag of mailcheck.
func newFlagSet(stderr io.Writer) (*flag.FlagSet, *cli.Flags, *flags) {
	fs := flag.NewFlagSet("mailcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := cli.Register(fs)
	var m flags
	m.protocols = fs.String("protocols", "all", "comma-separated `LIST` of checks: imap,pop,smtp,ews,eas,autodiscover,graph")
	m.imapAddr = fs.String("imap-addr", "", "IMAP `HOST:PORT` (993: implicit TLS, other ports: STARTTLS; default the cloud's)")
	m.popAddr = fs.String("pop-addr", "", "POP3 `HOST:PORT` (995: implicit TLS, other ports: STLS; default the cloud's)")
	m.smtpAddr = fs.String("smtp-addr", "", "SMTP submission `HOST:PORT` (465: implicit TLS, other ports: STARTTLS; default the cloud's)")
	m.ewsURL = fs.String("ews-url", "", "EWS endpoint `URL` (default the cloud's)")
	m.easURL = fs.String("eas-url", "", "ActiveSync endpoint `URL` (default the cloud's)")
	m.graphURL = fs.String("graph-url", "", "Microsoft Graph endpoint `URL` without version (default the cloud's, e.g. https://graph.microsoft.com)")
	m.deviceID = fs.String("device-id", "mailcheck0001", "ActiveSync device `ID`")
	m.sendTo = fs.String("send-test-to", "", "send a short test message to `ADDR` over SMTP (no message is sent without it)")
	m.appOnly = fs.Bool("app-only", false, "treat the token as app-only (implied by -client-secret-env or -cert, and by a token file whose claims say so)")
	m.asJSON = fs.Bool("json", false, "print the results as JSON")
	m.useCache = fs.Bool("use-cache", false, "check with a token stored by an earlier run while it is valid; by default app-only checks ask Entra ID for a fresh token, so the credential itself is checked")
	fs.Usage = func() {
		cli.Usage(fs, stderr, "mailcheck checks whether OAuth works for one mailbox over IMAP, POP3, SMTP, EWS, EAS, Autodiscover and Microsoft Graph, and says why not.", examples...)
	}
	return fs, f, &m
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, f, m := newFlagSet(stderr)
	protocols, imapAddr, popAddr, smtpAddr, ewsURL, easURL, graphURL, deviceID, sendTo := m.protocols, m.imapAddr, m.popAddr, m.smtpAddr, m.ewsURL, m.easURL, m.graphURL, m.deviceID, m.sendTo
	appOnly, asJSON := m.appOnly, m.asJSON
	if err := cli.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "mailcheck:", err)
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "mailcheck: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return usage("unexpected argument %q: mailcheck takes flags only (see mailcheck -h)", fs.Arg(0))
	}
	list, err := doctor.ParseProtocols(*protocols)
	if err != nil {
		return usage("-protocols: %v", err)
	}
	if f.Mailbox == "" {
		return usage("-mailbox is missing: give the address of the mailbox to check (or set %s)", cli.EnvName("mailbox"))
	}
	warnings, err := f.Check()
	if err != nil {
		return usage("%v", err)
	}
	for _, w := range warnings {
		fmt.Fprintln(stderr, "mailcheck:", w)
	}
	if *sendTo != "" {
		if err := cli.CheckAddress("-send-test-to", *sendTo); err != nil {
			return usage("%v", err)
		}
	}
	for _, a := range []struct{ name, v string }{{"-imap-addr", *imapAddr}, {"-pop-addr", *popAddr}, {"-smtp-addr", *smtpAddr}} {
		if a.v != "" {
			if err := cli.CheckHostPort(a.name, a.v); err != nil {
				return usage("%v", err)
			}
		}
	}
	for _, u := range []struct{ name, v string }{{"-ews-url", *ewsURL}, {"-eas-url", *easURL}, {"-graph-url", *graphURL}} {
		if u.v != "" {
			if err := cli.CheckURL(u.name, u.v); err != nil {
				return usage("%v", err)
			}
		}
	}
	f.Fresh = !*m.useCache && f.Cache != cli.CacheNone
	timeout, err := time.ParseDuration(f.Timeout)
	if err != nil {
		return usage("-timeout %q is not a duration such as 30s or 2m", f.Timeout)
	}
	env, err := cli.Setup(f, stderr)
	if err != nil {
		return usage("%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := env.EnsureSignedIn(ctx); err != nil {
		fmt.Fprintln(stderr, "mailcheck:", env.Redactor.String(err.Error()))
		return 1
	}
	t := doctor.Target{
		Mailbox:    f.Mailbox,
		AppOnly:    *appOnly || env.AppOnly(),
		Cloud:      env.Cloud,
		IMAPAddr:   *imapAddr,
		POPAddr:    *popAddr,
		SMTPAddr:   *smtpAddr,
		EWSURL:     *ewsURL,
		EASURL:     *easURL,
		GraphURL:   *graphURL,
		DeviceID:   *deviceID,
		SendTestTo: *sendTo,
		Credential: env.Credential(),
		Source:     env.Source,
		TLS:        env.TLS,
		HTTP:       env.HTTP.Transport,
		Logger:     env.Logger,
		Progress:   func(p string) { fmt.Fprintf(stderr, "checking %s...\n", p) },
	}
	if env.Transcript != nil {
		t.Transcript = env.Transcript
	}
	rep := report{Mailbox: f.Mailbox, Mode: string(env.Mode()), TokenFrom: env.TokenOrigin(), OK: true}
	if env.Mode() == cli.ModeAppOnly || t.AppOnly {
		rep.Mode = string(cli.ModeAppOnly)
	}
	// One static token serves one API: with "all", check the protocols of its audience.
	if env.Mode() == cli.ModeStatic && (*protocols == "" || *protocols == "all") {
		list = protocolsForStatic(env, list)
	}
	// The token is fetched and described (never printed) before anything is dialed. When
	// none can be had, that is the one failure to report: every check would repeat it.
	first := cloud.Protocol(list[0])
	if first == doctor.Autodiscover {
		first = cloud.IMAP
	}
	start := time.Now()
	if tok, err := mailauth.TokenContext(ctx, env.Source(first)); err == nil {
		rep.Token = doctor.ClaimsSummary(tok.AccessToken)
		if !*asJSON {
			fmt.Fprintf(stderr, "token (%s): %s\n", originText(rep.TokenFrom), rep.Token)
		}
		rep.Results = doctor.Run(ctx, t, list)
	} else if env.Mode() != cli.ModeAnonymous {
		r := doctor.TokenFailure(t, err)
		r.Protocol, r.Detail = "token", env.Redactor.String(r.Detail)
		r.Elapsed = time.Since(start).Round(time.Millisecond).String()
		rep.Results = []doctor.Result{r}
	}
	if env.User != nil {
		if h, err := env.User.Health(ctx); err == nil {
			rep.SignIn = h.String()
			if !*asJSON {
				fmt.Fprintf(stderr, "sign-in: %s\n", rep.SignIn)
			}
		}
	}
	for _, r := range rep.Results {
		rep.OK = rep.OK && r.OK
	}
	if env.Transcript != nil {
		env.Transcript.Flush()
	}
	if *asJSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(stdout, env.Redactor.String(string(b)))
	} else {
		printTable(stdout, env.Redactor, rep)
	}
	if !rep.OK {
		return 1
	}
	return 0
}

func printTable(w io.Writer, red *redact.Redactor, rep report) {
	var b strings.Builder
	fmt.Fprintf(&b, "mailbox: %s (%s)\n", rep.Mailbox, rep.Mode)
	fmt.Fprintf(&b, "token: %s\n", originText(rep.TokenFrom))
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROTOCOL\tRESULT\tDETAIL")
	for _, r := range rep.Results {
		status := "PASS"
		if !r.OK {
			status = "FAIL"
		}
		detail := r.Detail
		if !r.OK {
			detail = failureLine(r)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Protocol, status, detail)
		if !r.OK && r.Fix != "" {
			fmt.Fprintf(tw, "\t\tfix: %s\n", r.Fix)
		}
		for _, f := range r.Findings {
			if r.OK {
				fmt.Fprintf(tw, "\t\tnote: %s\n", f)
			}
		}
	}
	tw.Flush()
	if rep.OK {
		fmt.Fprintln(&b, "all checks passed")
	} else {
		fmt.Fprintln(&b, "some checks failed; the full detail of each failure is in -json output")
	}
	io.WriteString(w, red.String(b.String()))
}

// failureLine is the text of a failed result: the cause, and what was tried with the
// kind of failure when the cause does not say so already.
func failureLine(r doctor.Result) string {
	line := r.Cause
	var add []string
	if r.Tried != "" && !strings.Contains(line, r.Tried) && !strings.Contains(line, hostPart(r.Tried)) {
		add = append(add, "tried "+r.Tried)
	}
	if r.ErrorClass != "" && !strings.Contains(line, r.ErrorClass) {
		add = append(add, "error: "+r.ErrorClass)
	}
	if len(add) > 0 {
		line += " [" + strings.Join(add, "; ") + "]"
	}
	return line
}

func hostPart(tried string) string {
	if u, err := url.Parse(tried); err == nil && u.Host != "" {
		return u.Host
	}
	return tried
}

// originText says in words which token was checked.
func originText(o string) string {
	switch o {
	case cli.OriginFresh:
		return "fresh from Entra ID on this run (the credential itself is checked; -use-cache checks a stored token instead)"
	case cli.OriginCache:
		return "from the token cache while valid (-use-cache)"
	case cli.OriginMemory:
		return "from Entra ID, kept in memory for this run only (-cache none)"
	case cli.OriginFile:
		return "from -access-token-file"
	}
	return "none (anonymous)"
}

// protocolsForStatic keeps Graph alone for a Graph token and drops it for any other token.
func protocolsForStatic(env *cli.Env, list []string) []string {
	tok, err := env.Source(cloud.Graph).Token()
	if err != nil {
		return list
	}
	graphToken := false
	for _, a := range mailauth.ParseIdentity(tok.AccessToken).Audience {
		graphToken = graphToken || cloud.IsGraphAudience(a)
	}
	var out []string
	for _, p := range list {
		if (p == doctor.Graph) == graphToken {
			out = append(out, p)
		}
	}
	return out
}
