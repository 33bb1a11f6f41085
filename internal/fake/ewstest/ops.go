package ewstest

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// xb builds a response with escaped text.
type xb struct{ strings.Builder }

func (b *xb) raw(s string) { b.WriteString(s) }

func (b *xb) esc(s string) { _ = xml.EscapeText(b, []byte(s)) }

func (b *xb) elem(name, text string) {
	b.raw("<" + name + ">")
	b.esc(text)
	b.raw("</" + name + ">")
}

// The response envelope, as in the documentation samples (2013 SP1 build).
func (b *xb) start(op string) {
	b.raw(`<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <soap:Header>
    <t:ServerVersionInfo MajorVersion="15" MinorVersion="0" MajorBuildNumber="847" MinorBuildNumber="32" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" />
  </soap:Header>
  <soap:Body>
    <` + op + `Response xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns="http://schemas.microsoft.com/exchange/services/2006/messages">
      <m:ResponseMessages>
`)
}

func (b *xb) end(op string) {
	b.raw(`      </m:ResponseMessages>
    </` + op + `Response>
  </soap:Body>
</soap:Envelope>
`)
}

func (b *xb) success(op string) {
	b.raw(`        <m:` + op + `ResponseMessage ResponseClass="Success">
          <m:ResponseCode>NoError</m:ResponseCode>
`)
}

func (b *xb) endMsg(op string) { b.raw(`        </m:` + op + "ResponseMessage>\n") }

// failure writes a whole error message; empty is the empty payload
// element the documentation shows after DescriptiveLinkKey ("<m:Items />").
func (b *xb) failure(op, code, text, empty string) {
	b.raw(`        <m:` + op + `ResponseMessage ResponseClass="Error">
          <m:MessageText>`)
	b.esc(text)
	b.raw(`</m:MessageText>
          <m:ResponseCode>` + code + `</m:ResponseCode>
          <m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>
`)
	if empty != "" {
		b.raw("          " + empty + "\n")
	}
	b.endMsg(op)
}

// writeFault answers HTTP 500 with a SOAP fault shaped like Exchange's
// ErrorServerBusy fault.
func writeFault(w http.ResponseWriter, code, text string, backOff time.Duration) int {
	var b xb
	b.raw(`<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
  <s:Body>
    <s:Fault>
      <faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:` + code + `</faultcode>
      <faultstring xml:lang="en-US">`)
	b.esc(text)
	b.raw(`</faultstring>
      <detail>
        <e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">` + code + `</e:ResponseCode>
        <e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">`)
	b.esc(text)
	b.raw("</e:Message>\n")
	if backOff > 0 {
		b.raw(`        <t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
          <t:Value Name="BackOffMilliseconds">` + strconv.FormatInt(backOff.Milliseconds(), 10) + `</t:Value>
        </t:MessageXml>
`)
	}
	b.raw(`      </detail>
    </s:Fault>
  </s:Body>
</s:Envelope>
`)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	w.Write([]byte(b.String()))
	return http.StatusInternalServerError
}

const (
	textNoMailbox = "The SMTP address has no mailbox associated with it."
	textMalformed = "Id is malformed."
	textNotFound  = "The specified object was not found in the store."
	textNoFolder  = "The specified folder could not be found in the store."
	textBadSync   = "Synchronization state data is corrupt or otherwise invalid."
)

// opError is a response-message level failure.
type opError struct{ code, text string }

func (s *Server) mailboxFor(target string) (*mailbox, *opError) {
	mb := s.mailboxes[strings.ToLower(target)]
	if mb == nil {
		return nil, &opError{"ErrorNonExistentMailbox", textNoMailbox}
	}
	return mb, nil
}

