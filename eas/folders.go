package eas

import (
	"context"
	"errors"
	"slices"
	"strconv"

	"github.com/modernauth/mailauth/eas/wbxml"
)

// FolderType is a folder's type as FolderSync reports it ([MS-ASCMD]
// 2.2.3.186.3).
type FolderType int

// Folder types.
const (
	FolderUserGeneric    FolderType = 1
	FolderInbox          FolderType = 2
	FolderDrafts         FolderType = 3
	FolderDeletedItems   FolderType = 4
	FolderSentItems      FolderType = 5
	FolderOutbox         FolderType = 6
	FolderTasks          FolderType = 7
	FolderCalendar       FolderType = 8
	FolderContacts       FolderType = 9
	FolderNotes          FolderType = 10
	FolderJournal        FolderType = 11
	FolderUserMail       FolderType = 12
	FolderUserCalendar   FolderType = 13
	FolderUserContacts   FolderType = 14
	FolderUserTasks      FolderType = 15
	FolderUserJournal    FolderType = 16
	FolderUserNotes      FolderType = 17
	FolderUnknown        FolderType = 18
	FolderRecipientCache FolderType = 19
)

var folderTypeNames = [...]string{
	1: "user-generic", 2: "inbox", 3: "drafts", 4: "deleted-items", 5: "sent-items", 6: "outbox",
	7: "tasks", 8: "calendar", 9: "contacts", 10: "notes", 11: "journal", 12: "user-mail",
	13: "user-calendar", 14: "user-contacts", 15: "user-tasks", 16: "user-journal", 17: "user-notes",
	18: "unknown", 19: "recipient-cache",
}

// String returns a lower-case name such as "inbox", or the number.
func (t FolderType) String() string {
	if t > 0 && int(t) < len(folderTypeNames) {
		return folderTypeNames[t]
	}
	return strconv.Itoa(int(t))
}

// IsMail reports whether the folder holds email (Inbox, Drafts, Deleted
// Items, Sent Items, Outbox and user-created mail folders).
func (t FolderType) IsMail() bool {
	return t >= FolderInbox && t <= FolderOutbox || t == FolderUserMail
}

// Class returns the Ping class of the folder's items: "Email",
// "Calendar", "Contacts", "Tasks" or "Notes".
func (t FolderType) Class() string {
	switch t {
	case FolderCalendar, FolderUserCalendar:
		return "Calendar"
	case FolderContacts, FolderUserContacts:
		return "Contacts"
	case FolderTasks, FolderUserTasks:
		return "Tasks"
	case FolderNotes, FolderUserNotes:
		return "Notes"
	}
	return "Email"
}

// Folder is one folder of the mailbox hierarchy.
type Folder struct {
	ServerID    string     `json:"server_id"`
	ParentID    string     `json:"parent_id"` // "0" for a top-level folder
	DisplayName string     `json:"display_name"`
	Type        FolderType `json:"type"`
}

// FolderChanges is one FolderSync response.
type FolderChanges struct {
	// SyncKey is the hierarchy's new sync key.
	SyncKey string
	Added   []Folder
	Updated []Folder
	Deleted []string // server IDs
}

// FolderSync sends one FolderSync with the given hierarchy sync key ("0"
// or "" for the first one) and returns the changes since that key
// ([MS-ASCMD] 2.2.1.5). It does not touch the client's [State]; see
// [Client.Folders] for that. It does network I/O and blocks.
func (c *Client) FolderSync(ctx context.Context, syncKey string) (*FolderChanges, error) {
	if syncKey == "" {
		syncKey = "0"
	}
	resp, err := c.roundTrip(ctx, "FolderSync",
		wbxml.Elem("FolderHierarchy", "FolderSync", wbxml.Text("FolderHierarchy", "SyncKey", syncKey)))
	if err != nil {
		return nil, err
	}
	return parseFolderSync(resp)
}

func parseFolderSync(n *wbxml.Node) (*FolderChanges, error) {
	if n == nil || n.Name != "FolderSync" {
		return nil, &ProtocolError{Command: "FolderSync", Reason: "the body is not a FolderSync element"}
	}
	if err := checkStatus("FolderSync", folderSyncStatus, childText(n, "Status")); err != nil {
		return nil, err
	}
	fc := &FolderChanges{SyncKey: childText(n, "SyncKey")}
	if fc.SyncKey == "" {
		return nil, &ProtocolError{Command: "FolderSync", Reason: "no SyncKey in a successful response"}
	}
	ch := child(n, "Changes")
	for _, e := range children(ch) {
		switch e.Name {
		case "Add":
			fc.Added = append(fc.Added, parseFolder(e))
		case "Update":
			fc.Updated = append(fc.Updated, parseFolder(e))
		case "Delete":
			fc.Deleted = append(fc.Deleted, childText(e, "ServerId"))
		}
	}
	return fc, nil
}

func parseFolder(n *wbxml.Node) Folder {
	t, _ := strconv.Atoi(childText(n, "Type"))
	return Folder{
		ServerID:    childText(n, "ServerId"),
		ParentID:    childText(n, "ParentId"),
		DisplayName: childText(n, "DisplayName"),
		Type:        FolderType(t),
	}
}

// checkStatus turns a Status value other than "1" into a *StatusError.
func checkStatus(cmd string, table map[int]statusInfo, st string) error {
	if st == "1" {
		return nil
	}
	code, err := strconv.Atoi(st)
	if err != nil {
		return &ProtocolError{Command: cmd, Reason: "missing or malformed Status"}
	}
	return newStatusError(cmd, table, code)
}

// Folders brings the client's folder list up to date with FolderSync,
// starting from the hierarchy sync key in its [State], and returns the
// whole list. When the server no longer knows the key (status 9) it starts
// over from key 0 once. It does network I/O and blocks.
func (c *Client) Folders(ctx context.Context) ([]Folder, error) {
	c.mu.Lock()
	key := c.state.FolderSyncKey
	c.mu.Unlock()
	fc, err := c.FolderSync(ctx, key)
	var se *StatusError
	if errors.As(err, &se) && se.Status == 9 && key != "" && key != "0" {
		key = "0"
		fc, err = c.FolderSync(ctx, key)
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	folders := c.state.Folders
	if key == "" || key == "0" {
		folders = nil
	}
	folders = applyFolderChanges(slices.Clone(folders), fc)
	c.state.Folders = folders
	c.state.FolderSyncKey = fc.SyncKey
	return slices.Clone(folders), nil
}

func applyFolderChanges(folders []Folder, fc *FolderChanges) []Folder {
	del := func(id string) {
		folders = slices.DeleteFunc(folders, func(f Folder) bool { return f.ServerID == id })
	}
	for _, id := range fc.Deleted {
		del(id)
	}
	for _, f := range fc.Updated {
		del(f.ServerID)
		folders = append(folders, f)
	}
	for _, f := range fc.Added {
		del(f.ServerID)
		folders = append(folders, f)
	}
	return folders
}
