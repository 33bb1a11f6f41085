// Command smtp-send sends one message through SMTP submission with an OAuth 2.0 token
// (SASL XOAUTH2), the way Exchange Online wants it: STARTTLS on port 587, the token in a
// continuation line because it is longer than the 512-octet AUTH line allows.
//
//	smtp-send -tenant contoso.com -client-id ID -user alice@contoso.com -device-code -to bob@example.com -subject hi
//	MAILAUTH_CLIENT_SECRET=... smtp-send -tenant T -client-id ID -mailbox noreply@contoso.com -to bob@example.com
//	smtp-send -access-token-file tok.txt -mailbox alice@example.com -addr 127.0.0.1:9587 -ca-file ca.pem -to bob@example.com
//
// -mailbox is the mailbox that authenticates; -from (default -mailbox) is the sender, which
// needs SendAs when it differs (a shared mailbox). The body is read from -body-file, or
// stdin when -body-file is "-". Failures are explained in plain words, never with a token.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/internal/tool/cli"
	"github.com/modernauth/mailauth/smtpauth"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("smtp-send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := cli.Register(fs)
	addr := fs.String("addr", "", "submission `HOST:PORT` (default the cloud's SMTP host, port 587 with STARTTLS; 465 means implicit TLS)")
	from := fs.String("from", "", "sender `ADDR` (default -mailbox; another address needs SendAs)")
	to := fs.String("to", "", "comma-separated recipient `ADDRS`")
	subject := fs.String("subject", "mailauth test", "subject line")
	bodyFile := fs.String("body-file", "", "message body `FILE` (- reads stdin; default a one-line body)")
	fs.Usage = func() {
		cli.Usage(fs, stderr, "smtp-send sends one message through SMTP submission with OAuth (XOAUTH2).")
	}
	if err := cli.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if f.Mailbox == "" || *to == "" {
		fmt.Fprintln(stderr, "smtp-send: -mailbox and -to are required")
		return 2
	}
	if *from == "" {
		*from = f.Mailbox
	}
	timeout, err := time.ParseDuration(f.Timeout)
	if err != nil {
		fmt.Fprintln(stderr, "smtp-send: -timeout:", err)
		return 2
	}
	body := []byte("Sent by mailauth's smtp-send.\r\n")
	if *bodyFile != "" {
		r := stdin
		if *bodyFile != "-" {
			fh, err := os.Open(*bodyFile)
			if err != nil {
				fmt.Fprintln(stderr, "smtp-send:", err)
				return 2
			}
			defer fh.Close()
			r = fh
		}
		if body, err = io.ReadAll(io.LimitReader(r, 25<<20)); err != nil {
			fmt.Fprintln(stderr, "smtp-send:", err)
			return 2
		}
	}
	rcpts := strings.Split(*to, ",")
	msg, err := compose(*from, rcpts, *subject, body)
	if err != nil {
		fmt.Fprintln(stderr, "smtp-send:", err)
		return 2
	}
	env, err := cli.Setup(f, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "smtp-send:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := env.EnsureSignedIn(ctx); err != nil {
		return fail(stderr, err)
	}
	if *addr == "" {
		*addr = env.Cloud.SMTPAddr()
	}
	opts := &smtpauth.Options{Token: env.Source(cloud.SMTP), Mailbox: f.Mailbox, TLSConfig: env.TLS, Logger: env.Logger}
	dial := smtpauth.DialStartTLS // submission, port 587
	if _, port, _ := net.SplitHostPort(*addr); port == "465" {
		dial = smtpauth.DialTLS // implicit TLS
	}
	c, err := dial(ctx, *addr, opts)
	if err != nil {
		return fail(stderr, err)
	}
	defer c.Close()
	if err := c.SendMail(ctx, *from, rcpts, bytes.NewReader(msg)); err != nil {
		return fail(stderr, err)
	}
	_ = c.Quit() // the message is accepted; a failed QUIT changes nothing

	fmt.Fprintf(stdout, "PASS: sent %q from %s to %s via %s\n", *subject, *from, strings.Join(rcpts, ", "), *addr)
	return 0
}

// compose builds a minimal RFC 5322 message with CRLF line ends.
func compose(from string, to []string, subject string, body []byte) ([]byte, error) {
	for _, a := range append([]string{from}, to...) {
		if _, err := mail.ParseAddress(a); err != nil {
			return nil, fmt.Errorf("bad address %q: %w", a, err)
		}
	}
	if strings.ContainsAny(subject, "\r\n") {
		return nil, errors.New("the subject must be one line")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
		from, strings.Join(to, ", "), subject, time.Now().Format(time.RFC1123Z))
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n", "\r\n"))
	return b.Bytes(), nil
}

func fail(w io.Writer, err error) int {
	fmt.Fprintln(w, "FAIL:", err)
	return 1
}
