package graph

import (
	"context"
	"errors"
	"io"
	"iter"
	"net/http"
	"strings"
)

// ListOptions shapes [Client.Messages]. A nil *ListOptions lists the newest messages first,
// with [DefaultSelect], 50 a page.
type ListOptions struct {
	// Select lists the fields to return ($select); nil means DefaultSelect.
	Select []string
	// Top is the page size ($top), at most 1000. Zero means 50.
	Top int
	// Filter is an OData $filter, such as "isRead eq false" or
	// "receivedDateTime ge 2026-01-01T00:00:00Z".
	Filter string
	// OrderBy is an OData $orderby; empty means "receivedDateTime desc".
	OrderBy string
	// Max stops after this many messages; zero means all.
	Max int
}

// Messages lists the messages of folder (an id or a well-known name such as [Inbox]; ""
// means every folder of the mailbox) and follows @odata.nextLink until the end or
// opts.Max. It requests a page only when the previous one is used up.
//
// The sequence yields (message, nil) per message and, on failure, one (nil, err) and
// stops. A nextLink on another host or scheme than the Graph endpoint ends it with an error
// wrapping [ErrUntrustedLink] (or mailauth.ErrInsecure for http), never with a request.
func (c *Client) Messages(ctx context.Context, folder string, opts *ListOptions) iter.Seq2[*Message, error] {
	var o ListOptions
	if opts != nil {
		o = *opts
	}
	if o.Top <= 0 {
		o.Top = 50
	}
	o.Top = min(o.Top, 1000)
	if o.Max > 0 && o.Max < o.Top {
		o.Top = o.Max
	}
	if o.Select == nil {
		o.Select = DefaultSelect
	}
	if o.OrderBy == "" {
		o.OrderBy = "receivedDateTime desc"
	}
	var q query
	q.add("$select", strings.Join(o.Select, ","))
	q.addInt("$top", o.Top)
	q.add("$filter", o.Filter)
	q.add("$orderby", o.OrderBy)
	u := c.path("/messages") + q.String()
	if folder != "" {
		u = c.path("/mailFolders/"+seg(folder)+"/messages") + q.String()
	}
	return func(yield func(*Message, error) bool) {
		n := 0
		for u != "" {
			p, err := getPage[Message](ctx, c, "list messages", u, nil)
			if err != nil {
				yield(nil, err)
				return
			}
			for i := range p.Value {
				if !yield(&p.Value[i], nil) {
					return
				}
				if n++; o.Max > 0 && n >= o.Max {
					return
				}
			}
			u = p.NextLink
			if u != "" {
				if err := c.checkLink(u); err != nil {
					yield(nil, err)
					return
				}
			}
		}
	}
}

// GetOptions shapes [Client.Message]. Nil means every field Graph returns by default.
type GetOptions struct {
	// Select lists the fields to return ($select).
	Select []string
	// TextBody asks for the body as text rather than HTML (Prefer: outlook.body-content-type="text").
	TextBody bool
}

// Message returns one message by id.
func (c *Client) Message(ctx context.Context, id string, opts *GetOptions) (*Message, error) {
	if id == "" {
		return nil, errors.New("graph: Message: the id is empty")
	}
	var q query
	var prefer []string
	if opts != nil {
		q.add("$select", strings.Join(opts.Select, ","))
		if opts.TextBody {
			prefer = append(prefer, `outlook.body-content-type="text"`)
		}
	}
	var m Message
	if err := c.getJSON(ctx, "get message", c.path("/messages/"+seg(id))+q.String(), prefer, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// MIME returns the message's MIME content (RFC 5322, from $value) as a stream. The caller
// must close it; until then it holds one of the mailbox's request slots.
func (c *Client) MIME(ctx context.Context, id string) (io.ReadCloser, error) {
	if id == "" {
		return nil, errors.New("graph: MIME: the id is empty")
	}
	resp, err := c.do(ctx, &call{op: "get MIME", method: http.MethodGet, url: c.path("/messages/" + seg(id) + "/$value"), accept: "*/*", stream: true})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Move moves the message to the folder dest (an id or a well-known name) and returns it as
// it is there: with a new id, unless the client asks for immutable ids.
func (c *Client) Move(ctx context.Context, id, dest string) (*Message, error) {
	return c.moveCopy(ctx, "move", id, dest)
}

// Copy copies the message to the folder dest and returns the copy.
func (c *Client) Copy(ctx context.Context, id, dest string) (*Message, error) {
	return c.moveCopy(ctx, "copy", id, dest)
}

func (c *Client) moveCopy(ctx context.Context, verb, id, dest string) (*Message, error) {
	if id == "" || dest == "" {
		return nil, errors.New("graph: " + verb + ": the message id and the destination folder must be set")
	}
	var m Message
	err := c.sendJSON(ctx, verb+" message", http.MethodPost, c.path("/messages/"+seg(id)+"/"+verb), map[string]string{"destinationId": dest}, &m)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// Delete deletes the message: Graph moves it to the Recoverable Items folder (a soft delete,
// like EWS's DeleteItem with SoftDelete). To move it to Deleted Items, Move it to
// [DeletedItems].
func (c *Client) Delete(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("graph: Delete: the id is empty")
	}
	return c.sendJSON(ctx, "delete message", http.MethodDelete, c.path("/messages/"+seg(id)), nil, nil)
}

// SetRead marks the message read or unread.
func (c *Client) SetRead(ctx context.Context, id string, read bool) error {
	return c.update(ctx, "mark read", id, map[string]any{"isRead": read})
}

// SetFlag sets the message's follow-up flag: [Flagged], [Complete] or [NotFlagged].
func (c *Client) SetFlag(ctx context.Context, id, status string) error {
	switch status {
	case Flagged, Complete, NotFlagged:
	default:
		return errors.New("graph: SetFlag: status must be flagged, complete or notFlagged")
	}
	return c.update(ctx, "flag message", id, map[string]any{"flag": FollowupFlag{FlagStatus: status}})
}

func (c *Client) update(ctx context.Context, op, id string, patch map[string]any) error {
	if id == "" {
		return errors.New("graph: " + op + ": the id is empty")
	}
	return c.sendJSON(ctx, op, http.MethodPatch, c.path("/messages/"+seg(id)), patch, nil)
}
