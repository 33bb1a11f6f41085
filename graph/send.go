package graph

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// mimeInlineLimit is the most base64 MIME text sent in one request (under Graph's 4 MB).
const mimeInlineLimit = 4_000_000

// maxMIME caps a message SendMIME reads: the attachments' 150 MB plus room for the rest.
const maxMIME = MaxAttachmentSize + 16<<20

// Mail is a message to send with [Client.Send].
type Mail struct {
	Subject string
	Body    string
	HTML    bool // Body is HTML; otherwise plain text
	// To, Cc, Bcc and ReplyTo are addresses, "bob@contoso.com" or "Bob <bob@contoso.com>".
	To, Cc, Bcc, ReplyTo []string
	// Attachments are sent with the message; together with the rest they may exceed the
	// 4 MB request limit, in which case Send goes through a draft and upload sessions.
	Attachments []FileAttachment
	// DontSaveToSentItems sends without keeping a copy in Sent Items.
	DontSaveToSentItems bool
}

// FileAttachment is a file sent with a [Mail].
type FileAttachment struct {
	Name        string
	ContentType string
	Content     []byte
}

type outMessage struct {
	Subject     string           `json:"subject"`
	Body        ItemBody         `json:"body"`
	To          []Recipient      `json:"toRecipients,omitempty"`
	Cc          []Recipient      `json:"ccRecipients,omitempty"`
	Bcc         []Recipient      `json:"bccRecipients,omitempty"`
	ReplyTo     []Recipient      `json:"replyTo,omitempty"`
	Attachments []map[string]any `json:"attachments,omitempty"`
}

func (m *Mail) message(withAttachments bool) outMessage {
	ct := "Text"
	if m.HTML {
		ct = "HTML"
	}
	o := outMessage{Subject: m.Subject, Body: ItemBody{ContentType: ct, Content: m.Body},
		To: Recipients(m.To...), Cc: Recipients(m.Cc...), Bcc: Recipients(m.Bcc...), ReplyTo: Recipients(m.ReplyTo...)}
	if withAttachments {
		for _, a := range m.Attachments {
			att := map[string]any{"@odata.type": "#microsoft.graph.fileAttachment", "name": a.Name,
				"contentBytes": base64.StdEncoding.EncodeToString(a.Content)}
			if a.ContentType != "" {
				att["contentType"] = a.ContentType
			}
			o.Attachments = append(o.Attachments, att)
		}
	}
	return o
}

// Send sends m from the mailbox with sendMail. Graph answers 202 Accepted: the message is
// queued for delivery, and a nil error means exactly that. When m with its attachments is
// over the 4 MB request limit, Send creates a draft, attaches the files (large ones through
// upload sessions) and sends the draft.
func (c *Client) Send(ctx context.Context, m *Mail) error {
	if m == nil || len(m.To)+len(m.Cc)+len(m.Bcc) == 0 {
		return errors.New("graph: Send: the mail needs at least one recipient")
	}
	body, err := json.Marshal(map[string]any{"message": m.message(true), "saveToSentItems": !m.DontSaveToSentItems})
	if err != nil {
		return fmt.Errorf("graph: Send: %w", err)
	}
	if len(body) <= mimeInlineLimit {
		return c.jsonCall(ctx, &call{op: "send mail", method: http.MethodPost, url: c.path("/sendMail"), body: body, ctype: "application/json"}, nil)
	}
	var draft Message
	if err := c.sendJSON(ctx, "create draft", http.MethodPost, c.path("/messages"), m.message(false), &draft); err != nil {
		return err
	}
	for _, a := range m.Attachments {
		if _, err := c.AddAttachment(ctx, draft.ID, &NewAttachment{Name: a.Name, ContentType: a.ContentType,
			Content: bytes.NewReader(a.Content), Size: int64(len(a.Content))}); err != nil {
			return c.dropDraft(ctx, draft.ID, err)
		}
	}
	return c.SendDraft(ctx, draft.ID)
}

