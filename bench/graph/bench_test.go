package graphbench

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	absauth "github.com/microsoft/kiota-abstractions-go/authentication"
	khttp "github.com/microsoft/kiota-http-go"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/graph"
)

// page returns a page of n messages shaped like Graph's answer to a message list with the
// fields scripts select (the same generator as the graph package's BenchmarkParsePage).
func page(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users('alice%40contoso.com')/mailFolders('inbox')/messages(id,subject,from,sender,toRecipients,ccRecipients,receivedDateTime,sentDateTime,isRead,isDraft,hasAttachments,importance,bodyPreview,internetMessageId,parentFolderId,conversationId,flag)",`)
	b.WriteString(`"@odata.nextLink":"https://graph.microsoft.com/v1.0/users/alice@contoso.com/mailFolders/inbox/messages?%24select=id%2csubject&%24top=100&%24skip=100","value":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"@odata.etag":"W/\"CQAAABYAAAC4ofQHEIqCSbQPot83AFcbAAAGVtI%d\"","id":"AAMkAGI2NGVhZTVlLTI1OGMtNDI4My1iZmE5LTA5OGJiZGEzYTkwYwBGAAAAAADI6ZcCIqlNQYsA%04dsKMbBwC4ofQHEIqCSbQPot83AFcbAAAAAAEMAAC4ofQHEIqCSbQPot83AFcbAAAGVsi%dAAA=",`, i, i, i)
		fmt.Fprintf(&b, `"receivedDateTime":"2026-11-02T09:%02d:00Z","sentDateTime":"2026-11-02T09:%02d:00Z","hasAttachments":%t,"internetMessageId":"<MN2PR00MB0001%d@MN2PR00MB0001.namprd00.prod.outlook.com>",`, i%60, i%60, i%4 == 0, i)
		fmt.Fprintf(&b, `"subject":"Re: Quarterly report for the northern region, draft %d","bodyPreview":"Hi Alice, please find the numbers for the quarter attached. Let me know if anything looks off before Thursday's review with the team. Thanks, Bob","importance":"normal",`, i)
		b.WriteString(`"parentFolderId":"AAMkAGI2NGVhZTVlLTI1OGMtNDI4My1iZmE5LTA5OGJiZGEzYTkwYwAuAAAAAADI6ZcCIqlNQYsAAAAAAEMAAA=","conversationId":"AAQkAGI2NGVhZTVlLTI1OGMtNDI4My1iZmE5LTA5OGJiZGEzYTkwYwAQAHpI9GK3pT5EhOD6k9s8cdQ=",`)
		b.WriteString(`"isRead":true,"isDraft":false,"sender":{"emailAddress":{"name":"Bob Smith","address":"bob.smith@contoso.com"}},"from":{"emailAddress":{"name":"Bob Smith","address":"bob.smith@contoso.com"}},`)
		b.WriteString(`"toRecipients":[{"emailAddress":{"name":"Alice Jones","address":"alice.jones@contoso.com"}}],"ccRecipients":[{"emailAddress":{"name":"Carol White","address":"carol.white@contoso.com"}}],"flag":{"flagStatus":"notFlagged"}}`)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// perMessage reports ns/message and allocs/message for a benchmark whose every op handles
// msgs messages.
func perMessage(b *testing.B, msgs int, f func()) {
	b.ReportAllocs()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f()
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	n := float64(b.N) * float64(msgs)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/message")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/n, "allocs/message")
}

func BenchmarkParsePage(b *testing.B) {
	data := page(100)
	b.Run("mailauth", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		perMessage(b, 100, func() {
			msgs, _, err := graph.ParseMessages(data)
			if err != nil || len(msgs) != 100 || msgs[99].From.EmailAddress.Address == "" {
				b.Fatal(err)
			}
		})
	})
	b.Run("msgraph-sdk-go", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		perMessage(b, 100, func() {
			node, err := jsonserialization.NewJsonParseNode(data)
			if err != nil {
				b.Fatal(err)
			}
			v, err := node.GetObjectValue(models.CreateMessageCollectionResponseFromDiscriminatorValue)
			if err != nil {
				b.Fatal(err)
			}
			msgs := v.(models.MessageCollectionResponseable).GetValue()
			if len(msgs) != 100 || *msgs[99].GetFrom().GetEmailAddress().GetAddress() == "" {
				b.Fatal("bad page")
			}
		})
	})
}

// canned answers every request with the same JSON, without a network.
type canned struct{ body []byte }

func (t *canned) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(t.body)), ContentLength: int64(len(t.body)), Request: req}, nil
}

const oneMessage = `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users('alice%40contoso.com')/messages/$entity","@odata.etag":"W/\"CQAAABYAAAC\"","id":"AAMkAGI2=","subject":"Hello","receivedDateTime":"2026-11-02T09:00:00Z","isRead":true,"from":{"emailAddress":{"name":"Bob","address":"bob@contoso.com"}}}`

func accessToken() string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc([]byte(`{"aud":"https://graph.microsoft.com","upn":"alice@contoso.com","scp":"Mail.ReadWrite","tid":"t"}`)) + "." + strings.Repeat("s", 342)
}

type staticProvider struct{ tok string }

func (p staticProvider) GetAuthorizationToken(context.Context, *url.URL, map[string]any) (string, error) {
	return p.tok, nil
}

func (p staticProvider) GetAllowedHostsValidator() *absauth.AllowedHostsValidator {
	v := absauth.NewAllowedHostsValidator([]string{"graph.microsoft.com"})
	return &v
}

// BenchmarkGetMessage gets one message by id: with a plain http.Client (GET, bearer
// header, read, json.Unmarshal into graph.Message), with graph.Client, and with
// msgraph-sdk-go's GraphServiceClient and its default middleware, all over the same
// in-memory transport.
func BenchmarkGetMessage(b *testing.B) {
	rt := &canned{body: []byte(oneMessage)}
	ctx := context.Background()
	tok := accessToken()
	b.Run("plain-http", func(b *testing.B) {
		hc := &http.Client{Transport: rt}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://graph.microsoft.com/v1.0/me/messages/AAMkAGI2=", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var m graph.Message
			if err := json.Unmarshal(body, &m); err != nil || m.Subject != "Hello" {
				b.Fatal(err)
			}
		}
	})
	b.Run("mailauth", func(b *testing.B) {
		src := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, Expiry: time.Now().Add(time.Hour)})
		c, err := graph.New(&graph.Options{Token: src, Transport: rt})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m, err := c.Message(ctx, "AAMkAGI2=", nil)
			if err != nil || m.Subject != "Hello" {
				b.Fatal(err)
			}
		}
	})
	b.Run("msgraph-sdk-go", func(b *testing.B) {
		opts := msgraphsdk.GetDefaultClientOptions()
		hc := khttp.GetDefaultClient(core.GetDefaultMiddlewaresWithOptions(&opts)...)
		hc.Transport = khttp.NewCustomTransportWithParentTransport(rt, core.GetDefaultMiddlewaresWithOptions(&opts)...)
		adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
			absauth.NewBaseBearerTokenAuthenticationProvider(staticProvider{tok: tok}), nil, nil, hc)
		if err != nil {
			b.Fatal(err)
		}
		client := msgraphsdk.NewGraphServiceClient(adapter)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m, err := client.Me().Messages().ByMessageId("AAMkAGI2=").Get(ctx, nil)
			if err != nil || *m.GetSubject() != "Hello" {
				b.Fatal(err)
			}
		}
	})
}
