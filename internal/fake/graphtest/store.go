package graphtest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// BaseTime is the receivedDateTime of seeded message 1; message i arrived i-1 minutes
// earlier, so message 1 is the newest.
func BaseTime() time.Time { return time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC) }

// Address is a name and an SMTP address.
type Address struct {
	Name    string
	Address string
}

// Message is a message to put in a mailbox with [Server.Deliver], or one the server holds.
type Message struct {
	Subject           string
	From              Address
	To, Cc            []Address
	Received          time.Time
	IsRead            bool
	Body              string
	InternetMessageID string
	MIME              []byte // the $value; empty means one built from the fields
}

type folder struct {
	id, name, parent string
	hidden           bool
	seq              int64
}

type attachment struct {
	id, name, contentType string
	inline                bool
	contentID             string
	data                  []byte
	modified              time.Time
}

type message struct {
	immID, restID   string
	folder          string
	subject         string
	from            Address
	to, cc, bcc     []Address
	received, sent  time.Time
	isRead, isDraft bool
	importance      string
	body            string
	bodyType        string
	internetID      string
	conversationID  string
	flag            string
	categories      []string
	mime            []byte
	attachments     []*attachment
	seq             int64
}

type tombstone struct {
	folder        string
	restID, immID string
	seq           int64
}

type mbox struct {
	addr      string
	folders   map[string]*folder  // by id
	wellKnown map[string]string   // well-known name -> id
	messages  map[string]*message // by immutable id
	grants    map[string]bool     // lower-case UPNs or app ids with FullAccess
	restOff   bool
	seq       int64
	tombs     []tombstone // messages gone from a folder
}

func newID(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	// Force a '-' and an '_' into the URL-safe form, as Exchange's ids often hold, so that
	// the EWS (standard base64) and REST forms differ.
	b[1], b[2] = 0xfb, 0xff
	return prefix + base64.URLEncoding.EncodeToString(b)
}

// ewsFromREST and restFromEWS convert between EWS ids (standard base64) and REST ids
// (URL-safe base64), the relation translateExchangeIds implements for these two.
func ewsFromREST(id string) string { return strings.NewReplacer("-", "+", "_", "/").Replace(id) }
func restFromEWS(id string) string { return strings.NewReplacer("+", "-", "/", "_").Replace(id) }

var wellKnownFolders = []struct{ name, display string }{
	{"inbox", "Inbox"}, {"drafts", "Drafts"}, {"sentitems", "Sent Items"}, {"deleteditems", "Deleted Items"},
	{"junkemail", "Junk Email"}, {"archive", "Archive"}, {"outbox", "Outbox"},
}

func newMailbox(addr string, items int) *mbox {
	mb := &mbox{addr: addr, folders: map[string]*folder{}, wellKnown: map[string]string{},
		messages: map[string]*message{}, grants: map[string]bool{}}
	root := &folder{id: newID("AAMkAGRv", 33), name: "Top of Information Store", hidden: true}
	mb.folders[root.id] = root
	mb.wellKnown["msgfolderroot"] = root.id
	for _, wk := range wellKnownFolders {
		f := mb.addFolder(root.id, wk.display)
		mb.wellKnown[wk.name] = f.id
	}
	mb.addFolder(mb.wellKnown["inbox"], "Projects")
	for i := 1; i <= items; i++ {
		m := Message{
			Subject:           fmt.Sprintf("Message %d", i),
			From:              Address{Name: fmt.Sprintf("Sender %d", i), Address: fmt.Sprintf("sender%d@fabrikam.test", i)},
			To:                []Address{{Address: addr}},
			Received:          BaseTime().Add(-time.Duration(i-1) * time.Minute),
			IsRead:            i%3 == 0,
			Body:              fmt.Sprintf("Hello, this is message %d.", i),
			InternetMessageID: fmt.Sprintf("<msg-%d@fabrikam.test>", i),
		}
		msg := mb.add(mb.wellKnown["inbox"], m)
		if i%5 == 0 {
			msg.attachments = append(msg.attachments, &attachment{id: newID("AAMkAGF0", 30), name: fmt.Sprintf("note-%d.txt", i),
				contentType: "text/plain", data: []byte(fmt.Sprintf("attachment of message %d\n", i)), modified: m.Received})
		}
	}
	return mb
}

func (mb *mbox) next() int64 { mb.seq++; return mb.seq }

func (mb *mbox) addFolder(parent, name string) *folder {
	f := &folder{id: newID("AAMkAGZs", 33), name: name, parent: parent, seq: mb.next()}
	mb.folders[f.id] = f
	return f
}

