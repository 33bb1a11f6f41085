package ewstest

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

type mailbox struct {
	addr          string
	folders       map[string]*folder // by id
	order         []*folder          // creation order
	distinguished map[string]string  // name → folder id
	items         map[string]*item   // by id
}

type folder struct {
	id, changeKey, parent string
	name, class           string
	items                 []*item // newest first
	log                   []event // for SyncFolderItems
}

type event struct {
	kind   string // Create, Delete, ReadFlagChange
	item   item   // snapshot (Create)
	id     string
	ck     string
	isRead bool
}

type item struct {
	id, changeKey, folder string
	subject, body         string
	from, fromName        string
	to                    []string
	received              time.Time
	isRead                bool
	mime                  []byte
}

func (it *item) mimeContent() []byte {
	if it.mime != nil {
		return it.mime
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s <%s>\r\n", it.fromName, it.from)
	if len(it.to) > 0 {
		fmt.Fprintf(&b, "To: %s\r\n", strings.Join(it.to, ", "))
	}
	fmt.Fprintf(&b, "Subject: %s\r\nDate: %s\r\nMessage-ID: <%s@ewstest.invalid>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
		it.subject, it.received.Format(time.RFC1123Z), strings.TrimRight(it.id, "="), it.body)
	return []byte(b.String())
}

func (it *item) size() int { return len(it.mimeContent()) }

// newID returns an id that looks like Exchange's: base64 of opaque bytes.
func (s *Server) newID(kind string) string {
	s.nextID++
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "AAMkAD-%s-%06d", kind, s.nextID))
}

func (s *Server) newChangeKey() string {
	s.nextID++
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "CQAAAB%06d", s.nextID))
}

func wellKnown() []struct{ name, display, parent string } {
	return []struct{ name, display, parent string }{
		{"root", "Top of Information Store", ""},
		{"msgfolderroot", "Top of Information Store", "root"},
		{"inbox", "Inbox", "msgfolderroot"},
		{"drafts", "Drafts", "msgfolderroot"},
		{"sentitems", "Sent Items", "msgfolderroot"},
		{"deleteditems", "Deleted Items", "msgfolderroot"},
		{"junkemail", "Junk Email", "msgfolderroot"},
		{"archive", "Archive", "msgfolderroot"},
	}
}

// BaseTime is when the newest seeded message arrived; message i (1 is the
// newest) arrived i-1 hours earlier.
func BaseTime() time.Time { return time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC) }

func (s *Server) newMailbox(addr string) *mailbox {
	mb := &mailbox{addr: addr, folders: map[string]*folder{}, distinguished: map[string]string{}, items: map[string]*item{}}
	for _, wk := range wellKnown() {
		f := &folder{id: s.newID("folder"), changeKey: s.newChangeKey(), name: wk.display, class: "IPF.Note"}
		if wk.parent != "" {
			f.parent = mb.distinguished[wk.parent]
		}
		mb.folders[f.id] = f
		mb.order = append(mb.order, f)
		mb.distinguished[wk.name] = f.id
	}
	sub := &folder{id: s.newID("folder"), changeKey: s.newChangeKey(), name: "Projects", class: "IPF.Note", parent: mb.distinguished["inbox"]}
	mb.folders[sub.id] = sub
	mb.order = append(mb.order, sub)

	n := max(s.seedItems, 0)
	inbox := mb.distinguished["inbox"]
	// Oldest first, so that insert keeps the folder newest first.
	for i := n; i >= 1; i-- {
		it := s.newItem(mb, inbox)
		it.subject = fmt.Sprintf("Message %d", i)
		it.from = fmt.Sprintf("sender%d@fabrikam.test", i%3)
		it.fromName = fmt.Sprintf("Sender %d", i%3)
		it.body = fmt.Sprintf("Hello from message %d.", i)
		it.to = []string{addr}
		it.received = BaseTime().Add(-time.Duration(i-1) * time.Hour)
		it.isRead = i%4 == 0
		mb.insert(it)
	}
	return mb
}

func (s *Server) newItem(mb *mailbox, folderID string) *item {
	return &item{id: s.newID("item"), changeKey: s.newChangeKey(), folder: folderID}
}

// insert files it in its folder, newest first, and logs the creation.
func (mb *mailbox) insert(it *item) {
	f := mb.folders[it.folder]
	mb.items[it.id] = it
	i := 0
	for i < len(f.items) && f.items[i].received.After(it.received) {
		i++
	}
	f.items = append(f.items, nil)
	copy(f.items[i+1:], f.items[i:])
	f.items[i] = it
	f.log = append(f.log, event{kind: "Create", item: *it, id: it.id, ck: it.changeKey})
}

// remove takes it out of its folder and logs the deletion.
func (mb *mailbox) remove(it *item) {
	f := mb.folders[it.folder]
	for i, x := range f.items {
		if x == it {
			f.items = append(f.items[:i], f.items[i+1:]...)
			break
		}
	}
	delete(mb.items, it.id)
	f.log = append(f.log, event{kind: "Delete", id: it.id, ck: it.changeKey})
}

func (f *folder) unread() int {
	n := 0
	for _, it := range f.items {
		if !it.isRead {
			n++
		}
	}
	return n
}

func (mb *mailbox) children(id string) []*folder {
	var out []*folder
	for _, f := range mb.order {
		if f.parent == id {
			out = append(out, f)
		}
	}
	return out
}
