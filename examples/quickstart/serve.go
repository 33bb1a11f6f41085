package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/modernauth/mailauth/internal/tool/cli"
	"github.com/modernauth/mailauth/mailauthtest"
)

// AppOnlyProtocols are the checks mailcheck passes app-only against a served lab:
// ActiveSync has no app-only access, and Autodiscover needs the lab's host names, which
// only an in-process dialer reaches.
const AppOnlyProtocols = "imap,pop,smtp,ews,graph"

// DelegatedProtocols are the checks mailcheck passes for the lab's user.
const DelegatedProtocols = "imap,pop,smtp,ews,eas,graph"

// ReadyLine ends the settings -serve prints; a program reading them can stop there.
const ReadyLine = "lab ready; stop it with Ctrl-C (SIGINT) or SIGTERM"

// serve starts the public lab, prints its settings for other processes and keeps it
// running until ctx ends. Its files (the CA, the client secret, a token cache and an env
// file) live in a private temporary directory, removed on the way out.
func serve(ctx context.Context, stdout io.Writer) error {
	dir, err := os.MkdirTemp("", "mailauth-lab-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	lab, err := mailauthtest.Start(ctx, nil)
	if err != nil {
		return err
	}
	defer lab.Close()
	s, err := lab.Settings(dir)
	if err != nil {
		return err
	}
	cache := filepath.Join(dir, "tokens")
	env := append(s.Env(), cli.EnvName("cache")+"="+cache)
	envFile := filepath.Join(dir, "lab.env")
	secret, err := os.ReadFile(s.SecretFile)
	if err != nil {
		return err
	}
	all := append(append([]string(nil), env...), "MAILAUTH_CLIENT_SECRET="+string(secret))
	if err := os.WriteFile(envFile, []byte(strings.Join(all, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	secretEnv := fmt.Sprintf(`MAILAUTH_CLIENT_SECRET="$(cat %s)"`, s.SecretFile)

	w := &strings.Builder{}
	fmt.Fprintf(w, "mailauth test lab: a fake Entra ID and IMAP, POP3, SMTP, EWS, ActiveSync, Autodiscover and Microsoft Graph servers on loopback.\n")
	fmt.Fprintf(w, "Its files are in %s (removed on exit): lab-ca.pem (the CA to trust), client-secret (the app's secret, never printed), tokens (a token cache), lab.env (every setting below and the secret).\n\n", dir)
	fmt.Fprintf(w, "Tenant %s; app-only app %s (secret in client-secret); public app %s for -device-code, which signs in %s at once.\n", s.Tenant, s.ClientID, s.PublicClientID, s.User)
	fmt.Fprintf(w, "Mailboxes: %s and %s (users), %s (shared; %s and the app have full access).\n\n", mailauthtest.User, mailauthtest.OtherUser, mailauthtest.SharedMailbox, mailauthtest.User)

	common := []string{"-authority-host", s.AuthorityHost, "-tenant", s.Tenant, "-client-id", s.ClientID, "-ca-file", s.CAFile, "-cache", cache, "-mailbox", s.Mailbox}
	check := []string{"-imap-addr", s.IMAPAddr, "-pop-addr", s.POPAddr, "-smtp-addr", s.SMTPAddr, "-ews-url", s.EWSURL, "-eas-url", s.EASURL, "-graph-url", s.GraphURL, "-protocols", AppOnlyProtocols}
	fmt.Fprintf(w, "As flags (FLAGS work for every example program, MAILCHECK_FLAGS are mailcheck's):\n")
	fmt.Fprintf(w, "  export %s\n", secretEnv)
	fmt.Fprintf(w, "  FLAGS=\"%s\"\n", strings.Join(common, " "))
	fmt.Fprintf(w, "  MAILCHECK_FLAGS=\"%s\"\n", strings.Join(check, " "))
	fmt.Fprintf(w, "  go run ./examples/mailcheck $FLAGS $MAILCHECK_FLAGS\n\n")
	fmt.Fprintf(w, "As environment variables (MAILAUTH_<FLAG>, as every example program reads them):\n")
	for _, e := range env {
		fmt.Fprintf(w, "  export %s\n", e)
	}
	fmt.Fprintf(w, "  export %s\n", secretEnv)
	fmt.Fprintf(w, "  go run ./examples/mailcheck -protocols %s\n", AppOnlyProtocols)
	fmt.Fprintf(w, "or all at once: set -a; . %s; set +a\n\n", envFile)
	fmt.Fprintf(w, "Delegated, with the environment above but no secret (the lab approves the device code at once):\n")
	fmt.Fprintf(w, "  MAILAUTH_CLIENT_SECRET= go run ./examples/mailcheck -client-id %s -device-code -mailbox %s -protocols %s\n\n", s.PublicClientID, s.User, DelegatedProtocols)
	fmt.Fprintf(w, "Other programs, with $FLAGS or the environment:\n")
	fmt.Fprintf(w, "  imap-shared-mailbox -addr %s -starttls\n  pop3-fetch -addr %s -stls\n  smtp-send -addr %s -to %s\n", s.IMAPAddr, s.POPAddr, s.SMTPAddr, mailauthtest.OtherUser)
	fmt.Fprintf(w, "  ews-inbox -app-only -ews-url %s\n  graph-inbox -app-only -graph-url %s\n", s.EWSURL, s.GraphURL)
	fmt.Fprintf(w, "  MAILAUTH_CLIENT_SECRET= eas-sync -eas-url %s -client-id %s -device-code -mailbox %s (ActiveSync is delegated only)\n", s.EASURL, s.PublicClientID, s.User)
	fmt.Fprintln(w, ReadyLine)
	if _, err := io.WriteString(stdout, w.String()); err != nil {
		return err
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "lab stopped")
	return nil
}