// resolveFolder resolves a FolderId or DistinguishedFolderId element.
// delegated allows DistinguishedFolderId/Mailbox to open another mailbox.
func (s *Server) resolveFolder(ref *node, target string, delegated bool) (*mailbox, *folder, *opError) {
	switch ref.name() {
	case "DistinguishedFolderId":
		if addr := ref.path("Mailbox", "EmailAddress").text(); addr != "" && delegated {
			target = addr
		}
		mb, e := s.mailboxFor(target)
		if e != nil {
			return nil, nil, e
		}
		f := mb.folders[mb.distinguished[ref.attr("Id")]]
		if f == nil {
			return nil, nil, &opError{"ErrorFolderNotFound", textNoFolder}
		}
		return mb, f, nil
	case "FolderId":
		mb, e := s.mailboxFor(target)
		if e != nil {
			return nil, nil, e
		}
		id := ref.attr("Id")
		if _, err := base64.StdEncoding.DecodeString(id); err != nil || id == "" {
			return nil, nil, &opError{"ErrorInvalidIdMalformed", textMalformed}
		}
		f := mb.folders[id]
		if f == nil {
			return nil, nil, &opError{"ErrorFolderNotFound", textNoFolder}
		}
		return mb, f, nil
	}
	return nil, nil, &opError{"ErrorInvalidRequest", "The request is invalid."}
}

func (s *Server) resolveItem(mb *mailbox, ref *node) (*item, *opError) {
	id := ref.attr("Id")
	if _, err := base64.StdEncoding.DecodeString(id); err != nil || id == "" {
		return nil, &opError{"ErrorInvalidIdMalformed", textMalformed}
	}
	it := mb.items[id]
	if it == nil {
		return nil, &opError{"ErrorItemNotFound", textNotFound}
	}
	return it, nil
}

func (s *Server) dispatch(op *node, target string, delegated bool) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b xb
	name := op.name()
	b.start(name)
	switch name {
	case "GetFolder":
		s.getFolder(&b, op, target, delegated)
	case "FindFolder":
		s.findFolder(&b, op, target, delegated)
	case "FindItem":
		s.findItem(&b, op, target, delegated)
	case "GetItem":
		s.getItem(&b, op, target)
	case "CreateItem":
		s.createItem(&b, op, target, delegated)
	case "SyncFolderItems":
		s.syncFolderItems(&b, op, target, delegated)
	case "MoveItem":
		s.moveItem(&b, op, target, delegated)
	case "DeleteItem":
		s.deleteItem(&b, op, target)
	case "UpdateItem":
		s.updateItem(&b, op, target)
	default:
		b.failure(name, "ErrorInvalidRequest", "The request is invalid.", "")
	}
	b.end(name)
	return []byte(b.String())
}

// shape is the set of element names to return, from a FolderShape or
// ItemShape: the BaseShape's properties plus the AdditionalProperties.
type shape struct {
	props    map[string]bool
	withMIME bool
}

func (sh shape) has(name string) bool { return sh.props[name] }

// fieldElements maps the FieldURIs this server knows to element names.
func fieldElement(uri string) string {
	if _, name, ok := strings.Cut(uri, ":"); ok {
		return name
	}
	return uri
}

// parseShape reads a FolderShape or ItemShape. base gives the properties
// of each BaseShape for the kind of object.
func parseShape(n *node, base map[string][]string) shape {
	sh := shape{props: map[string]bool{}}
	bs := n.child("BaseShape").text()
	if bs == "" {
		bs = "Default"
	}
	for _, p := range base[bs] {
		sh.props[p] = true
	}
	for _, f := range n.child("AdditionalProperties").elems() {
		if f.name() == "FieldURI" {
			sh.props[fieldElement(f.attr("FieldURI"))] = true
		}
	}
	sh.withMIME = strings.EqualFold(n.child("IncludeMimeContent").text(), "true")
	return sh
}

// Properties of each BaseShape, as the EWS reference lists them for folders
// and messages (AllProperties: every property this server keeps).
func folderBase() map[string][]string {
	all := []string{"FolderId", "ParentFolderId", "FolderClass", "DisplayName", "TotalCount", "ChildFolderCount", "UnreadCount"}
	return map[string][]string{
		"IdOnly":        {"FolderId"},
		"Default":       {"FolderId", "DisplayName", "TotalCount", "ChildFolderCount", "UnreadCount"},
		"AllProperties": all,
	}
}

func itemBase() map[string][]string {
	def := []string{"ItemId", "Subject", "Body", "Size", "DateTimeSent", "HasAttachments", "ToRecipients", "From", "IsRead"}
	all := append(def, "ParentFolderId", "ItemClass", "DateTimeReceived", "Importance", "InternetMessageId")
	return map[string][]string{"IdOnly": {"ItemId"}, "Default": def, "AllProperties": all}
}

