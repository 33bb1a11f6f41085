package ews

import (
	"strings"
	"time"
)

// ItemID identifies an item. ChangeKey names a version of it; operations
// that change an item accept an empty ChangeKey (last writer wins).
type ItemID struct {
	ID        string
	ChangeKey string
}

// FolderID identifies a folder by its EWS id. It is a [FolderRef].
type FolderID struct {
	ID        string
	ChangeKey string
}

// DistinguishedFolder names a well-known folder, such as [Inbox]. It is a
// [FolderRef].
type DistinguishedFolder string

// Well-known folders (a subset of DistinguishedFolderIdNameType).
const (
	Inbox         DistinguishedFolder = "inbox"
	SentItems     DistinguishedFolder = "sentitems"
	Drafts        DistinguishedFolder = "drafts"
	DeletedItems  DistinguishedFolder = "deleteditems"
	JunkEmail     DistinguishedFolder = "junkemail"
	Outbox        DistinguishedFolder = "outbox"
	Archive       DistinguishedFolder = "archive"
	MsgFolderRoot DistinguishedFolder = "msgfolderroot"
	Root          DistinguishedFolder = "root"
)

// FolderRef names a folder in a request: a [FolderID] or a
// [DistinguishedFolder]. The interface is sealed.
type FolderRef interface {
	writeFolderRef(w *xmlWriter, mailbox string)
}

func (f FolderID) writeFolderRef(w *xmlWriter, _ string) {
	w.raw(`<t:FolderId Id="`)
	w.attr(f.ID)
	if f.ChangeKey != "" {
		w.raw(`" ChangeKey="`)
		w.attr(f.ChangeKey)
	}
	w.raw(`"/>`)
}

// writeFolderRef writes a DistinguishedFolderId; mailbox, when set, names
// the mailbox that owns the folder (delegate access to another mailbox).
func (f DistinguishedFolder) writeFolderRef(w *xmlWriter, mailbox string) {
	w.raw(`<t:DistinguishedFolderId Id="`)
	w.attr(string(f))
	if mailbox == "" {
		w.raw(`"/>`)
		return
	}
	w.raw(`"><t:Mailbox><t:EmailAddress>`)
	w.text(mailbox)
	w.raw(`</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>`)
}

// Mailbox is an e-mail address with its display name.
type Mailbox struct {
	Name        string
	Address     string // EmailAddress
	RoutingType string // usually "SMTP"
}

// String formats m as "Name <address>", or just the address.
func (m Mailbox) String() string {
	if m.Name == "" || strings.EqualFold(m.Name, m.Address) {
		return m.Address
	}
	return m.Name + " <" + m.Address + ">"
}

// Folder is a folder as GetFolder and FindFolder return it. Fields the
// server did not send are zero.
type Folder struct {
	ID               FolderID
	ParentID         FolderID
	Kind             string // element name: "Folder", "CalendarFolder", "ContactsFolder", "SearchFolder", "TasksFolder"
	FolderClass      string // such as "IPF.Note"
	DisplayName      string
	TotalCount       int
	ChildFolderCount int
	UnreadCount      int
}

// Item is an item as FindItem, GetItem and SyncFolderItems return it.
// Fields the server did not send are zero.
type Item struct {
	ID                ItemID
	ParentFolderID    FolderID
	Kind              string // element name: "Message", "MeetingRequest", "CalendarItem", "Item", ...
	ItemClass         string // such as "IPM.Note"
	Subject           string
	From              Mailbox
	Sender            Mailbox
	To                []Mailbox
	Cc                []Mailbox
	DateTimeReceived  time.Time
	DateTimeSent      time.Time
	DateTimeCreated   time.Time
	Size              int64
	IsRead            bool
	HasAttachments    bool
	Importance        string
	InternetMessageID string
	BodyType          string // "HTML" or "Text"
	Body              string
	// MIME is the decoded MimeContent, when requested with
	// [GetItemOptions.MIME].
	MIME []byte
}

// ChangeType is the kind of a [Change] reported by SyncFolderItems.
type ChangeType string

// Change types.
const (
	ChangeCreate         ChangeType = "Create"
	ChangeUpdate         ChangeType = "Update"
	ChangeDelete         ChangeType = "Delete"
	ChangeReadFlagChange ChangeType = "ReadFlagChange"
)

// Change is one change reported by SyncFolderItems.
type Change struct {
	Type ChangeType
	// Item is the created or updated item; for Delete and ReadFlagChange
	// only Item.ID is set (and Item.IsRead for ReadFlagChange).
	Item Item
}

// SyncResult is one batch of SyncFolderItems changes.
type SyncResult struct {
	// SyncState is the state to persist and pass to the next call.
	SyncState string
	// IncludesLastItemInRange is true when the folder is in sync; false
	// means more changes are waiting: call again with SyncState.
	IncludesLastItemInRange bool
	Changes                 []Change
}

// DeleteType says how DeleteItems deletes.
type DeleteType string

// Delete types.
const (
	HardDelete         DeleteType = "HardDelete"
	SoftDelete         DeleteType = "SoftDelete"
	MoveToDeletedItems DeleteType = "MoveToDeletedItems"
)
