package graph

import (
	"context"
	"errors"
	"strconv"
	"strings"
)

// SyncOptions shapes [Client.SyncMessages]. Nil means DefaultSelect and Graph's page size.
type SyncOptions struct {
	// Select lists the message fields to return; nil means DefaultSelect. It applies when a
	// round starts (state ""); later links carry it.
	Select []string
	// PageSize asks for at most this many changes a page (Prefer: odata.maxpagesize).
	PageSize int
}

// MessageChanges is one page of a delta round over a folder's messages.
type MessageChanges struct {
	// Changed holds the messages created or changed since the state (all of them in the
	// first round).
	Changed []Message
	// Removed holds the ids of messages deleted or moved out of the folder.
	Removed []string
	// State is what to pass next: while More, the link to the next page of this round;
	// then the delta link, to ask later for what changed since. Persist it; it is an
	// absolute URL on the Graph endpoint (not a secret: it holds no token).
	State string
	// More reports that this round has more pages: call again with State now.
	More bool
}

// SyncMessages returns one page of changes to the messages of folder (an id or a
// well-known name) since state, like EWS's SyncFolderItems: "" starts a full round, a
// State from an earlier call resumes, even in another process. Loop while More; when More
// is false, keep State for the next sync.
//
// A state on another host or scheme than the Graph endpoint is refused without a request
// (an error wrapping ErrUntrustedLink or mailauth.ErrInsecure). Graph answers a state it
// no longer knows with 410 Gone (an *Error): start again from "".
func (c *Client) SyncMessages(ctx context.Context, folder, state string, opts *SyncOptions) (*MessageChanges, error) {
	var o SyncOptions
	if opts != nil {
		o = *opts
	}
	u, err := c.deltaURL(state, func() string {
		if folder == "" {
			return ""
		}
		sel := o.Select
		if sel == nil {
			sel = DefaultSelect
		}
		var q query
		q.add("$select", strings.Join(sel, ","))
		return c.path("/mailFolders/"+seg(folder)+"/messages/delta") + q.String()
	})
	if err != nil {
		return nil, err
	}
	p, err := getPage[Message](ctx, c, "sync messages", u, pageSize(o.PageSize))
	if err != nil {
		return nil, err
	}
	out := &MessageChanges{}
	for _, m := range p.Value {
		if m.Removed != nil {
			out.Removed = append(out.Removed, m.ID)
		} else {
			out.Changed = append(out.Changed, m)
		}
	}
	out.State, out.More, err = c.nextState(p.NextLink, p.DeltaLink)
	return out, err
}

// FolderChanges is one page of a delta round over the mailbox's folders.
type FolderChanges struct {
	Changed []Folder // folders created or changed (all of them in the first round)
	Removed []string // ids of deleted folders
	State   string   // as in MessageChanges
	More    bool     // as in MessageChanges
}

// SyncFolders returns one page of changes to the mailbox's folders since state ("" starts
// a full round); see [Client.SyncMessages] for how to loop and persist State.
func (c *Client) SyncFolders(ctx context.Context, state string, pageSizeHint int) (*FolderChanges, error) {
	u, err := c.deltaURL(state, func() string { return c.path("/mailFolders/delta") })
	if err != nil {
		return nil, err
	}
	p, err := getPage[Folder](ctx, c, "sync folders", u, pageSize(pageSizeHint))
	if err != nil {
		return nil, err
	}
	out := &FolderChanges{}
	for _, f := range p.Value {
		if f.Removed != nil {
			out.Removed = append(out.Removed, f.ID)
		} else {
			out.Changed = append(out.Changed, f)
		}
	}
	out.State, out.More, err = c.nextState(p.NextLink, p.DeltaLink)
	return out, err
}

func (c *Client) deltaURL(state string, start func() string) (string, error) {
	if state == "" {
		u := start()
		if u == "" {
			return "", errors.New("graph: SyncMessages: the folder must be set")
		}
		return u, nil
	}
	if err := c.checkLink(state); err != nil {
		return "", err
	}
	return state, nil
}

func (c *Client) nextState(next, delta string) (string, bool, error) {
	switch {
	case next != "":
		return next, true, c.checkLink(next)
	case delta != "":
		return delta, false, c.checkLink(delta)
	}
	return "", false, errors.New("graph: the delta page has neither @odata.nextLink nor @odata.deltaLink")
}

func pageSize(n int) []string {
	if n <= 0 {
		return nil
	}
	return []string{"odata.maxpagesize=" + strconv.Itoa(n)}
}