func writeFolder(b *xb, mb *mailbox, f *folder, sh shape) {
	b.raw("            <t:Folder>\n")
	if sh.has("FolderId") {
		b.raw(`              <t:FolderId Id="` + f.id + `" ChangeKey="` + f.changeKey + `" />
`)
	}
	if sh.has("ParentFolderId") && f.parent != "" {
		p := mb.folders[f.parent]
		b.raw(`              <t:ParentFolderId Id="` + p.id + `" ChangeKey="` + p.changeKey + `" />
`)
	}
	field := func(name, v string) {
		if sh.has(name) {
			b.raw("              ")
			b.elem("t:"+name, v)
			b.raw("\n")
		}
	}
	field("FolderClass", f.class)
	field("DisplayName", f.name)
	field("TotalCount", strconv.Itoa(len(f.items)))
	field("ChildFolderCount", strconv.Itoa(len(mb.children(f.id))))
	field("UnreadCount", strconv.Itoa(f.unread()))
	b.raw("            </t:Folder>\n")
}

func (s *Server) getFolder(b *xb, op *node, target string, delegated bool) {
	sh := parseShape(op.child("FolderShape"), folderBase())
	for _, ref := range op.child("FolderIds").elems() {
		mb, f, e := s.resolveFolder(ref, target, delegated)
		if e != nil {
			b.failure("GetFolder", e.code, e.text, "<m:Folders />")
			continue
		}
		b.success("GetFolder")
		b.raw("          <m:Folders>\n")
		writeFolder(b, mb, f, sh)
		b.raw("          </m:Folders>\n")
		b.endMsg("GetFolder")
	}
}

func (s *Server) findFolder(b *xb, op *node, target string, delegated bool) {
	deep := op.attr("Traversal") == "Deep"
	sh := parseShape(op.child("FolderShape"), folderBase())
	for _, ref := range op.child("ParentFolderIds").elems() {
		mb, f, e := s.resolveFolder(ref, target, delegated)
		if e != nil {
			b.failure("FindFolder", e.code, e.text, "")
			continue
		}
		var found []*folder
		var walk func(id string)
		walk = func(id string) {
			for _, c := range mb.children(id) {
				found = append(found, c)
				if deep {
					walk(c.id)
				}
			}
		}
		walk(f.id)
		b.success("FindFolder")
		b.raw(`          <m:RootFolder TotalItemsInView="` + strconv.Itoa(len(found)) + `" IncludesLastItemInRange="true">
            <t:Folders>
`)
		for _, c := range found {
			writeFolder(b, mb, c, sh)
		}
		b.raw("            </t:Folders>\n          </m:RootFolder>\n")
		b.endMsg("FindFolder")
	}
}

// writeItem writes a t:Message with the properties of sh, in schema order.
func writeItem(b *xb, mb *mailbox, it *item, sh shape) {
	b.raw("            <t:Message>\n")
	if sh.withMIME {
		b.raw(`              <t:MimeContent CharacterSet="UTF-8">` + base64.StdEncoding.EncodeToString(it.mimeContent()) + "</t:MimeContent>\n")
	}
	if sh.has("ItemId") {
		b.raw(`              <t:ItemId Id="` + it.id + `" ChangeKey="` + it.changeKey + `" />
`)
	}
	if f := mb.folders[it.folder]; f != nil && sh.has("ParentFolderId") {
		b.raw(`              <t:ParentFolderId Id="` + f.id + `" ChangeKey="` + f.changeKey + `" />
`)
	}
	field := func(name, v string) {
		if sh.has(name) {
			b.raw("              ")
			b.elem("t:"+name, v)
			b.raw("\n")
		}
	}
	mailbox := func(name, addr string) {
		b.raw("                <t:Mailbox>\n                  ")
		b.elem("t:Name", name)
		b.raw("\n                  ")
		b.elem("t:EmailAddress", addr)
		b.raw("\n                  <t:RoutingType>SMTP</t:RoutingType>\n                </t:Mailbox>\n")
	}
	ts := it.received.UTC().Format(time.RFC3339)
	field("ItemClass", "IPM.Note")
	field("Subject", it.subject)
	if sh.has("Body") {
		b.raw(`              <t:Body BodyType="Text">`)
		b.esc(it.body)
		b.raw("</t:Body>\n")
	}
	field("DateTimeReceived", ts)
	field("Size", strconv.Itoa(it.size()))
	field("Importance", "Normal")
	field("DateTimeSent", ts)
	field("HasAttachments", "false")
	if sh.has("ToRecipients") && len(it.to) > 0 {
		b.raw("              <t:ToRecipients>\n")
		for _, a := range it.to {
			mailbox(a, a)
		}
		b.raw("              </t:ToRecipients>\n")
	}
	if sh.has("From") && it.from != "" {
		b.raw("              <t:From>\n")
		mailbox(it.fromName, it.from)
		b.raw("              </t:From>\n")
	}
	field("InternetMessageId", "<"+strings.TrimRight(it.id, "=")+"@ewstest.invalid>")
	field("IsRead", strconv.FormatBool(it.isRead))
	b.raw("            </t:Message>\n")
}

