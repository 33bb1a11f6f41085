package graphtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

func (s *Server) route(x *exchange) {
	segs, m := x.segs, x.r.Method
	n := len(segs)
	at := func(i int, v string) bool { return n > i && segs[i] == v }
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case n == 1 && at(0, "mailFolders") && m == http.MethodGet:
		s.listFolders(x, x.mb.wellKnown["msgfolderroot"])
	case n == 1 && at(0, "mailFolders") && m == http.MethodPost:
		s.createFolder(x, x.mb.wellKnown["msgfolderroot"])
	case n == 2 && at(0, "mailFolders") && at(1, "delta") && m == http.MethodGet:
		s.folderDelta(x)
	case n >= 2 && at(0, "mailFolders"):
		f, ok := x.mb.folderID(segs[1])
		if !ok {
			x.error(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
			return
		}
		switch {
		case n == 2 && m == http.MethodGet:
			if x.requirePerm("Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic") {
				var w jsonWriter
				s.writeFolder(&w, x.mb, x.mb.folders[f], s.context(x, "/mailFolders/$entity"))
				x.writeJSON(http.StatusOK, w.b.Bytes())
			}
		case n == 3 && at(2, "childFolders") && m == http.MethodGet:
			s.listFolders(x, f)
		case n == 3 && at(2, "childFolders") && m == http.MethodPost:
			s.createFolder(x, f)
		case n == 3 && at(2, "messages") && m == http.MethodGet:
			s.listMessages(x, f, "/mailFolders('"+segs[1]+"')/messages")
		case n == 4 && at(2, "messages") && at(3, "delta") && m == http.MethodGet:
			s.messageDelta(x, f)
		default:
			x.notFound()
		}
	case n == 1 && at(0, "messages") && m == http.MethodGet:
		s.listMessages(x, "", "/messages")
	case n == 1 && at(0, "messages") && m == http.MethodPost:
		s.createDraft(x)
	case n == 1 && at(0, "sendMail") && m == http.MethodPost:
		s.sendMail(x)
	case n == 1 && at(0, "translateExchangeIds") && m == http.MethodPost:
		s.translate(x)
	case n >= 2 && at(0, "messages"):
		msg := x.mb.find(segs[1])
		if msg == nil {
			x.error(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
			return
		}
		s.routeMessage(x, msg)
	default:
		x.notFound()
	}
}

func (x *exchange) notFound() {
	x.error(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+strings.Join(x.segs, "/")+"'.")
}

func (s *Server) routeMessage(x *exchange, msg *message) {
	segs, m := x.segs, x.r.Method
	n := len(segs)
	read := []string{"Mail.Read", "Mail.ReadWrite"}
	switch {
	case n == 2 && m == http.MethodGet:
		if x.requirePerm(read...) {
			var w jsonWriter
			s.writeMessage(&w, x.mb, msg, selectSet(x.r), x.immutable(), s.context(x, "/messages/$entity"))
			x.writeJSON(http.StatusOK, w.b.Bytes())
		}
	case n == 2 && m == http.MethodPatch:
		if x.requirePerm("Mail.ReadWrite") {
			s.patchMessage(x, msg)
		}
	case n == 2 && m == http.MethodDelete:
		if x.requirePerm("Mail.ReadWrite") {
			x.mb.moveOut(msg)
			delete(x.mb.messages, msg.immID)
			x.w.WriteHeader(http.StatusNoContent)
		}
	case n == 3 && segs[2] == "$value" && m == http.MethodGet:
		if x.requirePerm(read...) {
			x.w.Header().Set("Content-Type", "text/plain")
			x.w.WriteHeader(http.StatusOK)
			x.w.Write(msg.mimeBytes())
		}
	case n == 3 && (segs[2] == "move" || segs[2] == "copy") && m == http.MethodPost:
		if x.requirePerm("Mail.ReadWrite") {
			s.moveCopy(x, msg, segs[2] == "move")
		}
	case n == 3 && segs[2] == "send" && m == http.MethodPost:
		if x.requirePerm("Mail.Send") {
			s.sendDraft(x, msg)
		}
	case n == 3 && segs[2] == "attachments" && m == http.MethodGet:
		if x.requirePerm(read...) {
			var w jsonWriter
			w.open()
			w.field("@odata.context", s.context(x, "/messages('"+msg.id(x.immutable())+"')/attachments"))
			w.key("value")
			w.b.WriteByte('[')
			for i, a := range msg.attachments {
				if i > 0 {
					w.b.WriteByte(',')
				}
				var aw jsonWriter
				writeAttachment(&aw, a, x.r.URL.Query().Get("$select") == "", "")
				w.b.Write(aw.b.Bytes())
			}
			w.b.WriteByte(']')
			w.close()
			x.writeJSON(http.StatusOK, w.b.Bytes())
		}
	case n == 3 && segs[2] == "attachments" && m == http.MethodPost:
		if x.requirePerm("Mail.ReadWrite") {
			s.addAttachment(x, msg)
		}
	case n == 4 && segs[2] == "attachments" && segs[3] == "createUploadSession" && m == http.MethodPost:
		if x.requirePerm("Mail.ReadWrite") {
			s.createUploadSession(x, msg)
		}
	case (n == 4 || n == 5) && segs[2] == "attachments" && m == http.MethodGet:
		if !x.requirePerm(read...) {
			return
		}
		var a *attachment
		for _, c := range msg.attachments {
			if c.id == segs[3] {
				a = c
			}
		}
		if a == nil {
			x.error(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
			return
		}
		if n == 5 && segs[4] == "$value" {
			x.w.Header().Set("Content-Type", a.contentType)
			x.w.WriteHeader(http.StatusOK)
			x.w.Write(a.data)
			return
		}
		var w jsonWriter
		writeAttachment(&w, a, true, s.context(x, "/messages('"+msg.id(x.immutable())+"')/attachments/$entity"))
		x.writeJSON(http.StatusOK, w.b.Bytes())
	default:
		x.notFound()
	}
}

func selectSet(r *http.Request) map[string]bool {
	v := r.URL.Query().Get("$select")
	if v == "" {
		return nil
	}
	set := map[string]bool{}
	for _, f := range strings.Split(v, ",") {
		set[strings.ToLower(strings.TrimSpace(f))] = true
	}
	return set
}

// top reads $top (default def, at most 1000) and $skip.
func (x *exchange) paging(def int) (top, skip int, ok bool) {
	q := x.r.URL.Query()
	top, skip = def, 0
	if v := q.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			x.error(http.StatusBadRequest, "ErrorInvalidUrlQuery", "The value of $top must be between 1 and 1000.")
			return 0, 0, false
		}
		top = n
	}
	if v := q.Get("$skip"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			x.error(http.StatusBadRequest, "ErrorInvalidUrlQuery", "The value of $skip is not valid.")
			return 0, 0, false
		}
		skip = n
	}
	return top, skip, true
}

