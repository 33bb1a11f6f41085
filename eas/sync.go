package eas

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/modernauth/mailauth/eas/wbxml"
)

// BodyType is the format of an item body ([MS-ASAIRS] 2.2.2.22.1).
type BodyType int

// Body types.
const (
	BodyPlainText BodyType = 1
	BodyHTML      BodyType = 2
	BodyRTF       BodyType = 3
	BodyMIME      BodyType = 4
)

// Body is an item's body as the server sent it.
type Body struct {
	Type              BodyType `json:"type,omitempty"`
	EstimatedDataSize int64    `json:"estimated_data_size,omitempty"`
	Truncated         bool     `json:"truncated,omitempty"`
	// Data is the body (the whole RFC 5322 message for BodyMIME), possibly
	// truncated.
	Data    string `json:"data,omitempty"`
	Preview string `json:"preview,omitempty"`
}

// Email is a message as Sync and ItemOperations return it ([MS-ASEMAIL]).
// In a Change only the properties that changed are set.
type Email struct {
	ServerID     string    `json:"server_id"`
	Subject      string    `json:"subject,omitempty"`
	From         string    `json:"from,omitempty"`
	To           string    `json:"to,omitempty"`
	Cc           string    `json:"cc,omitempty"`
	ReplyTo      string    `json:"reply_to,omitempty"`
	DisplayTo    string    `json:"display_to,omitempty"`
	ThreadTopic  string    `json:"thread_topic,omitempty"`
	DateReceived time.Time `json:"date_received,omitzero"`
	Importance   int       `json:"importance,omitempty"` // 0 low, 1 normal, 2 high
	Read         bool      `json:"read"`
	MessageClass string    `json:"message_class,omitempty"`
	Body         Body      `json:"body,omitzero"`
}

// ItemChange is a change the client sends with Sync: set the read flag of
// one message.
type ItemChange struct {
	ServerID string
	Read     bool
}

// SyncRequest is one Sync command for one collection ([MS-ASCMD]
// 2.2.1.21).
type SyncRequest struct {
	// CollectionID is the folder's server ID.
	CollectionID string
	// SyncKey is the collection's current sync key; "0" (or "") asks for
	// a new one and returns no items.
	SyncKey string
	// WindowSize caps the items in the response (1 to 512). Zero means 50.
	WindowSize int
	// BodyType is the body format wanted. Zero means BodyPlainText.
	BodyType BodyType
	// TruncationSize caps the body bytes sent for each item. Zero means no
	// limit asked (the server's default applies).
	TruncationSize int
	// Changes and Deletes are client-side changes to send ("adds" are new
	// messages, sent with SendMail instead).
	Changes []ItemChange
	Deletes []string
	// DeletesAsMoves moves deleted items to Deleted Items instead of
	// deleting them for good.
	DeletesAsMoves bool
}

// ItemResponse is the server's answer to one client-side change that it
// did not apply (Sync responses list only failures, [MS-ASCMD] 2.2.3.156).
type ItemResponse struct {
	ServerID string
	Err      *StatusError
}

// SyncResult is one Sync response for one collection.
type SyncResult struct {
	CollectionID string
	// SyncKey is the collection's new sync key, to send next time.
	SyncKey string
	// MoreAvailable is set when the server has more changes than fitted in
	// WindowSize: send Sync again with SyncKey.
	MoreAvailable bool
	// Added, Changed, Deleted and SoftDeleted are the server's changes.
	// Added and Changed items carry their class and typed properties
	// ([Item]): a contacts or calendar folder gives contacts and events.
	// SoftDeleted items left the sync window (the filter) but still exist.
	Added       []Item
	Changed     []Item
	Deleted     []string
	SoftDeleted []string
	// Responses lists the client-side changes the server refused.
	Responses []ItemResponse
}