func (s *Server) findItem(b *xb, op *node, target string, delegated bool) {
	view := op.child("IndexedPageItemView")
	limit := s.findLimit
	offset := 0
	if view != nil {
		if n, err := strconv.Atoi(view.attr("MaxEntriesReturned")); err == nil && n > 0 {
			limit = min(n, s.findLimit)
		}
		offset, _ = strconv.Atoi(view.attr("Offset"))
		offset = max(offset, 0)
	}
	sh := parseShape(op.child("ItemShape"), itemBase())
	sh.withMIME = false
	fromEnd := view.attr("BasePoint") == "End"
	ascending := op.path("SortOrder", "FieldOrder").attr("Order") == "Ascending"
	for _, ref := range op.child("ParentFolderIds").elems() {
		mb, f, e := s.resolveFolder(ref, target, delegated)
		if e != nil {
			b.failure("FindItem", e.code, e.text, "")
			continue
		}
		items := append([]*item(nil), f.items...) // newest first
		if ascending {
			for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
				items[i], items[j] = items[j], items[i]
			}
		}
		total := len(items)
		lo := offset
		if fromEnd {
			lo = total - offset - limit
		}
		lo = min(max(lo, 0), total)
		hi := min(lo+limit, total)
		if fromEnd {
			hi = min(max(total-offset, 0), total)
		}
		page := items[lo:hi]
		last := hi >= total
		if fromEnd {
			last = lo == 0
		}
		b.success("FindItem")
		b.raw("          <m:RootFolder ")
		if view != nil {
			b.raw(`IndexedPagingOffset="` + strconv.Itoa(offset+len(page)) + `" `)
		}
		b.raw(`TotalItemsInView="` + strconv.Itoa(total) + `" IncludesLastItemInRange="` + strconv.FormatBool(last) + `">
            <t:Items>
`)
		for _, it := range page {
			writeItem(b, mb, it, sh)
		}
		b.raw("            </t:Items>\n          </m:RootFolder>\n")
		b.endMsg("FindItem")
	}
}

func (s *Server) getItem(b *xb, op *node, target string) {
	sh := parseShape(op.child("ItemShape"), itemBase())
	mb, e := s.mailboxFor(target)
	for _, ref := range op.child("ItemIds").elems() {
		if e != nil {
			b.failure("GetItem", e.code, e.text, "<m:Items />")
			continue
		}
		it, e2 := s.resolveItem(mb, ref)
		if e2 != nil {
			b.failure("GetItem", e2.code, e2.text, "<m:Items />")
			continue
		}
		b.success("GetItem")
		b.raw("          <m:Items>\n")
		writeItem(b, mb, it, sh)
		b.raw("          </m:Items>\n")
		b.endMsg("GetItem")
	}
}

func addresses(n *node) []string {
	var out []string
	for _, m := range n.elems() {
		if a := m.child("EmailAddress").text(); a != "" {
			out = append(out, a)
		}
	}
	return out
}

