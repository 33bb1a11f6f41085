package ews

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"iter"
)

const folderShape = `<m:FolderShape><t:BaseShape>Default</t:BaseShape><t:AdditionalProperties>` +
	`<t:FieldURI FieldURI="folder:FolderClass"/><t:FieldURI FieldURI="folder:ParentFolderId"/>` +
	`</t:AdditionalProperties></m:FolderShape>`

// GetFolder returns the folders named by refs (distinguished or by id), in
// order. When some folders fail, it returns the others and the errors
// joined. It does one request (more while the server is busy).
func (c *Client) GetFolder(ctx context.Context, refs ...FolderRef) ([]Folder, error) {
	if len(refs) == 0 {
		return nil, errors.New("ews: GetFolder: no folder given")
	}
	body := c.envelope(func(w *xmlWriter) {
		w.raw(`<m:GetFolder>` + folderShape + `<m:FolderIds>`)
		for _, f := range refs {
			c.writeFolder(w, f)
		}
		w.raw(`</m:FolderIds></m:GetFolder>`)
	})
	var out []Folder
	payload := func(d *xml.Decoder, se xml.StartElement) error {
		if se.Name.Local != "Folders" {
			return skip(d)
		}
		return decodeFolders(d, func(f Folder) { out = append(out, f) })
	}
	msgs, err := c.call(ctx, "GetFolder", body, payload, func() { out = out[:0] })
	if err != nil {
		return nil, err
	}
	return out, firstError("GetFolder", msgs)
}

// FindFolder returns the subfolders of parent: its children, or with deep
// every descendant. It does one request.
func (c *Client) FindFolder(ctx context.Context, parent FolderRef, deep bool) ([]Folder, error) {
	traversal := "Shallow"
	if deep {
		traversal = "Deep"
	}
	body := c.envelope(func(w *xmlWriter) {
		w.raw(`<m:FindFolder Traversal="` + traversal + `">` + folderShape + `<m:ParentFolderIds>`)
		c.writeFolder(w, parent)
		w.raw(`</m:ParentFolderIds></m:FindFolder>`)
	})
	var out []Folder
	payload := func(d *xml.Decoder, se xml.StartElement) error {
		if se.Name.Local != "RootFolder" {
			return skip(d)
		}
		return eachChild(d, func(c xml.StartElement) error {
			if c.Name.Local != "Folders" {
				return skip(d)
			}
			return decodeFolders(d, func(f Folder) { out = append(out, f) })
		})
	}
	msgs, err := c.call(ctx, "FindFolder", body, payload, func() { out = out[:0] })
	if err != nil {
		return nil, err
	}
	return out, firstError("FindFolder", msgs)
}

// FindOptions shapes [Client.FindItems]. A nil *FindOptions means the
// defaults.
type FindOptions struct {
	// PageSize is the number of items asked for per request
	// (MaxEntriesReturned). Zero means 100; values above 1000 are lowered
	// to 1000, Exchange's default EWSFindCountLimit.
	PageSize int
	// Max stops after this many items. Zero means all.
	Max int
	// Offset skips this many items first.
	Offset int
	// NewestFirst sorts by DateTimeReceived, newest first. The default is
	// the folder's order.
	NewestFirst bool
}

// FindItems lists the items of folder (Traversal Shallow) with
// IndexedPageItemView paging, requesting a page when the previous one is
// consumed, until the server reports IncludesLastItemInRange (a short page
// from EWSFindCountLimit is not the end). Each item carries the summary
// properties: id, class, subject, from, received and sent time, size, read
// flag, attachments flag, importance, Internet message id, parent folder.
//
// The sequence yields (item, nil) per item and, on failure, one
// (Item{}, err) and stops. Breaking out of the loop stops the paging. Each
// page is one request bounded by ctx.
func (c *Client) FindItems(ctx context.Context, folder FolderRef, opts *FindOptions) iter.Seq2[Item, error] {
	var o FindOptions
	if opts != nil {
		o = *opts
	}
	if o.PageSize <= 0 {
		o.PageSize = 100
	}
	o.PageSize = min(o.PageSize, 1000)
	o.Offset = max(o.Offset, 0)
	return func(yield func(Item, error) bool) {
		offset, n := o.Offset, 0
		for {
			size := o.PageSize
			if o.Max > 0 {
				size = min(size, o.Max-n)
			}
			page, root, err := c.findItemPage(ctx, folder, offset, size, o.NewestFirst)
			if err != nil {
				yield(Item{}, err)
				return
			}
			for _, it := range page {
				if !yield(it, nil) {
					return
				}
				n++
				if o.Max > 0 && n >= o.Max {
					return
				}
			}
			if !root.hasLast || root.last || len(page) == 0 {
				return
			}
			next := root.nextOffset
			if next <= offset {
				next = offset + len(page)
			}
			offset = next
		}
	}
}

