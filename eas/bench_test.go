package eas

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/eas/wbxml"
	"github.com/modernauth/mailauth/internal/fake/eastest"
	"github.com/modernauth/mailauth/internal/fake/fakeidp"
)

// bigSyncResponse is a Sync response adding n messages with bodySize-byte
// bodies (half of them as OPAQUE MIME), as a server sends for a window.
func bigSyncResponse(b *testing.B, n, bodySize int) []byte {
	cmds := wbxml.Elem("AirSync", "Commands")
	body := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", bodySize/58+1)[:bodySize]
	for i := range n {
		var data *wbxml.Node
		typ := "1"
		if i%2 == 0 {
			typ, data = "4", wbxml.Opaque("AirSyncBase", "Data", []byte("Subject: s\r\n\r\n"+body))
		} else {
			data = wbxml.Text("AirSyncBase", "Data", body)
		}
		cmds.Children = append(cmds.Children, wbxml.Elem("AirSync", "Add",
			wbxml.Text("AirSync", "ServerId", "1:"+strconv.Itoa(i)),
			wbxml.Elem("AirSync", "ApplicationData",
				wbxml.Text("Email", "To", `"Mailbox" <mailbox@contoso.test>`),
				wbxml.Text("Email", "From", fmt.Sprintf(`"Sender %d" <sender%d@contoso.test>`, i, i)),
				wbxml.Text("Email", "Subject", "Message "+strconv.Itoa(i)),
				wbxml.Text("Email", "DateReceived", "2026-11-02T09:00:00.000Z"),
				wbxml.Text("Email", "Importance", "1"),
				wbxml.Text("Email", "Read", "0"),
				wbxml.Elem("AirSyncBase", "Body",
					wbxml.Text("AirSyncBase", "Type", typ),
					wbxml.Text("AirSyncBase", "EstimatedDataSize", strconv.Itoa(bodySize)),
					data),
				wbxml.Text("Email", "MessageClass", "IPM.Note"))))
	}
	doc := wbxml.Elem("AirSync", "Sync", wbxml.Elem("AirSync", "Collections", wbxml.Elem("AirSync", "Collection",
		wbxml.Text("AirSync", "SyncKey", "42"),
		wbxml.Text("AirSync", "CollectionId", "1"),
		wbxml.Text("AirSync", "Status", "1"),
		cmds,
		wbxml.Elem("AirSync", "MoreAvailable"))))
	raw, err := wbxml.Marshal(doc)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkParseSyncResponse decodes a ~230 KB Sync response of 100
// messages and maps it to []Item: what the client does per window.
func BenchmarkParseSyncResponse(b *testing.B) {
	raw := bigSyncResponse(b, 100, 2000)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		n, err := wbxml.Unmarshal(raw)
		if err != nil {
			b.Fatal(err)
		}
		r, err := parseSync(n, "1", "")
		if err != nil || len(r.Added) != 100 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(100, "msgs/op")
}

// BenchmarkParseSyncTree is the parsing step alone (tree to []Item).
func BenchmarkParseSyncTree(b *testing.B) {
	n, err := wbxml.Unmarshal(bigSyncResponse(b, 100, 2000))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseSync(n, "1", ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(100, "msgs/op")
}

func BenchmarkBase64Query(b *testing.B) {
	id := queryIdentity{user: "alice@contoso.com", deviceID: "MailAuth0001", deviceType: "MailAuth", version: "16.1", policyKey: "3942919513", locale: 0x0409}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := base64Query("Sync", id); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPlainQuery(b *testing.B) {
	id := queryIdentity{user: "alice@contoso.com", deviceID: "MailAuth0001", deviceType: "MailAuth", version: "16.1"}
	b.ReportAllocs()
	for b.Loop() {
		_ = plainQuery("Sync", id)
	}
}

// benchClient is a provisioned client of an in-process server over
// loopback TLS, with a static token.
func benchClient(b *testing.B, messages int) (*Client, *eastest.Server) {
	idp, err := fakeidp.New(fakeidp.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(idp.Close)
	srv, err := eastest.New(eastest.Options{Verify: idp.Verify, Messages: messages})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	tok, err := idp.Mint(fakeidp.Claims{Audience: "https://outlook.office365.com", UPN: "bench@contoso.test",
		Scp: []string{"EAS.AccessAsUser.All"}, IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(&Options{URL: srv.URL(), Mailbox: "bench@contoso.test", DeviceID: "Bench01",
		Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok}), Transport: srv.Transport()})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Provision(context.Background()); err != nil {
		b.Fatal(err)
	}
	return c, srv
}

// BenchmarkFolderSyncRoundTrip is one FolderSync over loopback TLS: query,
// headers, bearer transport, WBXML both ways and the server's work.
func BenchmarkFolderSyncRoundTrip(b *testing.B) {
	c, _ := benchClient(b, 0)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.FolderSync(ctx, "0"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSyncWindowRoundTrip fetches a window of 100 messages (2 KB
// bodies) per op from a fresh sync key over loopback TLS.
func BenchmarkSyncWindowRoundTrip(b *testing.B) {
	c, _ := benchClient(b, 100)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r, err := c.Sync(ctx, &SyncRequest{CollectionID: "1", SyncKey: "0"})
		if err != nil {
			b.Fatal(err)
		}
		r, err = c.Sync(ctx, &SyncRequest{CollectionID: "1", SyncKey: r.SyncKey, WindowSize: 100})
		if err != nil || len(r.Added) != 100 {
			b.Fatal(err, len(r.Added))
		}
	}
	b.ReportMetric(100, "msgs/op")
}