func (s *Server) createItem(b *xb, op *node, target string, delegated bool) {
	disp := op.attr("MessageDisposition")
	var saveTo *folder
	mb, e := s.mailboxFor(target)
	if e == nil && disp != "SendOnly" {
		ref := op.child("SavedItemFolderId").elems()
		if len(ref) > 0 {
			var mb2 *mailbox
			mb2, saveTo, e = s.resolveFolder(ref[0], target, delegated)
			if e == nil {
				mb = mb2
			}
		} else {
			saveTo = mb.folders[mb.distinguished["sentitems"]]
			if disp == "SaveOnly" {
				saveTo = mb.folders[mb.distinguished["drafts"]]
			}
		}
	}
	for _, msg := range op.child("Items").elems() {
		if e != nil {
			b.failure("CreateItem", e.code, e.text, "<m:Items />")
			continue
		}
		sm := SentMail{From: mb.addr, Disposition: disp, Subject: msg.child("Subject").text(), Body: msg.child("Body").rawText(),
			To: addresses(msg.child("ToRecipients")), Cc: addresses(msg.child("CcRecipients")), Bcc: addresses(msg.child("BccRecipients"))}
		if mc := msg.child("MimeContent"); mc != nil {
			raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(mc.Text), ""))
			if err != nil {
				b.failure("CreateItem", "ErrorMimeContentInvalidBase64String", "The MIME content is not a valid Base64 string.", "<m:Items />")
				continue
			}
			sm.MIME = raw
		}
		if len(sm.MIME) == 0 && len(sm.To)+len(sm.Cc)+len(sm.Bcc) == 0 && disp != "SaveOnly" {
			b.failure("CreateItem", "ErrorInvalidRecipients", "At least one recipient isn't valid.", "<m:Items />")
			continue
		}
		if disp != "SaveOnly" {
			s.sent = append(s.sent, sm)
		}
		var saved *item
		if saveTo != nil {
			saved = s.newItem(mb, saveTo.id)
			saved.subject, saved.body, saved.to, saved.mime = sm.Subject, sm.Body, sm.To, sm.MIME
			saved.from, saved.fromName, saved.received, saved.isRead = mb.addr, mb.addr, time.Now().UTC().Truncate(time.Second), true
			mb.insert(saved)
		}
		b.success("CreateItem")
		if disp == "SaveOnly" && saved != nil {
			b.raw("          <m:Items>\n            <t:Message>\n              <t:ItemId Id=\"" + saved.id + "\" ChangeKey=\"" + saved.changeKey + "\" />\n            </t:Message>\n          </m:Items>\n")
		} else {
			b.raw("          <m:Items />\n")
		}
		b.endMsg("CreateItem")
	}
}

// Sync states are opaque to clients; here base64("ewstest-sync:<folder id>:<log index>").
func syncState(f *folder, n int) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "ewstest-sync:%s:%d", f.id, n))
}

