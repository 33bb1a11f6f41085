package eas

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/modernauth/mailauth/eas/wbxml"
)

// PingFolder is a folder for [Client.Ping] to watch.
type PingFolder struct {
	// ID is the folder's server ID.
	ID string
	// Class is "Email", "Calendar", "Contacts", "Tasks" or "Notes"; empty
	// means "Email". [FolderType.Class] gives it.
	Class string
}

// PingResult is the outcome of a Ping.
type PingResult struct {
	// Changed lists the folders with changes (status 2); empty when the
	// heartbeat interval expired without changes (status 1).
	Changed []string
	// HeartbeatInterval is the interval the server allows, when it sent
	// one (with status 5).
	HeartbeatInterval time.Duration
	// MaxFolders is the most folders the server watches, when it sent it
	// (with status 6).
	MaxFolders int
}

// Ping asks the server to hold the request until one of the folders
// changes or the heartbeat interval passes ([MS-ASCMD] 2.2.1.13). It
// blocks for up to heartbeat (plus network time), so ctx should allow
// that; the interval is sent in whole seconds. Status 1 (no changes) and
// 2 (changes) return a result and no error; other statuses return a
// *StatusError, with the result carrying the server's limits for 5 and 6.
func (c *Client) Ping(ctx context.Context, heartbeat time.Duration, folders []PingFolder) (*PingResult, error) {
	if len(folders) == 0 {
		return nil, errors.New("eas: Ping needs at least one folder")
	}
	fs := wbxml.Elem("Ping", "Folders")
	for _, f := range folders {
		class := f.Class
		if class == "" {
			class = "Email"
		}
		fs.Children = append(fs.Children, wbxml.Elem("Ping", "Folder",
			wbxml.Text("Ping", "Id", f.ID),
			wbxml.Text("Ping", "Class", class)))
	}
	secs := int(heartbeat / time.Second)
	resp, err := c.roundTrip(ctx, "Ping", wbxml.Elem("Ping", "Ping",
		wbxml.Text("Ping", "HeartbeatInterval", strconv.Itoa(secs)), fs))
	if err != nil {
		return nil, err
	}
	return parsePing(resp)
}

func parsePing(n *wbxml.Node) (*PingResult, error) {
	if n == nil || n.Name != "Ping" {
		return nil, &ProtocolError{Command: "Ping", Reason: "the body is not a Ping element"}
	}
	r := &PingResult{}
	if s, err := strconv.Atoi(childText(n, "HeartbeatInterval")); err == nil && s > 0 {
		r.HeartbeatInterval = time.Duration(s) * time.Second
	}
	r.MaxFolders, _ = strconv.Atoi(childText(n, "MaxFolders"))
	switch st := childText(n, "Status"); st {
	case "1":
		return r, nil
	case "2":
		for _, f := range all(child(n, "Folders"), "Folder") {
			r.Changed = append(r.Changed, text(f))
		}
		return r, nil
	default:
		code, err := strconv.Atoi(st)
		if err != nil {
			return nil, &ProtocolError{Command: "Ping", Reason: "missing or malformed Status"}
		}
		return r, newStatusError("Ping", pingStatus, code)
	}
}
