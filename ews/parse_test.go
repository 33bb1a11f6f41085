package ews

import (
	"bytes"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The files in testdata/samples are Microsoft's documented EWS responses
// (and exchangelib's captured ErrorServerBusy fault), unchanged.
func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "samples", name))
	require.NoError(t, err)
	return b
}

// anyPayload decodes every payload the client knows, as the operations do.
type anyPayload struct {
	folders []Folder
	items   []Item
	root    rootFolder
	sync    SyncResult
}

func (p *anyPayload) fn(d *xml.Decoder, se xml.StartElement) error {
	switch se.Name.Local {
	case "Folders":
		return decodeFolders(d, func(f Folder) { p.folders = append(p.folders, f) })
	case "Items":
		return decodeItems(d, true, func(it Item) { p.items = append(p.items, it) })
	case "RootFolder":
		p.root = readRootFolder(se)
		return eachChild(d, func(c xml.StartElement) error { return p.fn(d, c) })
	case "SyncState":
		s, err := readText(d)
		p.sync.SyncState = s
		return err
	case "IncludesLastItemInRange":
		s, err := readText(d)
		p.sync.IncludesLastItemInRange = parseBool(s)
		return err
	case "Changes":
		return eachChild(d, func(ch xml.StartElement) error { return decodeChange(d, ch, &p.sync) })
	}
	return skip(d)
}

func TestParseGetFolderSample(t *testing.T) {
	t.Parallel()
	var p anyPayload
	msgs, err := parseResponse(bytes.NewReader(sample(t, "getfolder_response.xml")), "GetFolder", p.fn)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	assert.True(t, msgs[0].ok())
	require.Len(t, p.folders, 1)
	assert.Equal(t, Folder{ID: FolderID{ID: "AQApA=", ChangeKey: "AQAAAB"}, Kind: "Folder", DisplayName: "Inbox", TotalCount: 2, UnreadCount: 2}, p.folders[0])
}

func TestParseFindItemSample(t *testing.T) {
	t.Parallel()
	var p anyPayload
	msgs, err := parseResponse(bytes.NewReader(sample(t, "finditem_response.xml")), "FindItem", p.fn)
	require.NoError(t, err)
	require.NoError(t, firstError("FindItem", msgs))
	assert.Equal(t, rootFolder{total: 10, last: true, hasLast: true}, p.root)
	require.Len(t, p.items, 2)
	assert.Equal(t, ItemID{ID: "AS4AUn=", ChangeKey: "fsVU4=="}, p.items[0].ID)
	assert.Equal(t, "Message", p.items[1].Kind)
}

func TestParseGetItemSample(t *testing.T) {
	t.Parallel()
	raw := sample(t, "getitem_email_response.xml")
	// The documentation shows the HTML body unescaped (<meta> is never
	// closed), which is not well-formed XML: that must be a ParseError.
	_, err := parseResponse(bytes.NewReader(raw), "GetItem", (&anyPayload{}).fn)
	var pe *ParseError
	require.ErrorAs(t, err, &pe)

	// Exchange escapes the body; escape it as Exchange would.
	doc := string(raw)
	i := strings.Index(doc, `<t:Body BodyType="HTML">`) + len(`<t:Body BodyType="HTML">`)
	j := strings.Index(doc, `</t:Body>`)
	var esc bytes.Buffer
	require.NoError(t, xml.EscapeText(&esc, []byte(doc[i:j])))
	doc = doc[:i] + esc.String() + doc[j:]

	var p anyPayload
	_, err = parseResponse(strings.NewReader(doc), "GetItem", func(d *xml.Decoder, se xml.StartElement) error {
		if se.Name.Local == "Items" {
			// The sample's MimeContent is truncated ("UmVjZWl"), so read
			// the item without decoding it.
			return decodeItems(d, false, func(it Item) { p.items = append(p.items, it) })
		}
		return skip(d)
	})
	require.NoError(t, err)
	require.Len(t, p.items, 1)
	it := p.items[0]
	assert.Equal(t, "AAAlAFVz", it.ID.ID)
	assert.Equal(t, Mailbox{Name: "User2", Address: "User2@example.com", RoutingType: "SMTP"}, it.From)
	assert.Equal(t, []Mailbox{{Name: "User1", Address: "User1@example.com", RoutingType: "SMTP"}}, it.To)
	assert.Equal(t, time.Date(2006, 10, 28, 1, 37, 6, 0, time.UTC), it.DateTimeSent)
	assert.EqualValues(t, 881, it.Size)
	assert.False(t, it.IsRead)
	assert.Equal(t, "HTML", it.BodyType)
	assert.Contains(t, it.Body, `<div dir="ltr">`)

	// With MIME decoding, the truncated base64 is an error, not a panic.
	_, err = parseResponse(strings.NewReader(doc), "GetItem", (&anyPayload{}).fn)
	require.ErrorAs(t, err, &pe)
}