func (c *Client) findItemPage(ctx context.Context, folder FolderRef, offset, size int, newestFirst bool) ([]Item, rootFolder, error) {
	body := c.envelope(func(w *xmlWriter) {
		w.raw(`<m:FindItem Traversal="Shallow">` + summaryShape + `<m:IndexedPageItemView MaxEntriesReturned="`)
		w.int(size)
		w.raw(`" Offset="`)
		w.int(offset)
		w.raw(`" BasePoint="Beginning"/>`)
		if newestFirst {
			w.raw(`<m:SortOrder><t:FieldOrder Order="Descending"><t:FieldURI FieldURI="item:DateTimeReceived"/></t:FieldOrder></m:SortOrder>`)
		}
		w.raw(`<m:ParentFolderIds>`)
		c.writeFolder(w, folder)
		w.raw(`</m:ParentFolderIds></m:FindItem>`)
	})
	var (
		page []Item
		root rootFolder
	)
	payload := func(d *xml.Decoder, se xml.StartElement) error {
		if se.Name.Local != "RootFolder" {
			return skip(d)
		}
		root = readRootFolder(se)
		return eachChild(d, func(c xml.StartElement) error {
			if c.Name.Local != "Items" {
				return skip(d)
			}
			return decodeItems(d, false, func(it Item) { page = append(page, it) })
		})
	}
	msgs, err := c.call(ctx, "FindItem", body, payload, func() { page, root = page[:0], rootFolder{} })
	if err == nil {
		err = firstError("FindItem", msgs)
	}
	return page, root, err
}

// GetItemOptions shapes [Client.GetItems]. A nil *GetItemOptions means the
// defaults.
type GetItemOptions struct {
	// MIME also fetches the item's MIME content (IncludeMimeContent) into
	// Item.MIME. The whole message is held in memory.
	MIME bool
	// BodyType is "HTML", "Text" or "Best"; empty means the server's
	// choice.
	BodyType string
}

// GetItems returns the items with the given ids, with the Default shape
// (subject, body, recipients, dates, flags) plus received time, class,
// sender, importance, Internet message id and parent folder. It is meant
// for mail items (messages, meeting requests): Exchange may refuse those
// message properties for other item types with ErrorInvalidPropertyRequest.
// When some items fail, it returns the others and the errors joined. It
// does one request.
func (c *Client) GetItems(ctx context.Context, ids []ItemID, opts *GetItemOptions) ([]Item, error) {
	if len(ids) == 0 {
		return nil, errors.New("ews: GetItem: no item id given")
	}
	var o GetItemOptions
	if opts != nil {
		o = *opts
	}
	body := c.envelope(func(w *xmlWriter) {
		w.raw(`<m:GetItem><m:ItemShape><t:BaseShape>Default</t:BaseShape>`)
		if o.MIME {
			w.raw(`<t:IncludeMimeContent>true</t:IncludeMimeContent>`)
		}
		if o.BodyType != "" {
			w.elem("t:BodyType", o.BodyType)
		}
		w.raw(`<t:AdditionalProperties><t:FieldURI FieldURI="item:DateTimeReceived"/>` +
			`<t:FieldURI FieldURI="item:ItemClass"/><t:FieldURI FieldURI="message:Sender"/>` +
			`<t:FieldURI FieldURI="item:Importance"/><t:FieldURI FieldURI="message:InternetMessageId"/>` +
			`<t:FieldURI FieldURI="item:ParentFolderId"/><t:FieldURI FieldURI="message:CcRecipients"/>` +
			`</t:AdditionalProperties></m:ItemShape><m:ItemIds>`)
		writeItemIDs(w, ids)
		w.raw(`</m:ItemIds></m:GetItem>`)
	})
	var out []Item
	payload := func(d *xml.Decoder, se xml.StartElement) error {
		if se.Name.Local != "Items" {
			return skip(d)
		}
		return decodeItems(d, o.MIME, func(it Item) { out = append(out, it) })
	}
	msgs, err := c.call(ctx, "GetItem", body, payload, func() { out = out[:0] })
	if err != nil {
		return nil, err
	}
	return out, firstError("GetItem", msgs)
}

// GetItem returns one item; see [Client.GetItems].
func (c *Client) GetItem(ctx context.Context, id ItemID, opts *GetItemOptions) (*Item, error) {
	items, err := c.GetItems(ctx, []ItemID{id}, opts)
	if err != nil {
		return nil, err
	}
	if len(items) != 1 {
		return nil, &ParseError{Op: "GetItem", Err: fmt.Errorf("%d items in the response, want 1", len(items))}
	}
	return &items[0], nil
}

