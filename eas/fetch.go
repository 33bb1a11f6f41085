package eas

import (
	"context"
	"errors"
	"strconv"

	"github.com/modernauth/mailauth/eas/wbxml"
)

// FetchOptions tunes [Client.Fetch]. A nil *FetchOptions is equivalent to
// a zero FetchOptions.
type FetchOptions struct {
	// BodyType is the body format wanted. Zero means BodyMIME: the whole
	// message as RFC 5322 text in Email.Body.Data.
	BodyType BodyType
}

// Fetch retrieves one message with ItemOperations Fetch ([MS-ASCMD]
// 2.2.1.10), by default as the whole MIME message, not truncated. A
// missing item returns a *StatusError with status 6. It does network I/O
// and blocks.
func (c *Client) Fetch(ctx context.Context, collectionID, serverID string, opts *FetchOptions) (*Email, error) {
	if collectionID == "" || serverID == "" {
		return nil, errors.New("eas: Fetch needs a collection ID and a server ID")
	}
	bt := BodyMIME
	if opts != nil && opts.BodyType != 0 {
		bt = opts.BodyType
	}
	o := wbxml.Elem("ItemOperations", "Options")
	if bt == BodyMIME {
		o.Children = append(o.Children, wbxml.Text("AirSync", "MIMESupport", "2"))
	}
	o.Children = append(o.Children, wbxml.Elem("AirSyncBase", "BodyPreference",
		wbxml.Text("AirSyncBase", "Type", strconv.Itoa(int(bt)))))
	resp, err := c.roundTrip(ctx, "ItemOperations", wbxml.Elem("ItemOperations", "ItemOperations",
		wbxml.Elem("ItemOperations", "Fetch",
			wbxml.Text("ItemOperations", "Store", "Mailbox"),
			wbxml.Text("AirSync", "CollectionId", collectionID),
			wbxml.Text("AirSync", "ServerId", serverID),
			o)))
	if err != nil {
		return nil, err
	}
	return parseFetch(resp)
}

func parseFetch(n *wbxml.Node) (*Email, error) {
	if n == nil || n.Name != "ItemOperations" {
		return nil, &ProtocolError{Command: "ItemOperations", Reason: "the body is not an ItemOperations element"}
	}
	if err := checkStatus("ItemOperations", itemOperationsStatus, childText(n, "Status")); err != nil {
		return nil, err
	}
	f := child(child(n, "Response"), "Fetch")
	if f == nil {
		return nil, &ProtocolError{Command: "ItemOperations", Reason: "no Response/Fetch element"}
	}
	if err := checkStatus("ItemOperations", itemOperationsStatus, childText(f, "Status")); err != nil {
		return nil, err
	}
	m := parseEmail(childText(f, "ServerId"), child(f, "Properties"))
	return &m, nil
}
