// Command graph-send sends a message through Microsoft Graph: the way to send when SMTP
// AUTH is switched off for the tenant. It takes a complete MIME message (as built for SMTP;
// over 4 MB it goes through a draft and upload sessions) or a plain text message from
// flags, and exits 0 only when Graph accepted it (202 Accepted).
//
//	graph-send -mailbox alice@contoso.com -tenant T -client-id ID -device-code -to bob@contoso.com -subject Hi -body "See you"
//	MAILAUTH_CLIENT_SECRET=... graph-send -mailbox noreply@contoso.com -tenant T -client-id ID -mime-file report.eml
//	make-report | graph-send -access-token-file tok.txt -mailbox noreply@contoso.com -mime-file -
//
// The sender is -mailbox (/users/ADDR; without it, the signed-in user). It needs the
// Microsoft Graph permission Mail.Send (application, scoped with RBAC for Applications, or
// delegated; Mail.Send.Shared to send from a shared mailbox).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/graph"
	"github.com/modernauth/mailauth/internal/tool/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("graph-send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := cli.Register(fs)
	graphURL := fs.String("graph-url", "", "Microsoft Graph endpoint `URL` without version (default: the cloud's; the client adds /v1.0)")
	mimeFile := fs.String("mime-file", "", "send the MIME message in `FILE` (- reads stdin) as it is")
	to := fs.String("to", "", "recipients of a plain message, comma-separated `ADDRS`")
	subject := fs.String("subject", "", "subject of a plain message")
	body := fs.String("body", "", "text body of a plain message")
	fs.Usage = func() {
		cli.Usage(fs, stderr, "graph-send -mailbox SENDER (-mime-file FILE | -to ADDRS -subject S -body B) [flags]: send a message through Microsoft Graph.")
	}
	if err := cli.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if (*mimeFile == "") == (*to == "") {
		fmt.Fprintln(stderr, "graph-send: give either -mime-file or -to (with -subject and -body)")
		return 2
	}
	env, err := cli.Setup(f, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "graph-send:", err)
		return 2
	}
	if env.AppOnly() && f.Mailbox == "" {
		fmt.Fprintln(stderr, "graph-send: -mailbox (the sender) is required with an app-only token")
		return 2
	}
	timeout, err := time.ParseDuration(f.Timeout)
	if err != nil {
		fmt.Fprintln(stderr, "graph-send: -timeout:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := send(ctx, env, stdin, *graphURL, *mimeFile, *to, *subject, *body); err != nil {
		fmt.Fprintln(stderr, "graph-send:", env.Redactor.String(err.Error()))
		return 1
	}
	fmt.Fprintln(stdout, "accepted by Microsoft Graph for delivery")
	return 0
}

func send(ctx context.Context, env *cli.Env, stdin io.Reader, graphURL, mimeFile, to, subject, body string) error {
	if err := env.EnsureSignedIn(ctx); err != nil {
		return err
	}
	c, err := graph.New(&graph.Options{URL: graphURL, Cloud: env.Cloud, Token: env.Source(cloud.Graph), Mailbox: env.Flags.Mailbox,
		Transport: env.HTTP.Transport, Logger: env.Logger})
	if err != nil {
		return err
	}
	if mimeFile != "" {
		var r io.Reader = stdin
		if mimeFile != "-" {
			fh, err := os.Open(mimeFile)
			if err != nil {
				return err
			}
			defer fh.Close()
			r = fh
		}
		return c.SendMIME(ctx, r)
	}
	var rcpts []string
	for _, a := range strings.Split(to, ",") {
		if a = strings.TrimSpace(a); a != "" {
			rcpts = append(rcpts, a)
		}
	}
	return c.Send(ctx, &graph.Mail{Subject: subject, Body: body, To: rcpts})
}