// SendMIME sends a complete MIME message (RFC 5322, as built for SMTP) from the mailbox:
// sendMail with the message base64-encoded as text/plain. Graph takes From, To, Cc, Bcc
// and Subject from the MIME header; a nil error means Graph accepted it (202).
//
// A message whose base64 form is over the 4 MB request limit is sent through a draft: the
// draft is created from the MIME without its largest attachments (the rest of the message
// stays byte for byte), those are attached through upload sessions (up to 150 MB each),
// and the draft is sent. If that fails half way the draft is deleted. Only top-level
// attachments of a multipart message can be moved; a larger message of another shape is
// refused.
func (c *Client) SendMIME(ctx context.Context, r io.Reader) error {
	msg, err := io.ReadAll(io.LimitReader(r, maxMIME+1))
	if err != nil {
		return fmt.Errorf("graph: SendMIME: reading the message: %w", err)
	}
	if len(msg) > maxMIME {
		return fmt.Errorf("graph: SendMIME: the message is over %d bytes", maxMIME)
	}
	if len(msg) == 0 {
		return errors.New("graph: SendMIME: the message is empty")
	}
	if base64.StdEncoding.EncodedLen(len(msg)) <= mimeInlineLimit {
		return c.jsonCall(ctx, &call{op: "send MIME", method: http.MethodPost, url: c.path("/sendMail"),
			body: base64Body(msg), ctype: "text/plain"}, nil)
	}
	reduced, atts, err := splitLarge(msg, mimeInlineLimit)
	if err != nil {
		return err
	}
	draft, err := c.CreateDraftMIME(ctx, reduced)
	if err != nil {
		return err
	}
	for _, a := range atts {
		if _, err := c.AddAttachment(ctx, draft.ID, &NewAttachment{Name: a.name, ContentType: a.contentType,
			IsInline: a.inline, ContentID: a.contentID, Content: bytes.NewReader(a.data), Size: int64(len(a.data))}); err != nil {
			return c.dropDraft(ctx, draft.ID, err)
		}
	}
	if err := c.SendDraft(ctx, draft.ID); err != nil {
		return c.dropDraft(ctx, draft.ID, err)
	}
	return nil
}

// dropDraft deletes a draft that could not be completed and returns err.
func (c *Client) dropDraft(ctx context.Context, id string, err error) error {
	if derr := c.Delete(context.WithoutCancel(ctx), id); derr != nil {
		return errors.Join(err, fmt.Errorf("graph: deleting the unfinished draft %s: %w", id, derr))
	}
	return err
}

// CreateDraftMIME creates a draft in Drafts from a MIME message (base64 text/plain, at most
// 4 MB encoded) and returns it.
func (c *Client) CreateDraftMIME(ctx context.Context, mimeMsg []byte) (*Message, error) {
	if base64.StdEncoding.EncodedLen(len(mimeMsg)) > MaxRequestBytes {
		return nil, fmt.Errorf("graph: CreateDraftMIME: the message is %d bytes, over the 4 MB request limit once base64-encoded", len(mimeMsg))
	}
	var m Message
	err := c.jsonCall(ctx, &call{op: "create draft from MIME", method: http.MethodPost, url: c.path("/messages"),
		body: base64Body(mimeMsg), ctype: "text/plain"}, &m)
	if err != nil {
		return nil, err
	}
	if m.ID == "" {
		return nil, errors.New("graph: create draft from MIME: the answer has no id")
	}
	return &m, nil
}

// SendDraft sends a draft (POST .../messages/{id}/send); Graph answers 202 Accepted.
func (c *Client) SendDraft(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("graph: SendDraft: the id is empty")
	}
	return c.jsonCall(ctx, &call{op: "send draft", method: http.MethodPost, url: c.path("/messages/" + seg(id) + "/send"), body: []byte{}}, nil)
}

func base64Body(b []byte) []byte {
	out := make([]byte, base64.StdEncoding.EncodedLen(len(b)))
	base64.StdEncoding.Encode(out, b)
	return out
}
