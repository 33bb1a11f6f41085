package graph_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/modernauth/mailauth/graph"
	"github.com/modernauth/mailauth/mailauthtest"
	"github.com/modernauth/mailauth/tokencache"
)

// lab starts the test lab (package mailauthtest: a fake Entra ID and a Graph server on
// loopback, among others) and returns client options pointing at it with a delegated
// token source for alice@contoso.test. Real programs take the source from their own cache
// (cloud.Global) and leave URL and Transport empty.
func lab() (*graph.Options, *mailauthtest.Lab) {
	ctx := context.Background()
	l, err := mailauthtest.Start(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	cache := tokencache.New(&tokencache.Options{HTTPClient: l.HTTPClient()})
	alice, err := l.SignIn(ctx, cache, "alice@contoso.test")
	if err != nil {
		log.Fatal(err)
	}
	return &graph.Options{
		Token:     alice.Source(l.Cloud().GraphDelegatedScopes()...),
		URL:       l.GraphURL(),
		Transport: l.HTTPClient().Transport, // trusts the lab's CA
	}, l
}

// List the newest messages of the inbox.
func Example() {
	opts, l := lab()
	defer l.Close()
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
	opts, l := lab()
	defer l.Close()
	c, err := graph.New(opts)
	if err != nil {
		log.Fatal(err)
	}
	msg := "From: alice@contoso.test\r\nTo: bob@contoso.test\r\nSubject: Report\r\n\r\nSee you at ten.\r\n"
	if err := c.SendMIME(context.Background(), strings.NewReader(msg)); err != nil {
		log.Fatal(err)
	}
	for _, s := range l.Sent() {
		fmt.Println(s.Protocol, s.Mailbox, s.To, s.Subject)
	}
	// Output:
	// Graph alice@contoso.test [bob@contoso.test] Report
}

// Sync a folder: loop while More, then keep State (the delta link) for next time, in a
// file or a database, like an EWS sync state.
func ExampleClient_SyncMessages() {
	opts, l := lab()
	defer l.Close()
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

	if err := l.Deliver("alice@contoso.test", []byte("From: carol@contoso.test\r\nSubject: New one\r\n\r\nHi.\r\n")); err != nil {
		log.Fatal(err)
	}
	page, err := c.SyncMessages(ctx, graph.Inbox, state, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("next round:", page.Changed[0].Subject, "removed:", len(page.Removed))
	// Output:
	// first round: 12 messages
	// next round: New one removed: 0
}

// Mark many messages read in few round trips: $batch takes 20 requests a call.
func ExampleClient_Batch() {
	opts, l := lab()
	defer l.Close()
	ctx := context.Background()
	c, err := graph.New(opts)
	if err != nil {
		log.Fatal(err)
	}
	var reqs []graph.BatchRequest
	for m, err := range c.Messages(ctx, graph.Inbox, &graph.ListOptions{Max: 3}) {
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
	opts, l := lab()
	defer l.Close()
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