// folderID resolves a folder id or well-known name.
func (mb *mbox) folderID(ref string) (string, bool) {
	if id, ok := mb.wellKnown[strings.ToLower(ref)]; ok {
		return id, true
	}
	_, ok := mb.folders[ref]
	return ref, ok
}

func (mb *mbox) add(folderID string, m Message) *message {
	msg := &message{immID: newID("AAkALgAA", 36), restID: newID("AAMkADAw", 36), folder: folderID,
		subject: m.Subject, from: m.From, to: m.To, cc: m.Cc, received: m.Received, sent: m.Received.Add(-time.Second),
		isRead: m.IsRead, importance: "normal", body: m.Body, bodyType: "text", internetID: m.InternetMessageID,
		conversationID: newID("AAQkADAw", 12), flag: "notFlagged", mime: m.MIME, seq: mb.next()}
	if msg.received.IsZero() {
		msg.received = time.Now().UTC().Truncate(time.Second)
		msg.sent = msg.received
	}
	if msg.internetID == "" {
		msg.internetID = "<" + strings.Trim(newID("", 9), "=") + "@graphtest.invalid>"
	}
	mb.messages[msg.immID] = msg
	return msg
}

// find resolves a message by REST or immutable id.
func (mb *mbox) find(id string) *message {
	if m, ok := mb.messages[id]; ok {
		return m
	}
	for _, m := range mb.messages {
		if m.restID == id {
			return m
		}
	}
	return nil
}

func (mb *mbox) touch(m *message) { m.seq = mb.next() }

// moveOut records that m left its folder (moved or deleted).
func (mb *mbox) moveOut(m *message) {
	mb.tombs = append(mb.tombs, tombstone{folder: m.folder, restID: m.restID, immID: m.immID, seq: mb.next()})
}

func (mb *mbox) inFolder(folderID string) []*message {
	var out []*message
	for _, m := range mb.messages {
		if folderID == "" || m.folder == folderID {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].received.Equal(out[j].received) {
			return out[i].received.After(out[j].received)
		}
		return out[i].immID < out[j].immID
	})
	return out
}

func (mb *mbox) childCount(id string) int {
	n := 0
	for _, f := range mb.folders {
		if f.parent == id {
			n++
		}
	}
	return n
}