func TestParseSyncFolderItemsSample(t *testing.T) {
	t.Parallel()
	var p anyPayload
	msgs, err := parseResponse(bytes.NewReader(sample(t, "syncfolderitems_response.xml")), "SyncFolderItems", p.fn)
	require.NoError(t, err)
	require.NoError(t, firstError("SyncFolderItems", msgs))
	assert.Equal(t, "H4sIAAAAA=", p.sync.SyncState)
	assert.True(t, p.sync.IncludesLastItemInRange)
	require.Len(t, p.sync.Changes, 1)
	assert.Equal(t, ChangeCreate, p.sync.Changes[0].Type)
	assert.Equal(t, "MeetingRequest", p.sync.Changes[0].Item.Kind)
	assert.Equal(t, "Budget Q3", p.sync.Changes[0].Item.Subject)
}

func TestParseImpersonationSampleWithHTTPSNamespace(t *testing.T) {
	t.Parallel()
	var p anyPayload
	msgs, err := parseResponse(bytes.NewReader(sample(t, "impersonation_createitem_response.xml")), "CreateItem", p.fn)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.Len(t, p.items, 1)
	assert.Equal(t, "CalendarItem", p.items[0].Kind)
	assert.Equal(t, "AAMkA", p.items[0].ID.ID)
}

func TestParseErrorSamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file, op string
		code     ResponseCode
		text     string
		hint     string
	}{
		{"getfolder_error_response.xml", "GetFolder", CodeInvalidIDMalformed, "Id is malformed.", "ids are per mailbox"},
		{"finditem_error_response.xml", "FindItem", CodeInvalidIDMalformed, "Id is malformed.", "ids are per mailbox"},
		{"getitem_email_error_response.xml", "GetItem", "ErrorInvalidPropertyRequest", "Property is not valid for this object type.", ""},
		{"createitem_error_response.xml", "CreateItem", CodeSendAsDenied, "does not have the right to send mail", "Send As"},
		{"syncfolderitems_error_response.xml", "SyncFolderItems", CodeInvalidSyncStateData, "Synchronization state data is corrupt", "empty sync state"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			var p anyPayload
			msgs, err := parseResponse(bytes.NewReader(sample(t, tc.file)), tc.op, p.fn)
			require.NoError(t, err)
			err = firstError(tc.op, msgs)
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tc.code, e.Code)
			assert.Contains(t, e.Message, tc.text)
			assert.True(t, errors.Is(err, tc.code), "errors.Is with the ResponseCode")
			assert.False(t, errors.Is(err, CodeServerBusy))
			assert.Contains(t, e.Hint(), tc.hint)
			assert.True(t, strings.HasPrefix(err.Error(), "ews: "+tc.op+": "+string(tc.code)))
		})
	}
}

func TestParseServerBusyFault(t *testing.T) {
	t.Parallel()
	_, err := parseResponse(bytes.NewReader(sample(t, "errorserverbusy_fault.xml")), "FindItem", nil)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.True(t, e.Fault)
	assert.Equal(t, CodeServerBusy, e.Code)
	assert.Equal(t, 297749*time.Millisecond, e.BackOff)
	assert.Equal(t, "The server cannot service this request right now. Try again later.", e.Message)
	assert.True(t, e.Temporary())
	assert.ErrorIs(t, err, CodeServerBusy)
}

