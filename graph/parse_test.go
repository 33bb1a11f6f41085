package graph

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   Error
	}{
		{"documented shape", 403, `{"error":{"code":"ErrorAccessDenied","message":"Access is denied. Check credentials and try again.","innerError":{"date":"2026-11-02T09:00:00","request-id":"r1","client-request-id":"c1"}}}`,
			Error{StatusCode: 403, Code: "ErrorAccessDenied", Message: "Access is denied. Check credentials and try again.", Date: "2026-11-02T09:00:00", RequestID: "r1", ClientRequestID: "c1"}},
		{"lower-case innererror with a nested code", 404, `{"error":{"code":"ResourceNotFound","message":"x","innererror":{"code":"MailboxNotEnabledForRESTAPI","request-id":"r2"}}}`,
			Error{StatusCode: 404, Code: "ResourceNotFound", Message: "x", InnerCode: "MailboxNotEnabledForRESTAPI", RequestID: "r2"}},
		{"html from a gateway echoing a token", 502, "<html>Bad gateway. Authorization: Bearer eyJhbGciOiJub25lIn0.eyJhdWQiOiJ4In0.c2ln\x00</html>",
			Error{StatusCode: 502, Message: "<html>Bad gateway. Authorization: Bearer [REDACTED] </html>"}},
		{"empty", 503, "", Error{StatusCode: 503, Message: "Service Unavailable"}},
		{"json without error", 400, `{"value":[]}`, Error{StatusCode: 400, Message: `{"value":[]}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseError(tc.status, []byte(tc.body))
			assert.Equal(t, tc.want, *got)
			assert.NotContains(t, got.Error(), "eyJ")
		})
	}
	e := parseError(404, []byte(`{"error":{"code":"MailboxNotEnabledForRESTAPI","message":"m"}}`))
	assert.True(t, errors.Is(e, ErrNotFound))
	assert.Contains(t, e.Hint(), "Exchange Online")
	e = parseError(404, []byte(`{"error":{"code":"ResourceNotFound","message":"m","innerError":{"code":"MailboxNotEnabledForRESTAPI"}}}`))
	assert.Contains(t, e.Hint(), "on-premises")
}

const samplePage = `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users('alice%40contoso.com')/mailFolders('inbox')/messages(subject,from)",
"@odata.nextLink":"https://graph.microsoft.com/v1.0/users/alice@contoso.com/mailFolders/inbox/messages?%24select=subject%2cfrom&%24skip=10",
"value":[{"@odata.etag":"W/\"CQAAABYAAAC\"","id":"AAMkAGI2=","subject":"Hello <b>","receivedDateTime":"2026-11-02T09:00:00Z","isRead":true,
"from":{"emailAddress":{"name":"Bob","address":"bob@contoso.com"}},"toRecipients":[{"emailAddress":{"name":"Alice","address":"alice@contoso.com"}}],
"flag":{"flagStatus":"flagged"},"unknownField":{"nested":[1,2,3]}},
{"@odata.type":"#microsoft.graph.message","id":"AAMkGONE=","@removed":{"reason":"deleted"}}]}`

func TestParsePage(t *testing.T) {
	msgs, next, err := ParseMessages([]byte(samplePage))
	require.NoError(t, err)
	assert.Equal(t, "https://graph.microsoft.com/v1.0/users/alice@contoso.com/mailFolders/inbox/messages?%24select=subject%2cfrom&%24skip=10", next)
	require.Len(t, msgs, 2)
	m := msgs[0]
	assert.Equal(t, "AAMkAGI2=", m.ID)
	assert.Equal(t, "Hello <b>", m.Subject)
	assert.Equal(t, "Bob <bob@contoso.com>", m.From.String())
	assert.Equal(t, "Alice <alice@contoso.com>", m.To[0].String())
	assert.Equal(t, time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC), m.ReceivedDateTime)
	assert.True(t, m.IsRead)
	assert.Equal(t, Flagged, m.Flag.FlagStatus)
	assert.Nil(t, m.Removed)
	assert.Equal(t, "deleted", msgs[1].Removed.Reason)

	for _, bad := range []string{"", "null", `{"value":null}`, `{"error":{}}`, `[1]`, `{"value":[{"receivedDateTime":"yesterday"}]}`} {
		_, _, err := ParseMessages([]byte(bad))
		assert.Error(t, err, bad)
	}
	p, err := parsePage[Folder]([]byte(`{"@odata.deltaLink":"https://graph.microsoft.com/v1.0/me/mailFolders/delta?$deltatoken=x","value":[{"id":"f","displayName":"Inbox","totalItemCount":3}]}`))
	require.NoError(t, err)
	assert.Equal(t, 3, p.Value[0].TotalItemCount)
	assert.Contains(t, p.DeltaLink, "deltatoken")
}

func TestRecipients(t *testing.T) {
	r := Recipients("bob@contoso.com", ` "Bob B" <bob@contoso.com> `, "")
	require.Len(t, r, 2)
	assert.Equal(t, EmailAddress{Address: "bob@contoso.com"}, r[0].EmailAddress)
	assert.Equal(t, EmailAddress{Name: "Bob B", Address: "bob@contoso.com"}, r[1].EmailAddress)
}

func TestUploadSessionOffset(t *testing.T) {
	for ranges, want := range map[string]int64{"0-": 0, "2097152": 2097152, "100-199": 100} {
		s := &UploadSession{NextExpectedRanges: []string{ranges}, Size: 3 << 20}
		got, err := s.Offset()
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err := (&UploadSession{NextExpectedRanges: []string{"x"}, Size: 1}).Offset()
	assert.Error(t, err)
	n, err := (&UploadSession{Size: 7}).Offset()
	require.NoError(t, err)
	assert.Equal(t, int64(7), n)
	assert.Equal(t, "AAMkX=", attachmentIDFrom("https://outlook.office.com/api/v2.0/Users('a')/Messages('m')/Attachments('AAMkX%3D')"))
	assert.Empty(t, attachmentIDFrom("https://outlook.office.com/x"))
}

// splitLarge keeps everything but the moved parts byte for byte, and decodes base64,
// quoted-printable, RFC 2047 names and inline parts.
func TestSplitLarge(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 40000) // 640,000 bytes
	enc := base64.StdEncoding.EncodeToString(big)
	var lines []string
	for len(enc) > 76 {
		lines = append(lines, enc[:76])
		enc = enc[76:]
	}
	lines = append(lines, enc)
	head := "From: a@x\nTo: b@x\nSubject: s\nContent-Type: multipart/mixed; boundary=XYZ\n\npreamble\n--XYZ\nContent-Type: text/plain\n\nbody text\n"
	bigPart := "--XYZ\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=\"=?utf-8?q?r=C3=A9sum=C3=A9.pdf?=\"\nContent-Transfer-Encoding: base64\n\n" + strings.Join(lines, "\n") + "\n"
	qpPart := "--XYZ\nContent-Type: text/csv; name=\"t.csv\"\nContent-Transfer-Encoding: quoted-printable\n\n" + strings.Repeat("a=3Db,c\n", 60000)
	inlinePart := "--XYZ\nContent-Type: image/png\nContent-Disposition: inline\nContent-ID: <img1@x>\nContent-Transfer-Encoding: base64\n\n" + base64.StdEncoding.EncodeToString([]byte("PNGDATA")) + "\n"
	tail := "--XYZ--\nepilogue\n"
	msg := head + bigPart + qpPart + inlinePart + tail

	reduced, atts, err := splitLarge([]byte(msg), base64.StdEncoding.EncodedLen(len(msg)-len(bigPart)))
	require.NoError(t, err)
	require.Len(t, atts, 1, "only the largest part had to go")
	assert.Equal(t, "résumé.pdf", atts[0].name)
	assert.Equal(t, "application/pdf", atts[0].contentType)
	assert.True(t, bytes.Equal(big, atts[0].data), "decoded base64 attachment")
	assert.Equal(t, head[:len(head)-1]+"\n"+qpPart+inlinePart+tail, string(reduced), "the rest is intact")

	_, atts, err = splitLarge([]byte(msg), base64.StdEncoding.EncodedLen(len(head)+len(tail)+4))
	require.NoError(t, err)
	require.Len(t, atts, 3)
	assert.Equal(t, "t.csv", atts[1].name)
	assert.True(t, strings.TrimSuffix(strings.Repeat("a=b,c\n", 60000), "\n") == string(atts[1].data), "decoded quoted-printable (the line break before the delimiter is the delimiter's)")
	assert.Equal(t, "img1@x", atts[2].contentID)
	assert.True(t, atts[2].inline)
	assert.Equal(t, "PNGDATA", string(atts[2].data))

	_, _, err = splitLarge([]byte(msg), 10)
	assert.ErrorContains(t, err, "still")
	_, _, err = splitLarge([]byte("Subject: x\r\n\r\nplain"), 1)
	assert.ErrorContains(t, err, "not multipart")
	_, _, err = splitLarge([]byte("no header end"), 1)
	assert.Error(t, err)
}

func TestErrorIs(t *testing.T) {
	assert.True(t, errors.Is(&Error{StatusCode: http.StatusTooManyRequests}, ErrThrottled))
	assert.True(t, errors.Is(&Error{StatusCode: http.StatusForbidden}, ErrAccessDenied))
	assert.False(t, errors.Is(&Error{StatusCode: http.StatusForbidden}, ErrNotFound))
	assert.True(t, (&Error{StatusCode: 504}).Temporary())
	assert.False(t, (&Error{StatusCode: 400}).Temporary())
}
