package graph

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Graph's error JSON (and whatever else comes back with an error status) never panics the
// parser, and the message is bounded, printable and free of anything token-shaped.
func FuzzParseError(f *testing.F) {
	for _, s := range []string{
		`{"error":{"code":"ErrorAccessDenied","message":"Access is denied. Check credentials and try again.","innerError":{"date":"2026-11-02T09:00:00","request-id":"r","client-request-id":"c"}}}`,
		`{"error":{"code":"ResourceNotFound","message":"x","innererror":{"code":"MailboxNotEnabledForRESTAPI"}}}`,
		`{"error":{"code":1,"message":["x"],"innerError":"y"}}`,
		`{"error":null}`, `<html>Bearer eyJhbGciOiJub25lIn0.eyJhIjoxfQ.c2ln</html>`, "", "\xff\xfe", `{"error":{"message":"` + strings.Repeat("\u00e9", 800) + `"}}`,
	} {
		f.Add(401, []byte(s))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := parseError(status, body)
		msg := e.Error()
		if !utf8.ValidString(msg) {
			t.Fatalf("invalid UTF-8 in %q", msg)
		}
		if len(e.Message) > 2048 || len(e.Code) > 128 || len(e.RequestID) > 128 {
			t.Fatalf("unbounded fields: %d %d %d", len(e.Message), len(e.Code), len(e.RequestID))
		}
		if strings.Contains(e.Message, "eyJhbGciOiJub25lIn0.eyJhIjoxfQ") {
			t.Fatalf("a JWT survived: %q", e.Message)
		}
		_ = e.Hint()
		_ = e.Temporary()
	})
}

// A page of any shape never panics the page parser; a success always has a value array.
func FuzzParsePage(f *testing.F) {
	f.Add([]byte(samplePage))
	for _, s := range []string{
		`{"value":[]}`, `{"value":null}`, `{"@odata.deltaLink":"https://graph.microsoft.com/v1.0/me/mailFolders/delta?$deltatoken=a","value":[{"id":"f","displayName":"Inbox","totalItemCount":3}]}`,
		`{"value":[{"id":1}]}`, `{"value":[{"from":{"emailAddress":null},"toRecipients":[null,{}],"receivedDateTime":null,"flag":"x"}]}`,
		`{"value":[{"@removed":{"reason":"deleted"},"id":"x"}],"@odata.nextLink":7}`, `[`, ``, `{"value":[{"receivedDateTime":"2026-13-45T99:00:00Z"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if p, err := parsePage[Message](data); err == nil {
			if p.Value == nil {
				t.Fatal("a page without a value array was accepted")
			}
			for _, m := range p.Value {
				_ = m.From.String()
				_ = len(m.To)
			}
		}
		if p, err := parsePage[Folder](data); err == nil && p.Value == nil {
			t.Fatal("a folder page without a value array was accepted")
		}
		_, _, _ = ParseMessages(data)
	})
}

// Any MIME never panics the splitter, and what it keeps plus what it moves out accounts
// for the message.
func FuzzSplitLarge(f *testing.F) {
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Disposition: attachment; filename=a\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJD\r\n--b--\r\n"), 8)
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n--b--"), 1)
	f.Add([]byte("Subject: x\n\nbody"), 100)
	f.Fuzz(func(t *testing.T, msg []byte, limit int) {
		reduced, atts, err := splitLarge(msg, limit)
		if err != nil {
			return
		}
		if len(reduced) > len(msg) {
			t.Fatalf("the reduced message grew: %d > %d", len(reduced), len(msg))
		}
		for _, a := range atts {
			if a.name == "" {
				t.Fatal("an attachment without a name")
			}
		}
	})
}
