package eas

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"

	"github.com/modernauth/mailauth/eas/wbxml"
)

// SendOptions tunes [Client.SendMail]. A nil *SendOptions is equivalent to
// a zero SendOptions.
type SendOptions struct {
	// SaveInSentItems keeps a copy in Sent Items.
	SaveInSentItems bool
	// ClientID identifies the message so that a resent request is not
	// delivered twice (status 118). Empty means a random one.
	ClientID string
}

// SendMail sends a complete RFC 5322 message ([MS-ASCMD] 2.2.1.17, the
// ComposeMail form of protocol 14.0 and later, with the MIME as OPAQUE).
// The recipients are taken from the message's To, Cc and Bcc headers. A
// refused message returns a *StatusError with the server's status, such as
// 119 (no recipient) or 115 (send quota exceeded). It does network I/O and
// blocks.
func (c *Client) SendMail(ctx context.Context, mime []byte, opts *SendOptions) error {
	if len(mime) == 0 {
		return errors.New("eas: SendMail needs a message")
	}
	var o SendOptions
	if opts != nil {
		o = *opts
	}
	if o.ClientID == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		o.ClientID = hex.EncodeToString(b[:])
	}
	req := wbxml.Elem("ComposeMail", "SendMail", wbxml.Text("ComposeMail", "ClientId", o.ClientID))
	if o.SaveInSentItems {
		req.Children = append(req.Children, wbxml.Elem("ComposeMail", "SaveInSentItems"))
	}
	req.Children = append(req.Children, wbxml.Opaque("ComposeMail", "Mime", mime))
	resp, err := c.roundTrip(ctx, "SendMail", req)
	if err != nil {
		return err
	}
	return parseSendMail(resp)
}

// parseSendMail reads a SendMail response: an empty body is success, so is
// a SendMail element with Status 1.
func parseSendMail(n *wbxml.Node) error {
	if n == nil {
		return nil
	}
	if n.Name != "SendMail" {
		return &ProtocolError{Command: "SendMail", Reason: "the body is not a SendMail element"}
	}
	return checkStatus("SendMail", nil, childText(n, "Status"))
}
