package eas_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/eas"
	"github.com/modernauth/mailauth/mailauthtest"
	"github.com/modernauth/mailauth/tokencache"
)

// Example synchronizes a mailbox with a delegated token (ActiveSync has no
// app-only access). The lab (package mailauthtest) stands in for Entra ID
// and Exchange Online; there, URL is cloud.Global.EASURL and Transport stays
// nil.
func Example() {
	lab, err := mailauthtest.Start(context.Background(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close()
	cache := tokencache.New(&tokencache.Options{HTTPClient: lab.HTTPClient()})
	alice, err := lab.SignIn(context.Background(), cache, "alice@contoso.test")
	if err != nil {
		log.Fatal(err)
	}

	c, err := eas.New(&eas.Options{
		URL:       lab.EASURL(),
		Mailbox:   "alice@contoso.test",
		DeviceID:  "Example01",
		Token:     alice.Source(lab.Cloud().DelegatedScopes(cloud.EAS)...),
		Transport: lab.HTTPClient().Transport, // trusts the lab's CA
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.ServerOptions(ctx); err != nil {
		log.Fatal(err)
	}
	folders, err := c.Folders(ctx) // provisions on the server's 449 first
	if err != nil {
		log.Fatal(err)
	}
	st := c.State()
	inbox, _ := st.Folder("Inbox")
	res, err := c.SyncFolder(ctx, inbox.ServerID, &eas.SyncOptions{WindowSize: 10})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("protocol:", c.ProtocolVersion())
	fmt.Println("folders:", len(folders))
	fmt.Println("new in Inbox:", len(res.Added), "newest:", res.Added[0].Email.Subject)
	// Output:
	// protocol: 16.1
	// folders: 7
	// new in Inbox: 30 newest: Message 30
}

// ExampleClient_State shows how to keep the sync state between runs so
// the next run only sees changes.
func ExampleClient_State() {
	var src oauth2.TokenSource // a tokencache Source with EAS.AccessAsUser.All
	var saved *eas.State
	if b, err := os.ReadFile("eas-state.json"); err == nil {
		saved = new(eas.State)
		if err := json.Unmarshal(b, saved); err != nil {
			log.Fatal(err)
		}
	}
	c, err := eas.New(&eas.Options{Mailbox: "alice@contoso.com", DeviceID: "MyScript01", Token: src, State: saved})
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.SyncFolder(context.Background(), "1", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.Added), "new messages")
	b, _ := json.Marshal(c.State())
	if err := os.WriteFile("eas-state.json", b, 0o600); err != nil {
		log.Fatal(err)
	}
}
