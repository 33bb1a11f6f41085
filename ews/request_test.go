package ews

import (
	"bytes"
	"encoding/xml"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// canon renders the element named local (the first one found) of doc as
// one line per element: {namespace}name, sorted attributes (xmlns ones
// dropped) and trimmed text, so that documents can be compared without
// regard to prefixes and indentation.
func canon(t *testing.T, doc []byte, local string) string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	var b strings.Builder
	depth, in := 0, false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		switch tk := tok.(type) {
		case xml.StartElement:
			if !in && tk.Name.Local == local {
				in = true
			}
			if !in {
				continue
			}
			var attrs []string
			for _, a := range tk.Attr {
				if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
					continue
				}
				attrs = append(attrs, a.Name.Local+"="+a.Value)
			}
			slices.Sort(attrs)
			b.WriteString("\n" + strings.Repeat(" ", depth) + "{" + tk.Name.Space + "}" + tk.Name.Local + " " + strings.Join(attrs, " "))
			depth++
		case xml.EndElement:
			if !in {
				continue
			}
			depth--
			if depth == 0 {
				return b.String()
			}
		case xml.CharData:
			if in && len(bytes.TrimSpace(tk)) > 0 {
				b.WriteString(" text=" + strings.TrimSpace(string(tk)))
			}
		}
	}
	t.Fatalf("no element %s", local)
	return ""
}

func testClient(t *testing.T, appOnly bool, mailbox string) *Client {
	t.Helper()
	c, err := New(&Options{URL: "https://outlook.office365.com/EWS/Exchange.asmx", Token: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"}),
		Mailbox: mailbox, AppOnly: appOnly})
	require.NoError(t, err)
	return c
}

// The app-only request shape (docs + exchangelib, see
// constructed_app_only_getfolder.http): the SOAP header and folder ids
// match element for element.
func TestRequestMatchesAppOnlySample(t *testing.T) {
	t.Parallel()
	raw := sample(t, "constructed_app_only_getfolder.http")
	want := raw[bytes.Index(raw, []byte("<?xml")):]
	c := testClient(t, true, "meganb@contoso.onmicrosoft.com")
	got := c.envelope(func(w *xmlWriter) {
		w.raw(`<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds>`)
		c.writeFolder(w, Inbox)
		w.raw(`</m:FolderIds></m:GetFolder>`)
	})
	assert.Equal(t, canon(t, want, "Header"), canon(t, got, "Header"))
	assert.Equal(t, canon(t, want, "Body"), canon(t, got, "Body"))
}

// FindItem paging as in Microsoft's IndexedPageItemView sample.
func TestRequestFindItemView(t *testing.T) {
	t.Parallel()
	want := sample(t, "finditem_indexedpageitemview_request.xml")
	c := testClient(t, true, "a@contoso.test")
	got := c.envelope(func(w *xmlWriter) {
		w.raw(`<m:FindItem Traversal="Shallow"><m:IndexedPageItemView MaxEntriesReturned="6" Offset="0" BasePoint="Beginning"/><m:ParentFolderIds>`)
		c.writeFolder(w, Inbox)
		w.raw(`</m:ParentFolderIds></m:FindItem>`)
	})
	assert.Equal(t, canon(t, want, "IndexedPageItemView"), canon(t, got, "IndexedPageItemView"))
	assert.Equal(t, canon(t, want, "ParentFolderIds"), canon(t, got, "ParentFolderIds"))
}

// CreateItem SendAndSaveCopy as in Microsoft's sample (ours saves to
// sentitems rather than drafts).
func TestRequestCreateItemSample(t *testing.T) {
	t.Parallel()
	want := sample(t, "createitem_sendandsavecopy_request.xml")
	var body []byte
	c := testClient(t, true, "a@contoso.test")
	body = c.envelope(func(w *xmlWriter) {
		w.raw(`<m:Items><t:Message>`)
		w.elem("t:ItemClass", "IPM.Note")
		w.elem("t:Subject", "Project Action")
		w.raw(`<t:Body BodyType="Text">Priority - Update specification</t:Body>`)
		writeRecipients(w, "t:ToRecipients", []string{"sschmidt@example.com"})
		w.raw(`<t:IsRead>false</t:IsRead></t:Message></m:Items>`)
	})
	assert.Equal(t, canon(t, want, "Items"), canon(t, body, "Items"))
}

// Delegated requests carry no impersonation and name the mailbox in
// DistinguishedFolderId; text is escaped.
func TestRequestDelegatedAndEscaping(t *testing.T) {
	t.Parallel()
	c := testClient(t, false, `o'brien&co@contoso.test`)
	got := string(c.envelope(func(w *xmlWriter) { c.writeFolder(w, Inbox) }))
	assert.NotContains(t, got, "ExchangeImpersonation")
	assert.Contains(t, got, `<t:DistinguishedFolderId Id="inbox"><t:Mailbox><t:EmailAddress>o&#39;brien&amp;co@contoso.test</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>`)
	assert.Contains(t, got, `<t:RequestServerVersion Version="Exchange2013_SP1"/>`)
	var v struct{}
	require.NoError(t, xml.Unmarshal([]byte(got), &v), "well-formed")
}
