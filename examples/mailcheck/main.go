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
// It prints PASS or FAIL per protocol with the cause and the fix in plain words (the
// PowerShell line to run where that is the fix), or JSON with -json. The exit status is 0
// only when every requested protocol passed, 1 when one failed and 2 for bad usage.
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
	Mailbox string          `json:"mailbox"`
	Mode    string          `json:"mode"`
	Token   string          `json:"token,omitempty"`
	SignIn  string          `json:"sign_in,omitempty"` // sign-in age and what ends it (delegated)
	OK      bool            `json:"ok"`
	Results []doctor.Result `json:"results"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mailcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := cli.Register(fs)
	protocols := fs.String("protocols", "all", "comma-separated `LIST` of checks: imap,pop,smtp,ews,eas,autodiscover,graph")
	imapAddr := fs.String("imap-addr", "", "IMAP `HOST:PORT` (993: implicit TLS, other ports: STARTTLS; default the cloud's)")
	popAddr := fs.String("pop-addr", "", "POP3 `HOST:PORT` (995: implicit TLS, other ports: STLS; default the cloud's)")
	smtpAddr := fs.String("smtp-addr", "", "SMTP submission `HOST:PORT` (465: implicit TLS, other ports: STARTTLS; default the cloud's)")
	ewsURL := fs.String("ews-url", "", "EWS endpoint `URL` (default the cloud's)")
	easURL := fs.String("eas-url", "", "ActiveSync endpoint `URL` (default the cloud's)")
	graphURL := fs.String("graph-url", "", "Microsoft Graph endpoint `URL` without version (default the cloud's, e.g. https://graph.microsoft.com)")
	deviceID := fs.String("device-id", "mailcheck0001", "ActiveSync device `ID`")
	sendTo := fs.String("send-test-to", "", "send a short test message to `ADDR` over SMTP (no message is sent without it)")
	appOnly := fs.Bool("app-only", false, "treat the token as app-only (implied by -client-secret-env or -cert, and by a token file whose claims say so)")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	fs.Usage = func() {
		cli.Usage(fs, stderr, "mailcheck checks whether OAuth works for one mailbox over IMAP, POP3, SMTP, EWS, EAS, Autodiscover and Microsoft Graph, and says why not.")
	}
	if err := cli.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "mailcheck:", err)
		return 2
	}
	list, err := doctor.ParseProtocols(*protocols)
	if err != nil {
		fmt.Fprintln(stderr, "mailcheck:", err)
		return 2
	}
	if f.Mailbox == "" {
		fmt.Fprintln(stderr, "mailcheck: -mailbox is required")
		return 2
	}
	timeout, err := time.ParseDuration(f.Timeout)
	if err != nil {
		fmt.Fprintln(stderr, "mailcheck: -timeout:", err)
		return 2
	}
	env, err := cli.Setup(f, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "mailcheck:", err)
		return 2
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
		Source:     env.Source,
		TLS:        env.TLS,
		HTTP:       env.HTTP.Transport,
		Logger:     env.Logger,
		Progress:   func(p string) { fmt.Fprintf(stderr, "checking %s...\n", p) },
	}
	if env.Transcript != nil {
		t.Transcript = env.Transcript
	}
	rep := report{Mailbox: f.Mailbox, Mode: string(env.Mode()), OK: true}
	if env.Mode() == cli.ModeAppOnly || t.AppOnly {
		rep.Mode = string(cli.ModeAppOnly)
	}
	// One static token serves one API: with "all", check the protocols of its audience.
	if env.Mode() == cli.ModeStatic && (*protocols == "" || *protocols == "all") {
		list = protocolsForStatic(env, list)
	}
	// The token is described (never printed) before anything is dialed.
	if tok, err := env.Source(cloud.IMAP).Token(); err == nil {
		rep.Token = doctor.ClaimsSummary(tok.AccessToken)
		if !*asJSON {
			fmt.Fprintf(stderr, "token: %s\n", rep.Token)
		}
	}
	if env.User != nil {
		if h, err := env.User.Health(ctx); err == nil {
			rep.SignIn = h.String()
			if !*asJSON {
				fmt.Fprintf(stderr, "sign-in: %s\n", rep.SignIn)
			}
		}
	}
	rep.Results = doctor.Run(ctx, t, list)
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
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROTOCOL\tRESULT\tDETAIL")
	for _, r := range rep.Results {
		status := "PASS"
		if !r.OK {
			status = "FAIL"
		}
		detail := r.Detail
		if !r.OK {
			detail = r.Cause
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
		fmt.Fprintln(&b, "some checks failed; the detail of each failure is in -json output")
	}
	io.WriteString(w, red.String(b.String()))
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