// nextLink returns the current URL with $skip advanced, under the link base.
func (s *Server) nextLink(x *exchange, skip int) string {
	q := x.r.URL.Query()
	q.Set("$skip", strconv.Itoa(skip))
	return s.linkBase + x.r.URL.EscapedPath() + "?" + q.Encode()
}

func (s *Server) listFolders(x *exchange, parent string) {
	if !x.requirePerm("Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic") {
		return
	}
	top, skip, ok := x.paging(s.pageSize)
	if !ok {
		return
	}
	hidden := x.r.URL.Query().Get("includeHiddenFolders") == "true"
	var fs []*folder
	for _, f := range x.mb.folders {
		if f.parent == parent && (hidden || !f.hidden) {
			fs = append(fs, f)
		}
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].name < fs[j].name })
	var w jsonWriter
	w.open()
	w.field("@odata.context", s.context(x, "/mailFolders"))
	if skip+top < len(fs) {
		w.field("@odata.nextLink", s.nextLink(x, skip+top))
	}
	w.key("value")
	w.b.WriteByte('[')
	for i := skip; i < len(fs) && i < skip+top; i++ {
		if i > skip {
			w.b.WriteByte(',')
		}
		var fw jsonWriter
		s.writeFolder(&fw, x.mb, fs[i], "")
		w.b.Write(fw.b.Bytes())
	}
	w.b.WriteByte(']')
	w.close()
	x.writeJSON(http.StatusOK, w.b.Bytes())
}

