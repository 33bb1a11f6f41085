package ews

import (
	"encoding/xml"
	"strconv"
	"strings"
)

const (
	nsSOAP     = "http://schemas.xmlsoap.org/soap/envelope/"
	nsTypes    = "http://schemas.microsoft.com/exchange/services/2006/types"
	nsMessages = "http://schemas.microsoft.com/exchange/services/2006/messages"
)

// xmlWriter builds a SOAP request. Text and attribute values go through
// xml.EscapeText; element names are literals of this package.
type xmlWriter struct {
	strings.Builder
}

func (w *xmlWriter) raw(s string) { w.WriteString(s) }

func (w *xmlWriter) text(s string) { _ = xml.EscapeText(w, []byte(s)) }

func (w *xmlWriter) attr(s string) { _ = xml.EscapeText(w, []byte(s)) }

func (w *xmlWriter) int(n int) { w.WriteString(strconv.Itoa(n)) }

// elem writes <name>text</name>.
func (w *xmlWriter) elem(name, text string) {
	w.raw("<" + name + ">")
	w.text(text)
	w.raw("</" + name + ">")
}

// envelope returns the request document: the SOAP header blocks
// RequestServerVersion and, for app-only access, ExchangeImpersonation, then
// the body written by body.
func (c *Client) envelope(body func(w *xmlWriter)) []byte {
	var w xmlWriter
	w.Grow(1024)
	w.raw(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	w.raw(`<soap:Envelope xmlns:soap="` + nsSOAP + `" xmlns:m="` + nsMessages + `" xmlns:t="` + nsTypes + `">`)
	w.raw(`<soap:Header><t:RequestServerVersion Version="`)
	w.attr(c.version)
	w.raw(`"/>`)
	if c.appOnly {
		w.raw(`<t:ExchangeImpersonation><t:ConnectingSID><t:SmtpAddress>`)
		w.text(c.mailbox)
		w.raw(`</t:SmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>`)
	}
	w.raw(`</soap:Header><soap:Body>`)
	body(&w)
	w.raw(`</soap:Body></soap:Envelope>`)
	return []byte(w.String())
}

// folderMailbox is the mailbox named in DistinguishedFolderId: with
// delegated tokens it lets one user open another (shared) mailbox; with
// impersonation the impersonated mailbox is implied.
func (c *Client) folderMailbox() string {
	if c.appOnly {
		return ""
	}
	return c.mailbox
}

func (c *Client) writeFolder(w *xmlWriter, f FolderRef) {
	f.writeFolderRef(w, c.folderMailbox())
}

func writeItemIDs(w *xmlWriter, ids []ItemID) {
	for _, id := range ids {
		w.raw(`<t:ItemId Id="`)
		w.attr(id.ID)
		if id.ChangeKey != "" {
			w.raw(`" ChangeKey="`)
			w.attr(id.ChangeKey)
		}
		w.raw(`"/>`)
	}
}

// summaryShape requests the properties used for item lists: enough for an
// inbox listing, small enough for fast paging.
const summaryShape = `<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>` +
	`<t:FieldURI FieldURI="item:Subject"/><t:FieldURI FieldURI="item:DateTimeReceived"/>` +
	`<t:FieldURI FieldURI="message:From"/><t:FieldURI FieldURI="message:IsRead"/>` +
	`<t:FieldURI FieldURI="item:Size"/><t:FieldURI FieldURI="item:HasAttachments"/>` +
	`<t:FieldURI FieldURI="item:ItemClass"/><t:FieldURI FieldURI="item:ParentFolderId"/>` +
	`<t:FieldURI FieldURI="message:InternetMessageId"/><t:FieldURI FieldURI="item:Importance"/>` +
	`<t:FieldURI FieldURI="item:DateTimeSent"/>` +
	`</t:AdditionalProperties></m:ItemShape>`
