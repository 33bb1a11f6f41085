package graph

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// benchPage returns a page of n messages shaped like Graph's answer to a list with
// DefaultSelect: every field a script reads, with realistic lengths.
func benchPage(n int) []byte {
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

// BenchmarkParsePage decodes a page of 100 messages; ns/message and allocs/message are
// reported per message.
func BenchmarkParsePage(b *testing.B) {
	data := benchPage(100)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := parsePage[Message](data)
		if err != nil || len(p.Value) != 100 {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	msgs := float64(b.N) * 100
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/msgs, "ns/message")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/msgs, "allocs/message")
}

// cannedTransport answers every request with the same body, without a network.
type cannedTransport struct{ body []byte }

func (t *cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(t.body)), ContentLength: int64(len(t.body)), Request: req}, nil
}

func benchToken() oauth2.TokenSource {
	enc := base64.RawURLEncoding.EncodeToString
	tok := enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc([]byte(`{"aud":"https://graph.microsoft.com","upn":"alice@contoso.com","scp":"Mail.ReadWrite","tid":"t"}`)) + "." + strings.Repeat("s", 342)
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)})
}

// BenchmarkClientOverhead gets one message through the client and through a plain
// http.Client (GET, bearer header, read, json.Unmarshal) over the same in-memory
// transport: the difference is what the client adds per request (token fetch and
// audience check, allow-list, mailbox slot, request id, error path).
func BenchmarkClientOverhead(b *testing.B) {
	one := []byte(`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users('alice%40contoso.com')/messages/$entity","@odata.etag":"W/\"CQAAABYAAAC\"","id":"AAMkAGI2=","subject":"Hello","receivedDateTime":"2026-11-02T09:00:00Z","isRead":true,"from":{"emailAddress":{"name":"Bob","address":"bob@contoso.com"}}}`)
	rt := &cannedTransport{body: one}
	ctx := context.Background()
	b.Run("plain", func(b *testing.B) {
		hc := &http.Client{Transport: rt}
		src := benchToken()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			tok, _ := src.Token()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://graph.microsoft.com/v1.0/me/messages/AAMkAGI2=", nil)
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var m Message
			if err := json.Unmarshal(body, &m); err != nil || m.Subject != "Hello" {
				b.Fatal(err)
			}
		}
	})
	b.Run("graph", func(b *testing.B) {
		c, err := New(&Options{Token: benchToken(), Transport: rt})
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
}