func (s *Server) createFolder(x *exchange, parent string) {
	if !x.requirePerm("Mail.ReadWrite") {
		return
	}
	var in struct {
		DisplayName string `json:"displayName"`
		IsHidden    bool   `json:"isHidden"`
	}
	if json.Unmarshal(x.body, &in) != nil || strings.TrimSpace(in.DisplayName) == "" {
		x.error(http.StatusBadRequest, "ErrorInvalidRequest", "The request is invalid: displayName is required.")
		return
	}
	for _, f := range x.mb.folders {
		if f.parent == parent && strings.EqualFold(f.name, in.DisplayName) {
			x.error(http.StatusConflict, "ErrorFolderExists", "A folder with the specified name already exists.")
			return
		}
	}
	f := x.mb.addFolder(parent, in.DisplayName)
	f.hidden = in.IsHidden
	var w jsonWriter
	s.writeFolder(&w, x.mb, f, s.context(x, "/mailFolders/$entity"))
	x.writeJSON(http.StatusCreated, w.b.Bytes())
}

// filter is a parsed $filter: conditions joined by "and".
type filter []func(*message) bool

func parseFilter(v string) (filter, bool) {
	if strings.TrimSpace(v) == "" {
		return nil, true
	}
	var f filter
	for _, cond := range strings.Split(v, " and ") {
		parts := strings.Fields(cond)
		if len(parts) != 3 {
			return nil, false
		}
		field, op, val := parts[0], parts[1], parts[2]
		switch field {
		case "isRead", "hasAttachments":
			if op != "eq" || (val != "true" && val != "false") {
				return nil, false
			}
			want := val == "true"
			if field == "isRead" {
				f = append(f, func(m *message) bool { return m.isRead == want })
			} else {
				f = append(f, func(m *message) bool { return (len(m.attachments) > 0) == want })
			}
		case "receivedDateTime":
			t, err := time.Parse(time.RFC3339, val)
			if err != nil {
				return nil, false
			}
			switch op {
			case "ge":
				f = append(f, func(m *message) bool { return !m.received.Before(t) })
			case "gt":
				f = append(f, func(m *message) bool { return m.received.After(t) })
			case "le":
				f = append(f, func(m *message) bool { return !m.received.After(t) })
			case "lt":
				f = append(f, func(m *message) bool { return m.received.Before(t) })
			default:
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return f, true
}

func (f filter) match(m *message) bool {
	for _, c := range f {
		if !c(m) {
			return false
		}
	}
	return true
}

func (s *Server) listMessages(x *exchange, folderID, ctxPath string) {
	if !x.requirePerm("Mail.Read", "Mail.ReadWrite") {
		return
	}
	top, skip, ok := x.paging(s.pageSize)
	if !ok {
		return
	}
	q := x.r.URL.Query()
	flt, ok := parseFilter(q.Get("$filter"))
	if !ok {
		x.error(http.StatusBadRequest, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.")
		return
	}
	var msgs []*message
	for _, m := range x.mb.inFolder(folderID) {
		if flt.match(m) {
			msgs = append(msgs, m)
		}
	}
	switch strings.TrimSpace(q.Get("$orderby")) {
	case "", "receivedDateTime desc", "receivedDateTime DESC":
	case "receivedDateTime", "receivedDateTime asc":
		sort.SliceStable(msgs, func(i, j int) bool { return msgs[i].received.Before(msgs[j].received) })
	case "subject", "subject asc":
		sort.SliceStable(msgs, func(i, j int) bool { return msgs[i].subject < msgs[j].subject })
	default:
		x.error(http.StatusBadRequest, "ErrorInvalidProperty", "The property used in $orderby is not supported.")
		return
	}
	sel := selectSet(x.r)
	ctx := s.context(x, ctxPath)
	if v := q.Get("$select"); v != "" {
		ctx += "(" + v + ")"
	}
	var w jsonWriter
	w.open()
	w.field("@odata.context", ctx)
	if skip+top < len(msgs) {
		w.field("@odata.nextLink", s.nextLink(x, skip+top))
	}
	w.key("value")
	w.b.WriteByte('[')
	for i := skip; i < len(msgs) && i < skip+top; i++ {
		if i > skip {
			w.b.WriteByte(',')
		}
		var mw jsonWriter
		s.writeMessage(&mw, x.mb, msgs[i], sel, x.immutable(), "")
		w.b.Write(mw.b.Bytes())
	}
	w.b.WriteByte(']')
	w.close()
	x.writeJSON(http.StatusOK, w.b.Bytes())
}

// deltaState is what a skiptoken or deltatoken carries: the round's window and position.
type deltaState struct {
	since, upto int64
	offset      int
}

func (d deltaState) token() string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d.%d.%d", d.since, d.upto, d.offset))
}

func parseDeltaToken(t string) (deltaState, bool) {
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil {
		return deltaState{}, false
	}
	var d deltaState
	if _, err := fmt.Sscanf(string(b), "%d.%d.%d", &d.since, &d.upto, &d.offset); err != nil {
		return deltaState{}, false
	}
	return d, true
}

// deltaWindow reads the round's state from $skiptoken or $deltatoken; a fresh request
// starts a round over everything.
func (s *Server) deltaWindow(x *exchange) (deltaState, bool) {
	q := x.r.URL.Query()
	if t := q.Get("$skiptoken"); t != "" {
		d, ok := parseDeltaToken(t)
		if !ok || d.upto > x.mb.seq {
			x.error(http.StatusBadRequest, "ErrorInvalidUrlQuery", "The skip token is invalid.")
			return d, false
		}
		return d, true
	}
	if t := q.Get("$deltatoken"); t != "" {
		d, ok := parseDeltaToken(t)
		if !ok || d.upto > x.mb.seq {
			x.error(http.StatusGone, "SyncStateNotFound", "The sync state is invalid or expired; start a new synchronization.")
			return d, false
		}
		return deltaState{since: d.upto, upto: x.mb.seq}, true
	}
	return deltaState{since: 0, upto: x.mb.seq}, true
}

func (x *exchange) maxPageSize(def int) int {
	for _, p := range strings.Split(x.r.Header.Get("Prefer"), ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(p), "odata.maxpagesize="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return n
			}
		}
	}
	return def
}

// deltaLinks writes @odata.nextLink or @odata.deltaLink for a delta page.
func (s *Server) deltaLinks(w *jsonWriter, x *exchange, d deltaState, end, total int) {
	// Graph's delta links keep the OData keys literal: ...delta?$skiptoken=... / ?$deltatoken=...
	q := ""
	if v := x.r.URL.Query().Get("$select"); v != "" {
		q = "$select=" + url.QueryEscape(v) + "&"
	}
	path := x.r.URL.EscapedPath()
	if end < total {
		w.field("@odata.nextLink", s.linkBase+path+"?"+q+"$skiptoken="+deltaState{since: d.since, upto: d.upto, offset: end}.token())
		return
	}
	w.field("@odata.deltaLink", s.linkBase+path+"?"+q+"$deltatoken="+deltaState{since: d.upto, upto: d.upto}.token())
}

func (s *Server) messageDelta(x *exchange, folderID string) {
	if !x.requirePerm("Mail.Read", "Mail.ReadWrite") {
		return
	}
	d, ok := s.deltaWindow(x)
	if !ok {
		return
	}
	type entry struct {
		seq  int64
		msg  *message
		tomb *tombstone
	}
	var all []entry
	for _, m := range x.mb.messages {
		if m.folder == folderID && m.seq > d.since && m.seq <= d.upto {
			all = append(all, entry{seq: m.seq, msg: m})
		}
	}
	if d.since > 0 {
		for i := range x.mb.tombs {
			t := &x.mb.tombs[i]
			if t.folder == folderID && t.seq > d.since && t.seq <= d.upto {
				all = append(all, entry{seq: t.seq, tomb: t})
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].seq < all[j].seq })
	size := x.maxPageSize(s.pageSize)
	end := min(d.offset+size, len(all))
	sel := selectSet(x.r)
	var w jsonWriter
	w.open()
	w.field("@odata.context", s.context(x, "/mailFolders('"+folderID+"')/messages/delta"))
	s.deltaLinks(&w, x, d, end, len(all))
	w.key("value")
	w.b.WriteByte('[')
	for i := min(d.offset, len(all)); i < end; i++ {
		if i > d.offset {
			w.b.WriteByte(',')
		}
		e := all[i]
		if e.tomb != nil {
			id := e.tomb.restID
			if x.immutable() {
				id = e.tomb.immID
			}
			var tw jsonWriter
			tw.open()
			tw.field("@odata.type", "#microsoft.graph.message")
			tw.field("id", id)
			tw.field("@removed", map[string]string{"reason": "deleted"})
			tw.close()
			w.b.Write(tw.b.Bytes())
			continue
		}
		var mw jsonWriter
		s.writeMessage(&mw, x.mb, e.msg, sel, x.immutable(), "")
		w.b.Write(mw.b.Bytes())
	}
	w.b.WriteByte(']')
	w.close()
	x.writeJSON(http.StatusOK, w.b.Bytes())
}

func (s *Server) folderDelta(x *exchange) {
	if !x.requirePerm("Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic") {
		return
	}
	d, ok := s.deltaWindow(x)
	if !ok {
		return
	}
	var fs []*folder
	for _, f := range x.mb.folders {
		if f.parent != "" && f.seq > d.since && f.seq <= d.upto {
			fs = append(fs, f)
		}
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].seq < fs[j].seq })
	size := x.maxPageSize(s.pageSize)
	end := min(d.offset+size, len(fs))
	var w jsonWriter
	w.open()
	w.field("@odata.context", s.context(x, "/mailFolders/delta"))
	s.deltaLinks(&w, x, d, end, len(fs))
	w.key("value")
	w.b.WriteByte('[')
	for i := min(d.offset, len(fs)); i < end; i++ {
		if i > d.offset {
			w.b.WriteByte(',')
		}
		var fw jsonWriter
		s.writeFolder(&fw, x.mb, fs[i], "")
		w.b.Write(fw.b.Bytes())
	}
	w.b.WriteByte(']')
	w.close()
	x.writeJSON(http.StatusOK, w.b.Bytes())
}

