package graph_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/graph"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
	"github.com/modernauth/mailauth/internal/fake/graphtest"
)

// lab starts a fake Entra ID and an in-process Graph server with the mailbox
// alice@contoso.test, and returns a client options value pointing at it with a delegated
// token for alice. Real programs set Token to a tokencache source instead, and leave URL
// and Transport empty.
func lab(items int) (*graph.Options, *graphtest.Server, func()) {
	idp, err := fakeidp.New(fakeidp.Options{})
	if err != nil {
		log.Fatal(err)
	}
	srv, err := graphtest.New(graphtest.Options{Verify: idp.Verify, Mailboxes: []string{"alice@contoso.test"}, Items: items})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := idp.Mint(fakeidp.Claims{Audience: "https://graph.microsoft.com", TenantID: "contoso.test", UPN: "alice@contoso.test",
		Scp: []string{"Mail.ReadWrite", "Mail.Send"}, ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		log.Fatal(err)
	}
	opts := &graph.Options{
		Token:     oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok}),
		URL:       srv.URL(),
		Transport: srv.Transport(),
	}
	return opts, srv, func() { srv.Close(); idp.Close() }
}

// List the newest messages of the inbox.
func Example() {
	opts, _, done := lab(5)
	defer done()
	ctx := context.Background()

	c, err := graph.New(opts) // opts.Mailbox "" is /me; set it to open another mailbox
	if err != nil {
		log.Fatal(err)
	}
	for m, err := range c.Messages(ctx, graph.Inbox, &graph.ListOptions{Max: 3}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(m.ReceivedDateTime.Format(time.DateTime), m.From, "|", m.Subject)
	}
	// Output:
	// 2026-11-02 09:00:00 Sender 1 <sender1@fabrikam.test> | Message 1
	// 2026-11-02 08:59:00 Sender 2 <sender2@fabrikam.test> | Message 2
	// 2026-11-02 08:58:00 Sender 3 <sender3@fabrikam.test> | Message 3
}

// Send a MIME message built for SMTP. Over Graph's 4 MB request limit, SendMIME goes
// through a draft and upload sessions by itself.
func ExampleClient_SendMIME() {
	opts, srv, done := lab(-1)
	defer done()
	c, err := graph.New(opts)
	if err != nil {
		log.Fatal(err)
	}
	msg := "From: alice@contoso.test\r\nTo: bob@contoso.test\r\nSubject: Report\r\n\r\nSee you at ten.\r\n"
	if err := c.SendMIME(context.Background(), strings.NewReader(msg)); err != nil {
		log.Fatal(err)
	}
	for _, s := range srv.Sent() {
		fmt.Println(s.Via, s.To, s.Subject)
	}
	// Output:
	// sendMail MIME [bob@contoso.test] Report
}

// Sync a folder: loop while More, then keep State (the delta link) for next time, in a
// file or a database, like an EWS sync state.
func ExampleClient_SyncMessages() {
	opts, srv, done := lab(7)
	defer done()
	ctx := context.Background()
	c, err := graph.New(opts)
	if err != nil {
		log.Fatal(err)
	}
	state, total := "", 0
	for {
		page, err := c.SyncMessages(ctx, graph.Inbox, state, &graph.SyncOptions{PageSize: 5})
		if err != nil {
			log.Fatal(err)
		}
		total += len(page.Changed)
		state = page.State
		if !page.More {
			break
		}
	}
	fmt.Println("first round:", total, "messages")

	if _, err := srv.Deliver("alice@contoso.test", graph.Inbox, graphtest.Message{Subject: "New one"}); err != nil {
		log.Fatal(err)
	}
	page, err := c.SyncMessages(ctx, graph.Inbox, state, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("next round:", page.Changed[0].Subject, "removed:", len(page.Removed))
	// Output:
	// first round: 7 messages
	// next round: New one removed: 0
}

// Mark many messages read in few round trips: $batch takes 20 requests a call.
func ExampleClient_Batch() {
	opts, _, done := lab(3)
	defer done()
	ctx := context.Background()
	c, err := graph.New(opts)
	if err != nil {
		log.Fatal(err)
	}
	var reqs []graph.BatchRequest
	for m, err := range c.Messages(ctx, graph.Inbox, nil) {
		if err != nil {
			log.Fatal(err)
		}
		reqs = append(reqs, graph.BatchRequest{Method: "PATCH", URL: "messages/" + m.ID, Body: map[string]bool{"isRead": true}})
	}
	res, err := c.Batch(ctx, reqs)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range res {
		fmt.Println(r.ID, r.Status, r.Err())
	}
	// Output:
	// 1 200 <nil>
	// 2 200 <nil>
	// 3 200 <nil>
}

// Errors carry Graph's code, the request ids and a hint.
func ExampleError() {
	opts, _, done := lab(1)
	defer done()
	c, err := graph.New(opts)
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Message(context.Background(), "AAMkAGNoSuchMessage=", nil)
	var ge *graph.Error
	if errors.As(err, &ge) {
		fmt.Println(ge.StatusCode, ge.Code, errors.Is(err, graph.ErrNotFound))
		fmt.Println(ge.Hint()[:40])
	}
	// Output:
	// 404 ErrorItemNotFound true
	// the id names no item or folder here: it
}