// Sync sends one Sync for one collection and returns its result. It does
// not touch the client's [State]; see [Client.SyncFolder] for that. An empty
// 200 response (no changes) yields a result with the request's sync key.
// It does network I/O and blocks.
func (c *Client) Sync(ctx context.Context, req *SyncRequest) (*SyncResult, error) {
	if req == nil || req.CollectionID == "" {
		return nil, errors.New("eas: Sync needs a CollectionID")
	}
	key := req.SyncKey
	if key == "" {
		key = "0"
	}
	coll := wbxml.Elem("AirSync", "Collection",
		wbxml.Text("AirSync", "SyncKey", key),
		wbxml.Text("AirSync", "CollectionId", req.CollectionID))
	if key != "0" {
		// [MS-ASCMD] 2.2.3.84: GetChanges, WindowSize and Options go with a
		// real sync key only; the first Sync just obtains one.
		if req.DeletesAsMoves {
			coll.Children = append(coll.Children, wbxml.Text("AirSync", "DeletesAsMoves", "1"))
		}
		ws := req.WindowSize
		if ws <= 0 {
			ws = 50
		}
		ws = min(ws, 512)
		bt := req.BodyType
		if bt == 0 {
			bt = BodyPlainText
		}
		pref := wbxml.Elem("AirSyncBase", "BodyPreference", wbxml.Text("AirSyncBase", "Type", strconv.Itoa(int(bt))))
		if req.TruncationSize > 0 {
			pref.Children = append(pref.Children, wbxml.Text("AirSyncBase", "TruncationSize", strconv.Itoa(req.TruncationSize)))
		}
		opts := wbxml.Elem("AirSync", "Options")
		if bt == BodyMIME {
			opts.Children = append(opts.Children, wbxml.Text("AirSync", "MIMESupport", "2"))
		}
		opts.Children = append(opts.Children, pref)
		coll.Children = append(coll.Children,
			wbxml.Text("AirSync", "GetChanges", "1"),
			wbxml.Text("AirSync", "WindowSize", strconv.Itoa(ws)),
			opts)
		if len(req.Changes)+len(req.Deletes) > 0 {
			cmds := wbxml.Elem("AirSync", "Commands")
			for _, ch := range req.Changes {
				read := "0"
				if ch.Read {
					read = "1"
				}
				cmds.Children = append(cmds.Children, wbxml.Elem("AirSync", "Change",
					wbxml.Text("AirSync", "ServerId", ch.ServerID),
					wbxml.Elem("AirSync", "ApplicationData", wbxml.Text("Email", "Read", read))))
			}
			for _, id := range req.Deletes {
				cmds.Children = append(cmds.Children, wbxml.Elem("AirSync", "Delete", wbxml.Text("AirSync", "ServerId", id)))
			}
			coll.Children = append(coll.Children, cmds)
		}
	}
	resp, err := c.roundTrip(ctx, "Sync",
		wbxml.Elem("AirSync", "Sync", wbxml.Elem("AirSync", "Collections", coll)))
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return &SyncResult{CollectionID: req.CollectionID, SyncKey: key}, nil
	}
	return parseSync(resp, req.CollectionID, c.folderClass(req.CollectionID))
}

// folderClass returns the class of a folder the last FolderSync listed,
// or "" when the client's state does not know the folder.
func (c *Client) folderClass(collectionID string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.state.Folders {
		if f.ServerID == collectionID {
			return f.Type.Class()
		}
	}
	return ""
}

// parseSync reads a Sync response for one collection; class is the
// folder's class when known, for items whose properties do not say.
func parseSync(n *wbxml.Node, collectionID, class string) (*SyncResult, error) {
	if n == nil || n.Name != "Sync" {
		return nil, &ProtocolError{Command: "Sync", Reason: "the body is not a Sync element"}
	}
	if st := childText(n, "Status"); st != "" {
		if err := checkStatus("Sync", syncStatus, st); err != nil {
			return nil, err
		}
	}
	var coll *wbxml.Node
	for _, cn := range all(child(n, "Collections"), "Collection") {
		if id := childText(cn, "CollectionId"); id == collectionID || id == "" && coll == nil {
			coll = cn
		}
	}
	if coll == nil {
		return nil, &ProtocolError{Command: "Sync", Reason: "no Collection " + strconv.Quote(collectionID) + " in the response"}
	}
	if err := checkStatus("Sync", syncStatus, childText(coll, "Status")); err != nil {
		var se *StatusError
		if errors.As(err, &se) {
			se.CollectionID = collectionID
		}
		return nil, err
	}
	if c := childText(coll, "Class"); c != "" {
		class = c // protocol 2.5 names the class per collection
	}
	r := &SyncResult{
		CollectionID:  collectionID,
		SyncKey:       childText(coll, "SyncKey"),
		MoreAvailable: child(coll, "MoreAvailable") != nil,
	}
	if r.SyncKey == "" {
		return nil, &ProtocolError{Command: "Sync", Reason: "no SyncKey in a successful Collection"}
	}
	for _, e := range children(child(coll, "Commands")) {
		switch e.Name {
		case "Add":
			r.Added = append(r.Added, parseItem(e, class))
		case "Change":
			r.Changed = append(r.Changed, parseItem(e, class))
		case "Delete":
			r.Deleted = append(r.Deleted, childText(e, "ServerId"))
		case "SoftDelete":
			r.SoftDeleted = append(r.SoftDeleted, childText(e, "ServerId"))
		}
	}
	for _, e := range children(child(coll, "Responses")) {
		st, err := strconv.Atoi(childText(e, "Status"))
		if err != nil || st == 1 {
			continue
		}
		se := newStatusError("Sync", syncStatus, st)
		se.CollectionID = collectionID
		r.Responses = append(r.Responses, ItemResponse{ServerID: childText(e, "ServerId"), Err: se})
	}
	return r, nil
}