func (s *Server) patchMessage(x *exchange, msg *message) {
	var in map[string]json.RawMessage
	if json.Unmarshal(x.body, &in) != nil {
		x.error(http.StatusBadRequest, "ErrorInvalidRequest", "The request body is not valid JSON.")
		return
	}
	for k, v := range in {
		var err error
		switch k {
		case "isRead":
			err = json.Unmarshal(v, &msg.isRead)
		case "subject":
			err = json.Unmarshal(v, &msg.subject)
		case "importance":
			err = json.Unmarshal(v, &msg.importance)
		case "categories":
			err = json.Unmarshal(v, &msg.categories)
		case "flag":
			var fl struct {
				FlagStatus string `json:"flagStatus"`
			}
			if err = json.Unmarshal(v, &fl); err == nil {
				switch fl.FlagStatus {
				case "notFlagged", "flagged", "complete":
					msg.flag = fl.FlagStatus
				default:
					err = fmt.Errorf("bad flagStatus")
				}
			}
		default:
			err = fmt.Errorf("property %s cannot be updated", k)
		}
		if err != nil {
			x.error(http.StatusBadRequest, "ErrorInvalidProperty", "The property '"+k+"' is not valid: "+err.Error())
			return
		}
	}
	x.mb.touch(msg)
	var w jsonWriter
	s.writeMessage(&w, x.mb, msg, nil, x.immutable(), s.context(x, "/messages/$entity"))
	x.writeJSON(http.StatusOK, w.b.Bytes())
}