// mime returns the message's MIME, built from its fields when it has none.
func (m *message) mimeBytes() []byte {
	if len(m.mime) > 0 {
		return m.mime
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\n", formatAddr(m.from))
	var to []string
	for _, a := range m.to {
		to = append(to, formatAddr(a))
	}
	fmt.Fprintf(&b, "To: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
		strings.Join(to, ", "), m.subject, m.received.Format(time.RFC1123Z), m.internetID, m.body)
	return b.Bytes()
}

func formatAddr(a Address) string {
	if a.Name == "" {
		return a.Address
	}
	return fmt.Sprintf("%q <%s>", a.Name, a.Address)
}

// jsonWriter writes an object field by field, in the order Graph's documentation shows.
type jsonWriter struct {
	b     bytes.Buffer
	first bool
}

func (w *jsonWriter) open()  { w.b.WriteByte('{'); w.first = true }
func (w *jsonWriter) close() { w.b.WriteByte('}') }

func (w *jsonWriter) key(k string) {
	if !w.first {
		w.b.WriteByte(',')
	}
	w.first = false
	w.b.Write(jsonValue(k))
	w.b.WriteByte(':')
}

func (w *jsonWriter) field(k string, v any) {
	w.key(k)
	w.b.Write(jsonValue(v))
}

func (w *jsonWriter) raw(k string, v []byte) {
	w.key(k)
	w.b.Write(v)
}

// jsonValue encodes v as Graph does: no HTML escaping.
func jsonValue(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimRight(b.Bytes(), "\n")
}

func graphTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func recipient(a Address) map[string]any {
	return map[string]any{"emailAddress": map[string]string{"name": nameOr(a), "address": a.Address}}
}

func nameOr(a Address) string {
	if a.Name == "" {
		return a.Address
	}
	return a.Name
}

func recipients(as []Address) []any {
	out := []any{}
	for _, a := range as {
		out = append(out, recipient(a))
	}
	return out
}

// messageFields lists a message's properties in the order of Graph's documented JSON.
var messageFields = []string{"createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "receivedDateTime",
	"sentDateTime", "hasAttachments", "internetMessageId", "subject", "bodyPreview", "importance", "parentFolderId",
	"conversationId", "isDeliveryReceiptRequested", "isReadReceiptRequested", "isRead", "isDraft", "webLink",
	"inferenceClassification", "body", "sender", "from", "toRecipients", "ccRecipients", "bccRecipients", "replyTo", "flag"}

// writeMessage writes m; sel (lower-case names) limits the fields, nil means all.
func (s *Server) writeMessage(w *jsonWriter, mb *mbox, m *message, sel map[string]bool, immutable bool, odataContext string) {
	w.open()
	if odataContext != "" {
		w.field("@odata.context", odataContext)
	}
	w.field("@odata.etag", `W/"`+changeKey(m)+`"`)
	w.field("id", m.id(immutable))
	for _, f := range messageFields {
		if sel != nil && !sel[strings.ToLower(f)] {
			continue
		}
		switch f {
		case "createdDateTime", "receivedDateTime":
			w.field(f, graphTime(m.received))
		case "lastModifiedDateTime":
			w.field(f, graphTime(m.received.Add(time.Duration(m.seq)*time.Second)))
		case "changeKey":
			w.field(f, changeKey(m))
		case "categories":
			w.field(f, append([]string{}, m.categories...))
		case "sentDateTime":
			w.field(f, graphTime(m.sent))
		case "hasAttachments":
			w.field(f, len(m.attachments) > 0)
		case "internetMessageId":
			w.field(f, m.internetID)
		case "subject":
			w.field(f, m.subject)
		case "bodyPreview":
			p := m.body
			if len(p) > 255 {
				p = p[:255]
			}
			w.field(f, p)
		case "importance":
			w.field(f, m.importance)
		case "parentFolderId":
			w.field(f, m.folder)
		case "conversationId":
			w.field(f, m.conversationID)
		case "isDeliveryReceiptRequested", "isReadReceiptRequested":
			w.field(f, false)
		case "isRead":
			w.field(f, m.isRead)
		case "isDraft":
			w.field(f, m.isDraft)
		case "webLink":
			w.field(f, "https://outlook.office365.com/owa/?ItemID="+url.QueryEscape(m.restID)+"&exvsurl=1&viewmodel=ReadMessageItem")
		case "inferenceClassification":
			w.field(f, "focused")
		case "body":
			w.field(f, map[string]string{"contentType": m.bodyType, "content": m.body})
		case "sender", "from":
			w.field(f, recipient(m.from))
		case "toRecipients":
			w.field(f, recipients(m.to))
		case "ccRecipients":
			w.field(f, recipients(m.cc))
		case "bccRecipients":
			w.field(f, recipients(m.bcc))
		case "replyTo":
			w.field(f, []any{})
		case "flag":
			w.field(f, map[string]string{"flagStatus": m.flag})
		}
	}
	w.close()
}

func (m *message) id(immutable bool) string {
	if immutable {
		return m.immID
	}
	return m.restID
}

func changeKey(m *message) string {
	return base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("CQAAABYAAAD%08d", m.seq)))
}

func (s *Server) writeFolder(w *jsonWriter, mb *mbox, f *folder, odataContext string) {
	total, unread := 0, 0
	for _, m := range mb.messages {
		if m.folder == f.id {
			total++
			if !m.isRead {
				unread++
			}
		}
	}
	w.open()
	if odataContext != "" {
		w.field("@odata.context", odataContext)
	}
	w.field("id", f.id)
	w.field("displayName", f.name)
	w.field("parentFolderId", f.parent)
	w.field("childFolderCount", mb.childCount(f.id))
	w.field("unreadItemCount", unread)
	w.field("totalItemCount", total)
	w.field("sizeInBytes", total*2048)
	w.field("isHidden", f.hidden)
	w.close()
}

func writeAttachment(w *jsonWriter, a *attachment, withContent bool, odataContext string) {
	w.open()
	if odataContext != "" {
		w.field("@odata.context", odataContext)
	}
	w.field("@odata.type", "#microsoft.graph.fileAttachment")
	w.field("@odata.mediaContentType", a.contentType)
	w.field("id", a.id)
	w.field("lastModifiedDateTime", graphTime(a.modified))
	w.field("name", a.name)
	w.field("contentType", a.contentType)
	w.field("size", len(a.data))
	w.field("isInline", a.inline)
	w.field("contentId", nilIfEmpty(a.contentID))
	w.field("contentLocation", nil)
	if withContent {
		w.field("contentBytes", base64.StdEncoding.EncodeToString(a.data))
	}
	w.close()
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