func parseSyncState(f *folder, s string) (int, bool) {
	if s == "" {
		return 0, true
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	rest, ok := strings.CutPrefix(string(raw), "ewstest-sync:"+f.id+":")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || n > len(f.log) {
		return 0, false
	}
	return n, true
}

func (s *Server) syncFolderItems(b *xb, op *node, target string, delegated bool) {
	refs := op.child("SyncFolderId").elems()
	if len(refs) == 0 {
		b.failure("SyncFolderItems", "ErrorInvalidRequest", "The request is invalid.", "")
		return
	}
	mb, f, e := s.resolveFolder(refs[0], target, delegated)
	if e != nil {
		b.failure("SyncFolderItems", e.code, e.text, "<m:SyncState />\n          <m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>")
		return
	}
	from, ok := parseSyncState(f, op.child("SyncState").text())
	if !ok {
		b.failure("SyncFolderItems", "ErrorInvalidSyncStateData", textBadSync, "<m:SyncState />\n          <m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>")
		return
	}
	maxN, err := strconv.Atoi(op.child("MaxChangesReturned").text())
	if err != nil || maxN < 1 || maxN > 512 {
		b.failure("SyncFolderItems", "ErrorInvalidRequest", "The request is invalid.", "")
		return
	}
	sh := parseShape(op.child("ItemShape"), itemBase())
	sh.withMIME = false
	to := min(from+maxN, len(f.log))
	b.success("SyncFolderItems")
	b.raw("          <m:SyncState>" + syncState(f, to) + "</m:SyncState>\n")
	b.raw("          <m:IncludesLastItemInRange>" + strconv.FormatBool(to == len(f.log)) + "</m:IncludesLastItemInRange>\n")
	b.raw("          <m:Changes>\n")
	for _, ev := range f.log[from:to] {
		switch ev.kind {
		case "Create":
			b.raw("            <t:Create>\n")
			it := ev.item
			writeItem(b, mb, &it, sh)
			b.raw("            </t:Create>\n")
		case "Delete":
			b.raw("            <t:Delete>\n              <t:ItemId Id=\"" + ev.id + "\" ChangeKey=\"" + ev.ck + "\" />\n            </t:Delete>\n")
		case "ReadFlagChange":
			b.raw("            <t:ReadFlagChange>\n              <t:ItemId Id=\"" + ev.id + "\" ChangeKey=\"" + ev.ck + "\" />\n              <t:IsRead>" +
				strconv.FormatBool(ev.isRead) + "</t:IsRead>\n            </t:ReadFlagChange>\n")
		}
	}
	b.raw("          </m:Changes>\n")
	b.endMsg("SyncFolderItems")
}

func (s *Server) moveItem(b *xb, op *node, target string, delegated bool) {
	var (
		to  *folder
		mb  *mailbox
		err *opError
	)
	if refs := op.child("ToFolderId").elems(); len(refs) > 0 {
		mb, to, err = s.resolveFolder(refs[0], target, delegated)
	} else {
		err = &opError{"ErrorInvalidRequest", "The request is invalid."}
	}
	for _, ref := range op.child("ItemIds").elems() {
		if err != nil {
			b.failure("MoveItem", err.code, err.text, "<m:Items />")
			continue
		}
		it, e := s.resolveItem(mb, ref)
		if e != nil {
			b.failure("MoveItem", e.code, e.text, "<m:Items />")
			continue
		}
		s.move(mb, it, to)
		b.success("MoveItem")
		b.raw("          <m:Items>\n            <t:Message>\n              <t:ItemId Id=\"" + it.id + "\" ChangeKey=\"" + it.changeKey + "\" />\n            </t:Message>\n          </m:Items>\n")
		b.endMsg("MoveItem")
	}
}

// move files it in folder to with a new id, as Exchange does.
func (s *Server) move(mb *mailbox, it *item, to *folder) {
	mb.remove(it)
	it.id, it.changeKey, it.folder = s.newID("item"), s.newChangeKey(), to.id
	mb.insert(it)
}

func (s *Server) deleteItem(b *xb, op *node, target string) {
	how := op.attr("DeleteType")
	mb, err := s.mailboxFor(target)
	for _, ref := range op.child("ItemIds").elems() {
		if err != nil {
			b.failure("DeleteItem", err.code, err.text, "")
			continue
		}
		it, e := s.resolveItem(mb, ref)
		if e != nil {
			b.failure("DeleteItem", e.code, e.text, "")
			continue
		}
		switch how {
		case "HardDelete", "SoftDelete":
			mb.remove(it)
		case "MoveToDeletedItems":
			s.move(mb, it, mb.folders[mb.distinguished["deleteditems"]])
		default:
			b.failure("DeleteItem", "ErrorInvalidRequest", "The request is invalid.", "")
			continue
		}
		b.success("DeleteItem")
		b.endMsg("DeleteItem")
	}
}

func (s *Server) updateItem(b *xb, op *node, target string) {
	mb, err := s.mailboxFor(target)
	for _, ch := range op.child("ItemChanges").elems() {
		if err != nil {
			b.failure("UpdateItem", err.code, err.text, "<m:Items />")
			continue
		}
		it, e := s.resolveItem(mb, ch.child("ItemId"))
		if e != nil {
			b.failure("UpdateItem", e.code, e.text, "<m:Items />")
			continue
		}
		ok := true
		for _, u := range ch.child("Updates").elems() {
			if u.name() != "SetItemField" || u.child("FieldURI").attr("FieldURI") != "message:IsRead" {
				ok = false
				break
			}
			v, perr := strconv.ParseBool(u.path("Message", "IsRead").text())
			if perr != nil {
				ok = false
				break
			}
			it.isRead = v
			it.changeKey = s.newChangeKey()
			f := mb.folders[it.folder]
			f.log = append(f.log, event{kind: "ReadFlagChange", id: it.id, ck: it.changeKey, isRead: v})
		}
		if !ok {
			b.failure("UpdateItem", "ErrorInvalidPropertyRequest", "Property is not valid for this object type.", "<m:Items />")
			continue
		}
		b.success("UpdateItem")
		b.raw("          <m:Items>\n            <t:Message>\n              <t:ItemId Id=\"" + it.id + "\" ChangeKey=\"" + it.changeKey + "\" />\n            </t:Message>\n          </m:Items>\n")
		b.raw("          <m:ConflictResults>\n            <t:Count>0</t:Count>\n          </m:ConflictResults>\n")
		b.endMsg("UpdateItem")
	}
}