func (s *Server) moveCopy(x *exchange, msg *message, move bool) {
	var in struct {
		DestinationID string `json:"destinationId"`
	}
	if json.Unmarshal(x.body, &in) != nil || in.DestinationID == "" {
		x.error(http.StatusBadRequest, "ErrorInvalidRequest", "destinationId is required.")
		return
	}
	dest, ok := x.mb.folderID(in.DestinationID)
	if !ok {
		x.error(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	out := msg
	if move {
		x.mb.moveOut(msg)
		msg.folder = dest
		msg.restID = newID("AAMkADAw", 36) // a move changes the REST id, not the immutable one
		x.mb.touch(msg)
	} else {
		cp := *msg
		cp.immID, cp.restID, cp.folder = newID("AAkALgAA", 36), newID("AAMkADAw", 36), dest
		cp.attachments = append([]*attachment(nil), msg.attachments...)
		cp.seq = x.mb.next()
		x.mb.messages[cp.immID] = &cp
		out = &cp
	}
	var w jsonWriter
	s.writeMessage(&w, x.mb, out, nil, x.immutable(), s.context(x, "/messages/$entity"))
	x.writeJSON(http.StatusCreated, w.b.Bytes())
}

// jsonMessage is the part of Graph's message JSON the server reads on input.
type jsonMessage struct {
	Subject string `json:"subject"`
	Body    struct {
		ContentType string `json:"contentType"`
		Content     string `json:"content"`
	} `json:"body"`
	To          []jsonRecipient  `json:"toRecipients"`
	Cc          []jsonRecipient  `json:"ccRecipients"`
	Bcc         []jsonRecipient  `json:"bccRecipients"`
	Attachments []jsonAttachment `json:"attachments"`
}

type jsonRecipient struct {
	EmailAddress struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	} `json:"emailAddress"`
}

type jsonAttachment struct {
	ODataType    string `json:"@odata.type"`
	Name         string `json:"name"`
	ContentType  string `json:"contentType"`
	ContentBytes []byte `json:"contentBytes"`
	IsInline     bool   `json:"isInline"`
	ContentID    string `json:"contentId"`
}

func addrs(rs []jsonRecipient) []Address {
	var out []Address
	for _, r := range rs {
		out = append(out, Address{Name: r.EmailAddress.Name, Address: r.EmailAddress.Address})
	}
	return out
}

func addrStrings(as []Address) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Address)
	}
	return out
}

