package ews

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// respMsg is one m:*ResponseMessage of a response, without its payload.
type respMsg struct {
	class   string // "Success", "Warning" or "Error"
	code    ResponseCode
	text    string
	details map[string]string
}

func (m *respMsg) ok() bool {
	return m.class == "Success" || (m.class == "" && (m.code == "" || m.code == CodeNoError))
}

func (m *respMsg) err(op string, status int) *Error {
	e := &Error{Op: op, Code: m.code, Message: m.text, HTTPStatus: status, Details: m.details}
	if e.Code == "" {
		e.Code = ResponseCode("Response" + m.class)
	}
	e.BackOff = backOff(m.details)
	return e
}

// payloadFunc consumes one payload child (m:Folders, m:RootFolder, m:Items,
// m:SyncState, ...) of a response message, through its end element.
type payloadFunc func(d *xml.Decoder, start xml.StartElement) error

// maxBackOff bounds BackOffMilliseconds so that a hostile value cannot
// overflow a Duration.
const maxBackOff = 24 * time.Hour

func backOff(details map[string]string) time.Duration {
	v, ok := details["BackOffMilliseconds"]
	if !ok {
		return 0
	}
	ms, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || ms <= 0 {
		return 0
	}
	if ms > int64(maxBackOff/time.Millisecond) {
		return maxBackOff
	}
	return time.Duration(ms) * time.Millisecond
}

func newDecoder(r io.Reader) *xml.Decoder {
	d := xml.NewDecoder(r)
	d.CharsetReader = func(charset string, input io.Reader) (io.Reader, error) {
		switch strings.ToLower(charset) {
		case "utf-8", "utf8", "us-ascii":
			return input, nil
		}
		return nil, fmt.Errorf("unsupported charset %q", charset)
	}
	return d
}

// parseResponse reads a SOAP response as a stream: it returns the response
// messages in order, hands their payload elements to payload (nil skips
// them) and returns a SOAP fault as an *Error. Element names are matched by
// local name, so the envelope namespace artefacts of some documentation
// samples (https://schemas.xmlsoap.org/...) parse too.
func parseResponse(r io.Reader, op string, payload payloadFunc) ([]respMsg, error) {
	d := newDecoder(r)
	var msgs []respMsg
	inBody := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return msgs, &ParseError{Op: op, Err: err}
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch local := se.Name.Local; {
		case local == "Body":
			inBody = true
		case !inBody:
		case local == "Fault":
			e, err := parseFault(d, se, op)
			if err != nil {
				return msgs, &ParseError{Op: op, Err: err}
			}
			return msgs, e
		case strings.HasSuffix(local, "ResponseMessage"):
			m, err := parseMessage(d, se, payload)
			if err != nil {
				return msgs, &ParseError{Op: op, Err: err}
			}
			msgs = append(msgs, m)
		}
	}
	if !inBody {
		return nil, &ParseError{Op: op, Err: errors.New("no SOAP Body")}
	}
	if len(msgs) == 0 {
		return nil, &ParseError{Op: op, Err: errors.New("no response message")}
	}
	return msgs, nil
}

func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func parseMessage(d *xml.Decoder, se xml.StartElement, payload payloadFunc) (respMsg, error) {
	m := respMsg{class: attr(se, "ResponseClass")}
	err := eachChild(d, func(c xml.StartElement) error {
		switch c.Name.Local {
		case "ResponseCode":
			s, err := readText(d)
			m.code = ResponseCode(s)
			return err
		case "MessageText":
			s, err := readText(d)
			m.text = s
			return err
		case "MessageXml":
			v, err := readValues(d)
			m.details = v
			return err
		}
		if payload == nil {
			return d.Skip()
		}
		return payload(d, c)
	})
	return m, err
}