func TestParseFaultCodeOnly(t *testing.T) {
	t.Parallel()
	doc := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>` +
		`<faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorInvalidExchangeImpersonationHeaderData</faultcode>` +
		`<faultstring xml:lang="en-US">ExchangeImpersonation SOAP header must be present for this type of OAuth token.</faultstring>` +
		`</s:Fault></s:Body></s:Envelope>`
	_, err := parseResponse(strings.NewReader(doc), "GetFolder", nil)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, CodeInvalidExchangeImpersonationHeaderData, e.Code)
	assert.Contains(t, e.Error(), "set AppOnly and Mailbox")
}

func TestParseMalformed(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{
		"",
		"<html><body>Server Error in '/EWS' Application.</body></html>",
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:FindItemResponse><m:ResponseMessages><m:FindItemResponseMessage ResponseClass="Success">`,
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body></s:Body></s:Envelope>`,
		`<?xml version="1.0" encoding="iso-8859-1"?><a/>`,
	} {
		_, err := parseResponse(strings.NewReader(doc), "FindItem", nil)
		var pe *ParseError
		assert.ErrorAs(t, err, &pe, "%q", doc)
	}
}

func TestBackOffBounds(t *testing.T) {
	t.Parallel()
	assert.Equal(t, maxBackOff, backOff(map[string]string{"BackOffMilliseconds": "99999999999999999"}))
	assert.Zero(t, backOff(map[string]string{"BackOffMilliseconds": "-5"}))
	assert.Zero(t, backOff(map[string]string{"BackOffMilliseconds": "soon"}))
	assert.Zero(t, backOff(nil))
}

func FuzzParseResponse(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "samples"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata", "samples", e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:X><m:YResponseMessage ResponseClass="Error"><m:MessageXml><t:Value Name="BackOffMilliseconds">10</t:Value></m:MessageXml></m:YResponseMessage></m:X></s:Body></s:Envelope>`))
	f.Add([]byte(`<Envelope><Body><R><RResponseMessage><Changes><Delete><ItemId Id="a"/></Delete><ReadFlagChange><IsRead>true</IsRead></ReadFlagChange></Changes></RResponseMessage></R></Body></Envelope>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p anyPayload
		msgs, err := parseResponse(bytes.NewReader(b), "Fuzz", p.fn)
		if err == nil && len(msgs) == 0 {
			t.Fatal("no error and no messages")
		}
		for i := range msgs {
			e := msgs[i].err("Fuzz", 200)
			_ = e.Error()
			if e.BackOff < 0 || e.BackOff > maxBackOff {
				t.Fatalf("BackOff %v out of range", e.BackOff)
			}
		}
	})
}

// Exchange wraps throttling in ErrorInternalServerError with the inner code
// in MessageXml (shape from EWS responses quoted in public issue trackers).
func TestParseInnerError(t *testing.T) {
	t.Parallel()
	doc := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
<m:GetItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
<m:ResponseMessages><m:GetItemResponseMessage ResponseClass="Error">
<m:MessageText>An internal server error occurred. The operation failed.</m:MessageText>
<m:ResponseCode>ErrorInternalServerError</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>
<m:MessageXml><t:Value Name="InnerErrorMessageText">The server cannot service this request right now. Try again later.</t:Value>
<t:Value Name="InnerErrorResponseCode">ErrorServerBusy</t:Value><t:Value Name="InnerErrorDescriptiveLinkKey">0</t:Value>
<t:Value Name="BackOffMilliseconds">1500</t:Value></m:MessageXml>
<m:Items/></m:GetItemResponseMessage></m:ResponseMessages></m:GetItemResponse></s:Body></s:Envelope>`
	msgs, err := parseResponse(strings.NewReader(doc), "GetItem", nil)
	require.NoError(t, err)
	err = firstError("GetItem", msgs)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, CodeServerBusy, e.Code)
	assert.Equal(t, "The server cannot service this request right now. Try again later.", e.Message)
	assert.Equal(t, 1500*time.Millisecond, e.BackOff)
	assert.Equal(t, "ErrorServerBusy", e.Details["InnerErrorResponseCode"])
	assert.NotNil(t, busyError(msgs, nil), "retried as busy")
}
