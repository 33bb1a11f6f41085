// Command sdkinbox lists the newest messages of one folder with msgraph-sdk-go, the way
// its README shows (azidentity credential, GraphServiceClient). It exists only so that
// BENCHMARKS.md can compare its cold build time with examples/graph-inbox's; it is in its
// own module so the main module never builds it.
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

func main() {
	cred, err := azidentity.NewClientSecretCredential(os.Getenv("TENANT"), os.Getenv("CLIENT_ID"), os.Getenv("CLIENT_SECRET"), nil)
	if err != nil {
		log.Fatal(err)
	}
	client, err := msgraphsdk.NewGraphServiceClientWithCredentials(cred, []string{"https://graph.microsoft.com/.default"})
	if err != nil {
		log.Fatal(err)
	}
	top := int32(20)
	cfg := &users.ItemMailFoldersItemMessagesRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemMailFoldersItemMessagesRequestBuilderGetQueryParameters{
			Top: &top, Select: []string{"id", "subject", "from", "receivedDateTime"}, Orderby: []string{"receivedDateTime desc"},
		},
	}
	res, err := client.Users().ByUserId(os.Getenv("MAILBOX")).MailFolders().ByMailFolderId("inbox").Messages().Get(context.Background(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range res.GetValue() {
		from := ""
		if f := m.GetFrom(); f != nil && f.GetEmailAddress() != nil && f.GetEmailAddress().GetAddress() != nil {
			from = *f.GetEmailAddress().GetAddress()
		}
		subject := ""
		if s := m.GetSubject(); s != nil {
			subject = *s
		}
		fmt.Println(m.GetReceivedDateTime(), from, subject)
	}
}