// eachChild calls fn for each child element of the element whose start
// was just read; fn must consume the child through its end. It returns at
// the parent's end element.
func eachChild(d *xml.Decoder, fn func(xml.StartElement) error) error {
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := fn(t); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

// readText returns the trimmed character data of the element whose start
// was just read, skipping nested elements, and consumes its end. The common
// case, one run of text, costs one string allocation.
func readText(d *xml.Decoder) (string, error) {
	var (
		text  string
		more  []byte // the text, once a second run has been seen
		runs  int
		depth int
	)
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if depth > 0 {
				continue
			}
			runs++
			if runs == 1 {
				text = string(t) // t is only valid until the next Token call
			} else {
				if runs == 2 {
					more = append(more, text...)
				}
				more = append(more, t...)
			}
		case xml.StartElement:
			depth++
		case xml.EndElement:
			if depth > 0 {
				depth--
				continue
			}
			if runs > 1 {
				return string(bytes.TrimSpace(more)), nil
			}
			return strings.TrimSpace(text), nil
		}
	}
}

// readValues reads MessageXml: its t:Value Name="..." children by name.
func readValues(d *xml.Decoder) (map[string]string, error) {
	v := map[string]string{}
	err := eachChild(d, func(c xml.StartElement) error {
		if c.Name.Local != "Value" {
			return d.Skip()
		}
		s, err := readText(d)
		if n := attr(c, "Name"); n != "" {
			v[n] = s
		}
		return err
	})
	return v, err
}

type xmlFault struct {
	Code   string `xml:"faultcode"`
	String string `xml:"faultstring"`
	Detail struct {
		ResponseCode string `xml:"ResponseCode"`
		Message      string `xml:"Message"`
		Values       []struct {
			Name  string `xml:"Name,attr"`
			Value string `xml:",chardata"`
		} `xml:"MessageXml>Value"`
	} `xml:"detail"`
}

func parseFault(d *xml.Decoder, se xml.StartElement, op string) (*Error, error) {
	var f xmlFault
	if err := d.DecodeElement(&f, &se); err != nil {
		return nil, err
	}
	code := strings.TrimSpace(f.Detail.ResponseCode)
	if code == "" {
		code = strings.TrimSpace(f.Code)
		if i := strings.LastIndexByte(code, ':'); i >= 0 {
			code = code[i+1:]
		}
	}
	msg := strings.TrimSpace(f.String)
	if msg == "" {
		msg = strings.TrimSpace(f.Detail.Message)
	}
	e := &Error{Op: op, Code: ResponseCode(code), Message: msg, Fault: true}
	if len(f.Detail.Values) > 0 {
		e.Details = make(map[string]string, len(f.Detail.Values))
		for _, v := range f.Detail.Values {
			e.Details[v.Name] = strings.TrimSpace(v.Value)
		}
		e.BackOff = backOff(e.Details)
	}
	return e, nil
}

// Decoding targets. Numbers and booleans are read as strings and converted
// leniently, so that one odd value does not fail a whole page.

type xmlID struct {
	ID        string `xml:"Id,attr"`
	ChangeKey string `xml:"ChangeKey,attr"`
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}
	}
	return t
}

func parseBool(s string) bool {
	b, _ := strconv.ParseBool(strings.TrimSpace(s))
	return b
}

func parseInt(s string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n
}

// decodeItems reads an Items (or similar) container: each child element is
// one item, handed to fn as soon as it is decoded.
func decodeItems(d *xml.Decoder, wantMIME bool, fn func(Item)) error {
	return eachChild(d, func(c xml.StartElement) error {
		it, err := decodeItem(d, c, wantMIME)
		if err != nil {
			return err
		}
		fn(it)
		return nil
	})
}