// Message is a mail to send with [Client.Send]: either MIME, or the fields.
type Message struct {
	// MIME is a complete RFC 5322 message. When set, the fields below
	// except NoSaveCopy are ignored.
	MIME []byte

	Subject string
	Body    string
	HTML    bool // Body is HTML rather than plain text
	To      []string
	Cc      []string
	Bcc     []string

	// NoSaveCopy sends without saving a copy in Sent Items
	// (MessageDisposition SendOnly instead of SendAndSaveCopy).
	NoSaveCopy bool
}

// Send sends msg from the client's mailbox with CreateItem, saving a copy
// in its Sent Items unless msg.NoSaveCopy. Exchange returns no id for a
// sent message. It does one request; it is not retried after a response
// that might mean the message was sent.
func (c *Client) Send(ctx context.Context, msg *Message) error {
	if msg == nil || (len(msg.MIME) == 0 && len(msg.To)+len(msg.Cc)+len(msg.Bcc) == 0) {
		return errors.New("ews: CreateItem: the message needs MIME content or at least one recipient")
	}
	body := c.envelope(func(w *xmlWriter) {
		if msg.NoSaveCopy {
			w.raw(`<m:CreateItem MessageDisposition="SendOnly">`)
		} else {
			w.raw(`<m:CreateItem MessageDisposition="SendAndSaveCopy"><m:SavedItemFolderId>`)
			c.writeFolder(w, SentItems)
			w.raw(`</m:SavedItemFolderId>`)
		}
		w.raw(`<m:Items><t:Message>`)
		if len(msg.MIME) > 0 {
			w.raw(`<t:MimeContent CharacterSet="UTF-8">`)
			w.raw(base64.StdEncoding.EncodeToString(msg.MIME))
			w.raw(`</t:MimeContent>`)
		} else {
			w.elem("t:ItemClass", "IPM.Note")
			w.elem("t:Subject", msg.Subject)
			if msg.HTML {
				w.raw(`<t:Body BodyType="HTML">`)
			} else {
				w.raw(`<t:Body BodyType="Text">`)
			}
			w.text(msg.Body)
			w.raw(`</t:Body>`)
			writeRecipients(w, "t:ToRecipients", msg.To)
			writeRecipients(w, "t:CcRecipients", msg.Cc)
			writeRecipients(w, "t:BccRecipients", msg.Bcc)
		}
		w.raw(`</t:Message></m:Items></m:CreateItem>`)
	})
	msgs, err := c.call(ctx, "CreateItem", body, nil, nil)
	if err != nil {
		return err
	}
	return firstError("CreateItem", msgs)
}

func writeRecipients(w *xmlWriter, elem string, addrs []string) {
	if len(addrs) == 0 {
		return
	}
	w.raw("<" + elem + ">")
	for _, a := range addrs {
		w.raw(`<t:Mailbox>`)
		w.elem("t:EmailAddress", a)
		w.raw(`</t:Mailbox>`)
	}
	w.raw("</" + elem + ">")
}

// SyncFolderItems returns the changes in folder since syncState (empty: from
// the start, every item as a Create), at most maxChanges of them (zero means
// 100; EWS allows 1 to 512). Persist the returned SyncState and call again
// while IncludesLastItemInRange is false. Items carry the summary
// properties, as in [Client.FindItems]. It does one request.
func (c *Client) SyncFolderItems(ctx context.Context, folder FolderRef, syncState string, maxChanges int) (*SyncResult, error) {
	if maxChanges <= 0 {
		maxChanges = 100
	}
	maxChanges = min(maxChanges, 512)
	body := c.envelope(func(w *xmlWriter) {
		w.raw(`<m:SyncFolderItems>` + summaryShape + `<m:SyncFolderId>`)
		c.writeFolder(w, folder)
		w.raw(`</m:SyncFolderId>`)
		if syncState != "" {
			w.elem("m:SyncState", syncState)
		}
		w.raw(`<m:MaxChangesReturned>`)
		w.int(maxChanges)
		w.raw(`</m:MaxChangesReturned></m:SyncFolderItems>`)
	})
	var res SyncResult
	payload := func(d *xml.Decoder, se xml.StartElement) error {
		switch se.Name.Local {
		case "SyncState":
			s, err := readText(d)
			res.SyncState = s
			return err
		case "IncludesLastItemInRange":
			s, err := readText(d)
			res.IncludesLastItemInRange = parseBool(s)
			return err
		case "Changes":
			return eachChild(d, func(ch xml.StartElement) error {
				return decodeChange(d, ch, &res)
			})
		}
		return skip(d)
	}
	msgs, err := c.call(ctx, "SyncFolderItems", body, payload, func() { res = SyncResult{} })
	if err != nil {
		return nil, err
	}
	if err := firstError("SyncFolderItems", msgs); err != nil {
		return nil, err
	}
	return &res, nil
}

