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
	unwrapInner(e)
	e.BackOff = backOff(m.details)
	return e
}

// unwrapInner replaces ErrorInternalServerError by the specific error
// Exchange puts in its MessageXml (InnerErrorResponseCode and
// InnerErrorMessageText), as for throttling: "HTTP 200 with
// ErrorInternalServerError and an inner ErrorServerBusy".
func unwrapInner(e *Error) {
	if e.Code != CodeInternalServerError {
		return
	}
	inner := strings.TrimSpace(e.Details["InnerErrorResponseCode"])
	if inner == "" {
		return
	}
	e.Code = ResponseCode(inner)
	if t := strings.TrimSpace(e.Details["InnerErrorMessageText"]); t != "" {
		e.Message = t
	}
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
		tok, err := d.RawToken()
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
			return skip(d)
		}
		return payload(d, c)
	})
	return m, err
}

// The response is read with RawToken, not Token: elements are matched by
// local name only, so the namespace bookkeeping and the re-boxing of every
// element token that Token does (a quarter of the allocations of a FindItem
// page) buy nothing here. RawToken does not check that end tags match
// their start tags; the helpers below track depth themselves, so a
// malformed document ends in an error or a partial result, never a panic.

// skip consumes the element whose start was just read, through its end.
func skip(d *xml.Decoder) error {
	depth := 0
	for {
		tok, err := d.RawToken()
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			if depth == 0 {
				return nil
			}
			depth--
		}
	}
}

// eachChild calls fn for each child element of the element whose start
// was just read; fn must consume the child through its end. It returns at
// the parent's end element.
func eachChild(d *xml.Decoder, fn func(xml.StartElement) error) error {
	for {
		tok, err := d.RawToken()
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
		tok, err := d.RawToken()
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
			return skip(d)
		}
		s, err := readText(d)
		if n := attr(c, "Name"); n != "" {
			v[n] = s
		}
		return err
	})
	return v, err
}

func parseFault(d *xml.Decoder, _ xml.StartElement, op string) (*Error, error) {
	var faultCode, faultString, detailCode, detailMsg string
	var details map[string]string
	err := eachChild(d, func(c xml.StartElement) error {
		var err error
		switch c.Name.Local {
		case "faultcode":
			faultCode, err = readText(d)
		case "faultstring":
			faultString, err = readText(d)
		case "detail":
			err = eachChild(d, func(c xml.StartElement) error {
				var err error
				switch c.Name.Local {
				case "ResponseCode":
					detailCode, err = readText(d)
				case "Message":
					detailMsg, err = readText(d)
				case "MessageXml":
					details, err = readValues(d)
				default:
					err = skip(d)
				}
				return err
			})
		default:
			err = skip(d)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	code := detailCode
	if code == "" {
		code = faultCode
		if i := strings.LastIndexByte(code, ':'); i >= 0 {
			code = code[i+1:]
		}
	}
	msg := faultString
	if msg == "" {
		msg = detailMsg
	}
	e := &Error{Op: op, Code: ResponseCode(code), Message: msg, Fault: true}
	if len(details) > 0 {
		e.Details = details
		unwrapInner(e)
		e.BackOff = backOff(details)
	}
	return e, nil
}

// Numbers, booleans and times are converted leniently: one odd value
// leaves that field zero rather than failing a whole page.

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
			return skip(d)
		case "ParentFolderId":
			it.ParentFolderID = FolderID{ID: attr(c, "Id"), ChangeKey: attr(c, "ChangeKey")}
			return skip(d)
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
			return skip(d)
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
			return skip(d)
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
				err = skip(d)
			}
			return err
		})
		fn(m)
		return err
	})
}

func decodeFolders(d *xml.Decoder, fn func(Folder)) error {
	return eachChild(d, func(c xml.StartElement) error {
		f := Folder{Kind: c.Name.Local}
		err := eachChild(d, func(p xml.StartElement) error {
			var (
				s   string
				err error
			)
			switch p.Name.Local {
			case "FolderId":
				f.ID = FolderID{ID: attr(p, "Id"), ChangeKey: attr(p, "ChangeKey")}
				return skip(d)
			case "ParentFolderId":
				f.ParentID = FolderID{ID: attr(p, "Id"), ChangeKey: attr(p, "ChangeKey")}
				return skip(d)
			case "FolderClass", "DisplayName", "TotalCount", "ChildFolderCount", "UnreadCount":
				if s, err = readText(d); err != nil {
					return err
				}
			default:
				return skip(d)
			}
			switch p.Name.Local {
			case "FolderClass":
				f.FolderClass = s
			case "DisplayName":
				f.DisplayName = s
			case "TotalCount":
				f.TotalCount = int(parseInt(s))
			case "ChildFolderCount":
				f.ChildFolderCount = int(parseInt(s))
			case "UnreadCount":
				f.UnreadCount = int(parseInt(s))
			}
			return nil
		})
		if err != nil {
			return err
		}
		fn(f)
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
