// Command eas-sync lists a mailbox's folders and the newest messages of one
// folder over Exchange ActiveSync with an OAuth token.
//
// It sends OPTIONS, provisions the device, runs FolderSync and then Sync on
// the folder until the server has nothing more. With -state FILE the sync
// keys are kept between runs and only what changed since the last run is
// listed.
//
// Examples:
//
//	eas-sync -mailbox alice@contoso.com -tenant contoso.onmicrosoft.com -client-id ID -device-code
//	eas-sync -mailbox alice@contoso.com -access-token-file tok.txt -json
//	eas-sync -eas-url https://127.0.0.1:8443/Microsoft-Server-ActiveSync -ca-file ca.pem -access-token-file tok.txt -mailbox alice@contoso.test
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/modernauth/mailauth/internal/core/httpx"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/eas"
	"github.com/modernauth/mailauth/internal/tool/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "eas-sync:", err)
		}
		os.Exit(1)
	}
}

type output struct {
	Folders  []eas.Folder `json:"folders"`
	Folder   string       `json:"folder"`
	Messages []eas.Email  `json:"messages"`
	// Items are the folder's other items: contacts, events, tasks, notes.
	Items []eas.Item `json:"items,omitempty"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eas-sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := cli.Register(fs)
	easURL := fs.String("eas-url", "", "ActiveSync `URL` (default: the cloud's, https://outlook.office365.com/Microsoft-Server-ActiveSync)")
	deviceID := fs.String("device-id", "MailAuthEasSync", "device `ID`: letters and digits, stable across runs")
	folder := fs.String("folder", "Inbox", "folder to list, by display `NAME` or server ID")
	maxN := fs.Int("max", 20, "list at most `N` messages, newest first (0: all)")
	asJSON := fs.Bool("json", false, "print {folders, folder, messages, items} as JSON")
	stateFile := fs.String("state", "", "keep the sync state in `FILE` between runs (then only changes are listed)")
	fs.Usage = func() {
		cli.Usage(fs, stderr, "eas-sync lists folders and the newest messages of a mailbox over Exchange ActiveSync.")
	}
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if f.Mailbox == "" {
		return errors.New("-mailbox is required")
	}
	env, err := cli.Setup(f, stderr)
	if err != nil {
		return err
	}
	if env.AppOnly() {
		return errors.New("app-only tokens cannot open a mailbox over ActiveSync (Exchange Online has no app-only ActiveSync access): sign in as the user (-device-code or -browser) or pass -access-token-file")
	}
	if err := env.EnsureSignedIn(ctx); err != nil {
		return err
	}
	if *easURL == "" {
		*easURL = env.Cloud.EASURL
	}
	var st *eas.State
	if *stateFile != "" {
		if b, err := os.ReadFile(*stateFile); err == nil {
			st = new(eas.State)
			if err := json.Unmarshal(b, st); err != nil {
				return fmt.Errorf("%s: %w", *stateFile, err)
			}
		}
	}
	base := httpx.Transport()
	base.TLSClientConfig = env.TLS
	c, err := eas.New(&eas.Options{URL: *easURL, Mailbox: f.Mailbox, DeviceID: *deviceID, Token: env.Source(cloud.EAS),
		Transport: env.Transport(base), State: st, Logger: env.Logger})
	if err != nil {
		return err
	}
	if _, err := c.ServerOptions(ctx); err != nil {
		return err
	}
	folders, err := c.Folders(ctx)
	if err != nil {
		return err
	}
	state := c.State()
	target, ok := state.Folder(*folder)
	if !ok {
		return fmt.Errorf("no folder %q (see the folder list with -json)", *folder)
	}
	res, err := c.SyncFolder(ctx, target.ServerID, &eas.SyncOptions{WindowSize: 100, TruncationSize: 256})
	if err != nil {
		return err
	}
	if *stateFile != "" {
		b, _ := json.MarshalIndent(c.State(), "", "  ")
		if err := os.WriteFile(*stateFile, b, 0o600); err != nil {
			return err
		}
	}
	var msgs []eas.Email
	var others []eas.Item
	for _, it := range res.Added {
		if it.Email != nil {
			msgs = append(msgs, *it.Email)
		} else {
			others = append(others, it)
		}
	}
	slices.SortFunc(msgs, func(a, b eas.Email) int { return b.DateReceived.Compare(a.DateReceived) })
	if *maxN > 0 && len(msgs) > *maxN {
		msgs = msgs[:*maxN]
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(output{Folders: folders, Folder: target.ServerID, Messages: msgs, Items: others})
	}
	for _, fo := range folders {
		fmt.Fprintf(stdout, "%-8s %-14s %s\n", fo.ServerID, fo.Type, fo.DisplayName)
	}
	fmt.Fprintln(stdout)
	for _, m := range msgs {
		mark := " "
		if !m.Read {
			mark = "*"
		}
		fmt.Fprintf(stdout, "%s %s  %-30.30s  %s\n", mark, m.DateReceived.Local().Format(time.DateTime), m.From, m.Subject)
	}
	for _, it := range others {
		fmt.Fprintf(stdout, "%-8s %s\n", it.Class, describe(it))
	}
	fmt.Fprintf(stderr, "%d folder(s); %d new item(s) in %s, %d message(s) listed\n", len(folders), len(res.Added), target.DisplayName, len(msgs))
	return nil
}

// describe is one line for an item that is not a message.
func describe(it eas.Item) string {
	switch {
	case it.Contact != nil:
		return strings.TrimSpace(it.Contact.FileAs + "  " + it.Contact.Email1Address)
	case it.Event != nil:
		return it.Event.StartTime.Local().Format(time.DateTime) + "  " + it.Event.Subject
	case it.Task != nil:
		return it.Task.Subject
	}
	return it.ServerID
}