func decodeChange(d *xml.Decoder, ch xml.StartElement, res *SyncResult) error {
	typ := ChangeType(ch.Name.Local)
	switch typ {
	case ChangeCreate, ChangeUpdate:
		return decodeItems(d, false, func(it Item) { res.Changes = append(res.Changes, Change{Type: typ, Item: it}) })
	case ChangeDelete, ChangeReadFlagChange:
		chg := Change{Type: typ}
		err := eachChild(d, func(c xml.StartElement) error {
			switch c.Name.Local {
			case "ItemId":
				chg.Item.ID = ItemID{ID: attr(c, "Id"), ChangeKey: attr(c, "ChangeKey")}
				return skip(d)
			case "IsRead":
				s, err := readText(d)
				chg.Item.IsRead = parseBool(s)
				return err
			}
			return skip(d)
		})
		res.Changes = append(res.Changes, chg)
		return err
	}
	return skip(d)
}

// collectIDs is a payload that collects the ItemId of each item in m:Items.
func collectIDs(out *[]ItemID) payloadFunc {
	return func(d *xml.Decoder, se xml.StartElement) error {
		if se.Name.Local != "Items" {
			return skip(d)
		}
		return decodeItems(d, false, func(it Item) { *out = append(*out, it.ID) })
	}
}

// MoveItems moves the items to folder and returns their new ids (empty
// for moves the server does not report, such as across mailboxes). When
// some moves fail, it returns the others and the errors joined. It does one
// request.
func (c *Client) MoveItems(ctx context.Context, ids []ItemID, to FolderRef) ([]ItemID, error) {
	if len(ids) == 0 {
		return nil, errors.New("ews: MoveItem: no item id given")
	}
	body := c.envelope(func(w *xmlWriter) {
		w.raw(`<m:MoveItem><m:ToFolderId>`)
		c.writeFolder(w, to)
		w.raw(`</m:ToFolderId><m:ItemIds>`)
		writeItemIDs(w, ids)
		w.raw(`</m:ItemIds></m:MoveItem>`)
	})
	var out []ItemID
	msgs, err := c.call(ctx, "MoveItem", body, collectIDs(&out), func() { out = out[:0] })
	if err != nil {
		return nil, err
	}
	return out, firstError("MoveItem", msgs)
}

// DeleteItems deletes the items as how says. It does one request and
// returns the failures joined.
func (c *Client) DeleteItems(ctx context.Context, ids []ItemID, how DeleteType) error {
	if len(ids) == 0 {
		return errors.New("ews: DeleteItem: no item id given")
	}
	if how == "" {
		how = MoveToDeletedItems
	}
	body := c.envelope(func(w *xmlWriter) {
		w.raw(`<m:DeleteItem DeleteType="`)
		w.attr(string(how))
		w.raw(`"><m:ItemIds>`)
		writeItemIDs(w, ids)
		w.raw(`</m:ItemIds></m:DeleteItem>`)
	})
	msgs, err := c.call(ctx, "DeleteItem", body, nil, nil)
	if err != nil {
		return err
	}
	return firstError("DeleteItem", msgs)
}

// SetRead marks the items read or unread with UpdateItem and returns their
// ids with the new change keys. It does one request and returns the
// failures joined.
func (c *Client) SetRead(ctx context.Context, ids []ItemID, read bool) ([]ItemID, error) {
	if len(ids) == 0 {
		return nil, errors.New("ews: UpdateItem: no item id given")
	}
	val := "false"
	if read {
		val = "true"
	}
	body := c.envelope(func(w *xmlWriter) {
		w.raw(`<m:UpdateItem MessageDisposition="SaveOnly" ConflictResolution="AutoResolve"><m:ItemChanges>`)
		for _, id := range ids {
			w.raw(`<t:ItemChange>`)
			writeItemIDs(w, []ItemID{id})
			w.raw(`<t:Updates><t:SetItemField><t:FieldURI FieldURI="message:IsRead"/><t:Message><t:IsRead>` + val +
				`</t:IsRead></t:Message></t:SetItemField></t:Updates></t:ItemChange>`)
		}
		w.raw(`</m:ItemChanges></m:UpdateItem>`)
	})
	var out []ItemID
	msgs, err := c.call(ctx, "UpdateItem", body, collectIDs(&out), func() { out = out[:0] })
	if err != nil {
		return nil, err
	}
	return out, firstError("UpdateItem", msgs)
}