// fromMIME reads a base64 MIME body and its header.
func (x *exchange) fromMIME() ([]byte, *mail.Message, bool) {
	raw, err := decodeBase64(x.body)
	if err != nil {
		x.error(http.StatusBadRequest, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
		return nil, nil, false
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		x.error(http.StatusBadRequest, "ErrorMimeContentConversionFailed", "The MIME content could not be converted.")
		return nil, nil, false
	}
	return raw, m, true
}

func mimeAddrs(h mail.Header, key string) []Address {
	list, _ := h.AddressList(key)
	var out []Address
	for _, a := range list {
		out = append(out, Address{Name: a.Name, Address: a.Address})
	}
	return out
}

func isMIMEBody(r *http.Request) bool {
	return strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "text/plain")
}

func (s *Server) createDraft(x *exchange) {
	if !x.requirePerm("Mail.ReadWrite") {
		return
	}
	drafts := x.mb.wellKnown["drafts"]
	var msg *message
	if isMIMEBody(x.r) {
		raw, mm, ok := x.fromMIME()
		if !ok {
			return
		}
		msg = x.mb.add(drafts, Message{Subject: mm.Header.Get("Subject"), To: mimeAddrs(mm.Header, "To"),
			Cc: mimeAddrs(mm.Header, "Cc"), InternetMessageID: mm.Header.Get("Message-Id"), MIME: raw})
		msg.bcc = mimeAddrs(mm.Header, "Bcc")
		if f := mimeAddrs(mm.Header, "From"); len(f) > 0 {
			msg.from = f[0]
		}
	} else {
		var in jsonMessage
		if json.Unmarshal(x.body, &in) != nil {
			x.error(http.StatusBadRequest, "ErrorInvalidRequest", "The request body is not valid JSON.")
			return
		}
		msg = x.mb.add(drafts, Message{Subject: in.Subject, To: addrs(in.To), Cc: addrs(in.Cc), Body: in.Body.Content})
		msg.bcc = addrs(in.Bcc)
		for _, a := range in.Attachments {
			msg.attachments = append(msg.attachments, &attachment{id: newID("AAMkAGF0", 30), name: a.Name, contentType: a.ContentType,
				inline: a.IsInline, contentID: a.ContentID, data: a.ContentBytes, modified: time.Now().UTC()})
		}
	}
	if msg.from.Address == "" {
		msg.from = Address{Address: x.mb.addr}
	}
	msg.isDraft, msg.isRead = true, true
	msg.received = time.Now().UTC().Truncate(time.Second)
	var w jsonWriter
	s.writeMessage(&w, x.mb, msg, nil, x.immutable(), s.context(x, "/messages/$entity"))
	x.writeJSON(http.StatusCreated, w.b.Bytes())
}