// parseEmail reads the Email and AirSyncBase properties of an
// ApplicationData or Properties element.
func parseEmail(serverID string, n *wbxml.Node) Email {
	m := Email{ServerID: serverID}
	for _, p := range children(n) {
		switch p.Name {
		case "Subject":
			m.Subject = text(p)
		case "From":
			m.From = text(p)
		case "To":
			m.To = text(p)
		case "Cc":
			m.Cc = text(p)
		case "ReplyTo":
			m.ReplyTo = text(p)
		case "DisplayTo":
			m.DisplayTo = text(p)
		case "ThreadTopic":
			m.ThreadTopic = text(p)
		case "DateReceived":
			m.DateReceived = parseTime(text(p))
		case "Importance":
			m.Importance, _ = strconv.Atoi(text(p))
		case "Read":
			m.Read = text(p) == "1"
		case "MessageClass":
			m.MessageClass = text(p)
		case "Body":
			m.Body = parseBody(p)
		}
	}
	return m
}

// SyncOptions tunes [Client.SyncFolder].
type SyncOptions struct {
	// WindowSize, BodyType and TruncationSize are as in [SyncRequest].
	WindowSize     int
	BodyType       BodyType
	TruncationSize int
	// MaxRounds stops the MoreAvailable loop after that many Sync
	// requests (the state stays consistent; call again to continue). Zero
	// means no limit.
	MaxRounds int
	// OnBatch, when set, receives each Sync response as it arrives,
	// instead of SyncFolder accumulating every item in its result. An
	// error from it stops the loop and is returned; the sync key of the
	// batch it saw is already stored.
	OnBatch func(*SyncResult) error
}

// SyncFolder brings one folder up to date, keeping its sync key in the
// client's [State]: without a stored key it first obtains one (Sync with
// key 0), then sends Sync with GetChanges while the server reports
// MoreAvailable. It returns the accumulated changes (empty when OnBatch is
// set), with the final sync key and MoreAvailable set if MaxRounds stopped
// the loop. When the server no longer knows the key (status 3) the folder
// starts over from key 0 once. It does network I/O and blocks.
func (c *Client) SyncFolder(ctx context.Context, collectionID string, opts *SyncOptions) (*SyncResult, error) {
	var o SyncOptions
	if opts != nil {
		o = *opts
	}
	total := &SyncResult{CollectionID: collectionID}
	restarted := false
	for round := 0; o.MaxRounds <= 0 || round < o.MaxRounds; round++ {
		key := c.syncKey(collectionID)
		r, err := c.Sync(ctx, &SyncRequest{CollectionID: collectionID, SyncKey: key,
			WindowSize: o.WindowSize, BodyType: o.BodyType, TruncationSize: o.TruncationSize})
		var se *StatusError
		if errors.As(err, &se) && se.Status == 3 && key != "0" && !restarted {
			restarted = true
			c.setSyncKey(collectionID, "0")
			continue
		}
		if err != nil {
			return nil, err
		}
		if r.SyncKey == "0" {
			return nil, &ProtocolError{Command: "Sync", Reason: "the server returned no new sync key for key 0"}
		}
		c.setSyncKey(collectionID, r.SyncKey)
		total.SyncKey = r.SyncKey
		total.MoreAvailable = r.MoreAvailable
		if o.OnBatch != nil {
			if err := o.OnBatch(r); err != nil {
				return total, err
			}
		} else {
			total.Added = append(total.Added, r.Added...)
			total.Changed = append(total.Changed, r.Changed...)
			total.Deleted = append(total.Deleted, r.Deleted...)
			total.SoftDeleted = append(total.SoftDeleted, r.SoftDeleted...)
			total.Responses = append(total.Responses, r.Responses...)
		}
		if key != "0" && !r.MoreAvailable {
			total.MoreAvailable = false
			return total, nil
		}
		total.MoreAvailable = true
	}
	return total, nil
}

// UpdateItems sends client-side changes (read flags, deletions) for one
// folder with Sync, using and advancing the sync key in the client's
// [State] (the folder must have been synchronized once). Changes the server
// sends back in the same response are returned. It does network I/O and
// blocks.
func (c *Client) UpdateItems(ctx context.Context, collectionID string, changes []ItemChange, deletes []string) (*SyncResult, error) {
	key := c.syncKey(collectionID)
	if key == "0" {
		return nil, errors.New("eas: UpdateItems needs a folder synchronized once (call SyncFolder first)")
	}
	r, err := c.Sync(ctx, &SyncRequest{CollectionID: collectionID, SyncKey: key, Changes: changes, Deletes: deletes, WindowSize: 1})
	if err != nil {
		return nil, err
	}
	c.setSyncKey(collectionID, r.SyncKey)
	return r, nil
}