// decodeItem reads one item element (t:Message, t:CalendarItem, ...) whose
// start was just read, field by field; unknown fields are skipped.
func decodeItem(d *xml.Decoder, se xml.StartElement, wantMIME bool) (Item, error) {
	it := Item{Kind: se.Name.Local}
	var mime string
	err := eachChild(d, func(c xml.StartElement) error {
		var (
			s   string
			err error
		)
		switch c.Name.Local {
		case "ItemId":
			it.ID = ItemID{ID: attr(c, "Id"), ChangeKey: attr(c, "ChangeKey")}
			return d.Skip()
		case "ParentFolderId":
			it.ParentFolderID = FolderID{ID: attr(c, "Id"), ChangeKey: attr(c, "ChangeKey")}
			return d.Skip()
		case "From":
			return readMailboxes(d, func(m Mailbox) { it.From = m })
		case "Sender":
			return readMailboxes(d, func(m Mailbox) { it.Sender = m })
		case "ToRecipients":
			return readMailboxes(d, func(m Mailbox) { it.To = append(it.To, m) })
		case "CcRecipients":
			return readMailboxes(d, func(m Mailbox) { it.Cc = append(it.Cc, m) })
		case "Body":
			it.BodyType = attr(c, "BodyType")
			it.Body, err = readText(d)
			return err
		case "MimeContent", "ItemClass", "Subject", "DateTimeReceived", "DateTimeSent", "DateTimeCreated",
			"Size", "HasAttachments", "IsRead", "Importance", "InternetMessageId":
			if s, err = readText(d); err != nil {
				return err
			}
		default:
			return d.Skip()
		}
		switch c.Name.Local {
		case "MimeContent":
			mime = s
		case "ItemClass":
			it.ItemClass = s
		case "Subject":
			it.Subject = s
		case "DateTimeReceived":
			it.DateTimeReceived = parseTime(s)
		case "DateTimeSent":
			it.DateTimeSent = parseTime(s)
		case "DateTimeCreated":
			it.DateTimeCreated = parseTime(s)
		case "Size":
			it.Size = parseInt(s)
		case "HasAttachments":
			it.HasAttachments = parseBool(s)
		case "IsRead":
			it.IsRead = parseBool(s)
		case "Importance":
			it.Importance = s
		case "InternetMessageId":
			it.InternetMessageID = s
		}
		return nil
	})
	if err != nil {
		return it, err
	}
	if wantMIME && mime != "" {
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(mime), ""))
		if err != nil {
			return it, fmt.Errorf("MimeContent: %w", err)
		}
		it.MIME = b
	}
	return it, nil
}

// readMailboxes reads a From/Sender/ToRecipients element: each t:Mailbox
// child is handed to fn.
func readMailboxes(d *xml.Decoder, fn func(Mailbox)) error {
	return eachChild(d, func(c xml.StartElement) error {
		if c.Name.Local != "Mailbox" {
			return d.Skip()
		}
		var m Mailbox
		err := eachChild(d, func(f xml.StartElement) error {
			var err error
			switch f.Name.Local {
			case "Name":
				m.Name, err = readText(d)
			case "EmailAddress":
				m.Address, err = readText(d)
			case "RoutingType":
				m.RoutingType, err = readText(d)
			default:
				err = d.Skip()
			}
			return err
		})
		fn(m)
		return err
	})
}

type xmlFolder struct {
	XMLName          xml.Name
	FolderID         xmlID  `xml:"FolderId"`
	ParentFolderID   xmlID  `xml:"ParentFolderId"`
	FolderClass      string `xml:"FolderClass"`
	DisplayName      string `xml:"DisplayName"`
	TotalCount       string `xml:"TotalCount"`
	ChildFolderCount string `xml:"ChildFolderCount"`
	UnreadCount      string `xml:"UnreadCount"`
}

func decodeFolders(d *xml.Decoder, fn func(Folder)) error {
	return eachChild(d, func(c xml.StartElement) error {
		var x xmlFolder
		if err := d.DecodeElement(&x, &c); err != nil {
			return err
		}
		fn(Folder{
			ID:               FolderID(x.FolderID),
			ParentID:         FolderID(x.ParentFolderID),
			Kind:             x.XMLName.Local,
			FolderClass:      x.FolderClass,
			DisplayName:      x.DisplayName,
			TotalCount:       int(parseInt(x.TotalCount)),
			ChildFolderCount: int(parseInt(x.ChildFolderCount)),
			UnreadCount:      int(parseInt(x.UnreadCount)),
		})
		return nil
	})
}

// rootFolder holds the attributes of a FindItem/FindFolder m:RootFolder.
type rootFolder struct {
	total, nextOffset int
	last, hasLast     bool
}

func readRootFolder(se xml.StartElement) rootFolder {
	var r rootFolder
	r.total = int(parseInt(attr(se, "TotalItemsInView")))
	r.nextOffset = int(parseInt(attr(se, "IndexedPagingOffset")))
	if v := attr(se, "IncludesLastItemInRange"); v != "" {
		r.hasLast = true
		r.last = parseBool(v)
	}
	return r
}