func sentAttachments(as []*attachment) []SentAttachment {
	var out []SentAttachment
	for _, a := range as {
		out = append(out, SentAttachment{Name: a.name, ContentType: a.contentType, Inline: a.inline, ContentID: a.contentID, Data: a.data})
	}
	return out
}

func (s *Server) sendMail(x *exchange) {
	if !x.requirePerm("Mail.Send") {
		return
	}
	sentItems := x.mb.wellKnown["sentitems"]
	if isMIMEBody(x.r) {
		raw, mm, ok := x.fromMIME()
		if !ok {
			return
		}
		to := append(append(mimeAddrs(mm.Header, "To"), mimeAddrs(mm.Header, "Cc")...), mimeAddrs(mm.Header, "Bcc")...)
		if len(to) == 0 {
			x.error(http.StatusBadRequest, "ErrorInvalidRecipients", "At least one recipient isn't valid., A message can't be sent because it contains no recipients.")
			return
		}
		s.sent = append(s.sent, Sent{From: x.mb.addr, Via: "sendMail MIME", Subject: mm.Header.Get("Subject"), To: addrStrings(to), MIME: raw})
		x.mb.add(sentItems, Message{Subject: mm.Header.Get("Subject"), From: Address{Address: x.mb.addr}, To: mimeAddrs(mm.Header, "To"), MIME: raw, IsRead: true})
		x.w.WriteHeader(http.StatusAccepted)
		return
	}
	var in struct {
		Message         *jsonMessage `json:"message"`
		SaveToSentItems *bool        `json:"saveToSentItems"`
	}
	if json.Unmarshal(x.body, &in) != nil || in.Message == nil {
		x.error(http.StatusBadRequest, "ErrorInvalidRequest", "The message is required.")
		return
	}
	to := append(append(addrs(in.Message.To), addrs(in.Message.Cc)...), addrs(in.Message.Bcc)...)
	if len(to) == 0 {
		x.error(http.StatusBadRequest, "ErrorInvalidRecipients", "At least one recipient isn't valid., A message can't be sent because it contains no recipients.")
		return
	}
	var atts []*attachment
	for _, a := range in.Message.Attachments {
		atts = append(atts, &attachment{id: newID("AAMkAGF0", 30), name: a.Name, contentType: a.ContentType, inline: a.IsInline, contentID: a.ContentID, data: a.ContentBytes})
	}
	s.sent = append(s.sent, Sent{From: x.mb.addr, Via: "sendMail", Subject: in.Message.Subject, To: addrStrings(to), Attachments: sentAttachments(atts)})
	if in.SaveToSentItems == nil || *in.SaveToSentItems {
		m := x.mb.add(sentItems, Message{Subject: in.Message.Subject, From: Address{Address: x.mb.addr}, To: addrs(in.Message.To), Body: in.Message.Body.Content, IsRead: true})
		m.attachments = atts
	}
	x.w.WriteHeader(http.StatusAccepted)
}

func (s *Server) sendDraft(x *exchange, msg *message) {
	if !msg.isDraft {
		x.error(http.StatusBadRequest, "ErrorInvalidOperation", "Only draft messages can be sent.")
		return
	}
	to := append(append(append([]Address{}, msg.to...), msg.cc...), msg.bcc...)
	if len(to) == 0 {
		x.error(http.StatusBadRequest, "ErrorInvalidRecipients", "At least one recipient isn't valid., A message can't be sent because it contains no recipients.")
		return
	}
	s.sent = append(s.sent, Sent{From: x.mb.addr, Via: "draft", Subject: msg.subject, To: addrStrings(to), MIME: msg.mime, Attachments: sentAttachments(msg.attachments)})
	x.mb.moveOut(msg)
	msg.isDraft = false
	msg.folder = x.mb.wellKnown["sentitems"]
	x.mb.touch(msg)
	x.w.WriteHeader(http.StatusAccepted)
}

func (s *Server) addAttachment(x *exchange, msg *message) {
	var in jsonAttachment
	if json.Unmarshal(x.body, &in) != nil || in.Name == "" || in.ODataType != "#microsoft.graph.fileAttachment" {
		x.error(http.StatusBadRequest, "ErrorInvalidRequest", "A fileAttachment with a name and contentBytes is required.")
		return
	}
	a := &attachment{id: newID("AAMkAGF0", 30), name: in.Name, contentType: in.ContentType, inline: in.IsInline,
		contentID: in.ContentID, data: in.ContentBytes, modified: time.Now().UTC()}
	if a.contentType == "" {
		a.contentType = "application/octet-stream"
	}
	msg.attachments = append(msg.attachments, a)
	x.mb.touch(msg)
	var w jsonWriter
	writeAttachment(&w, a, false, s.context(x, "/messages('"+msg.id(x.immutable())+"')/attachments/$entity"))
	x.writeJSON(http.StatusCreated, w.b.Bytes())
}

func (s *Server) translate(x *exchange) {
	var in struct {
		InputIDs     []string `json:"inputIds"`
		SourceIDType string   `json:"sourceIdType"`
		TargetIDType string   `json:"targetIdType"`
	}
	if json.Unmarshal(x.body, &in) != nil || len(in.InputIDs) == 0 || len(in.InputIDs) > 1000 {
		x.error(http.StatusBadRequest, "ErrorInvalidRequest", "inputIds must hold 1 to 1000 ids.")
		return
	}
	known := map[string]bool{"ewsId": true, "restId": true, "restImmutableEntryId": true}
	if !known[in.SourceIDType] || !known[in.TargetIDType] {
		x.error(http.StatusBadRequest, "ErrorInvalidIdMalformed", "The id type is not supported by this server.")
		return
	}
	var w jsonWriter
	w.open()
	w.field("@odata.context", s.srv.URL+"/v1.0/$metadata#Collection(microsoft.graph.convertIdResult)")
	w.key("value")
	w.b.WriteByte('[')
	for i, id := range in.InputIDs {
		rest := id
		switch in.SourceIDType {
		case "ewsId":
			rest = restFromEWS(id)
		case "restImmutableEntryId":
			if m := x.mb.messages[id]; m != nil {
				rest = m.restID
			}
		}
		target := ""
		if m := x.mb.find(rest); m != nil {
			switch in.TargetIDType {
			case "restId":
				target = m.restID
			case "ewsId":
				target = ewsFromREST(m.restID)
			case "restImmutableEntryId":
				target = m.immID
			}
		}
		if i > 0 {
			w.b.WriteByte(',')
		}
		var iw jsonWriter
		iw.open()
		if target != "" {
			iw.field("targetId", target)
		}
		iw.field("sourceId", id)
		iw.close()
		w.b.Write(iw.b.Bytes())
	}
	w.b.WriteByte(']')
	w.close()
	x.writeJSON(http.StatusOK, w.b.Bytes())
}
