package graphtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxChunk is the largest upload PUT the server takes (Graph's 4 MB).
const maxChunk = 4 << 20

// maxAttachment is the largest file an upload session takes (150 MB).
const maxAttachment = 150 << 20

type uploadSession struct {
	id, token   string
	mailbox     string // lower-case address
	messageID   string // immutable id
	restID      string // the message's REST id when the session was made
	name, ctype string
	inline      bool
	contentID   string
	size        int64
	data        []byte
	expires     time.Time
}

func (s *Server) createUploadSession(x *exchange, msg *message) {
	var in struct {
		AttachmentItem struct {
			AttachmentType string `json:"attachmentType"`
			Name           string `json:"name"`
			Size           int64  `json:"size"`
			ContentType    string `json:"contentType"`
			IsInline       bool   `json:"isInline"`
			ContentID      string `json:"contentId"`
		} `json:"AttachmentItem"`
	}
	if json.Unmarshal(x.body, &in) != nil || in.AttachmentItem.Name == "" || !strings.EqualFold(in.AttachmentItem.AttachmentType, "file") {
		x.error(http.StatusBadRequest, "ErrorInvalidRequest", "AttachmentItem with attachmentType file, name and size is required.")
		return
	}
	ai := in.AttachmentItem
	if ai.Size <= 0 || ai.Size > maxAttachment {
		x.error(http.StatusBadRequest, "ErrorAttachmentSizeLimitExceeded", "The attachment size must be between 1 byte and 150 MB.")
		return
	}
	us := &uploadSession{id: newID("AAMkADAx", 27), token: strings.TrimRight(newID("eyJ0eXAiOiJKV1Qi", 48), "="), mailbox: strings.ToLower(x.mb.addr),
		messageID: msg.immID, restID: msg.restID, name: ai.Name, ctype: ai.ContentType, inline: ai.IsInline, contentID: ai.ContentID,
		size: ai.Size, expires: time.Now().Add(time.Hour).UTC()}
	if us.ctype == "" {
		us.ctype = "application/octet-stream"
	}
	s.sessions[us.id] = us
	var w jsonWriter
	w.open()
	w.field("@odata.context", s.srv.URL+"/v1.0/$metadata#microsoft.graph.uploadSession")
	w.field("uploadUrl", s.uploadBase+us.path()+"?authtoken="+url.QueryEscape(us.token))
	w.field("expirationDateTime", us.expires.Format("2006-01-02T15:04:05.0000000Z"))
	w.field("nextExpectedRanges", []string{"0-"})
	w.close()
	x.writeJSON(http.StatusCreated, w.b.Bytes())
}

func (us *uploadSession) path() string {
	return "/api/v2.0/Users('" + url.PathEscape(us.mailbox) + "')/Messages('" + url.PathEscape(us.restID) + "')/AttachmentSessions('" + url.PathEscape(us.id) + "')"
}

// serveUpload answers PUT, GET and DELETE on an upload session's URL. It needs no bearer
// token (the URL's authtoken authorises it) and counts any Authorization header sent.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request, rec *Request) {
	if r.Header.Get("Authorization") != "" {
		s.mu.Lock()
		s.uploadAuth++
		s.mu.Unlock()
	}
	i := strings.LastIndex(r.URL.Path, "AttachmentSessions('")
	var us *uploadSession
	if i >= 0 {
		id := strings.TrimSuffix(r.URL.Path[i+len("AttachmentSessions('"):], "')")
		s.mu.Lock()
		us = s.sessions[id]
		s.mu.Unlock()
	}
	if us == nil {
		writeError(w, r, http.StatusNotFound, "ErrorItemNotFound", "The upload session was not found.")
		return
	}
	if r.URL.Query().Get("authtoken") != us.token {
		writeError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "The upload session's authtoken is missing or invalid.")
		return
	}
	rec.Mailbox = us.mailbox
	s.mu.Lock()
	s.inflight[us.mailbox]++
	if n := s.inflight[us.mailbox]; n > s.maxInflight[us.mailbox] {
		s.maxInflight[us.mailbox] = n
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight[us.mailbox]--
		s.mu.Unlock()
	}()
	switch r.Method {
	case http.MethodGet:
		s.mu.Lock()
		b := s.sessionStatus(us)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	case http.MethodDelete:
		s.mu.Lock()
		delete(s.sessions, us.id)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPut:
		s.putChunk(w, r, us)
	default:
		writeError(w, r, http.StatusMethodNotAllowed, "ErrorInvalidRequest", "Use PUT, GET or DELETE on an upload session.")
	}
}

// sessionStatus renders the session as the PUT answers do (ExpirationDateTime with a
// capital E, as Microsoft's example shows). Call with s.mu held.
func (s *Server) sessionStatus(us *uploadSession) []byte {
	var jw jsonWriter
	jw.open()
	jw.field("@odata.context", s.uploadBase+"/api/v2.0/$metadata#Users('"+url.PathEscape(us.mailbox)+"')/Messages('"+url.PathEscape(us.restID)+"')/AttachmentSessions/$entity")
	jw.field("ExpirationDateTime", us.expires.Format("2006-01-02T15:04:05.0000000Z"))
	jw.field("nextExpectedRanges", []string{strconv.Itoa(len(us.data))})
	jw.close()
	return jw.b.Bytes()
}

func parseContentRange(v string) (start, end, total int64, ok bool) {
	v, found := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, tot, found := strings.Cut(v, "/")
	if !found {
		return 0, 0, 0, false
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	start, err1 = strconv.ParseInt(a, 10, 64)
	end, err2 = strconv.ParseInt(b, 10, 64)
	total, err3 = strconv.ParseInt(tot, 10, 64)
	return start, end, total, err1 == nil && err2 == nil && err3 == nil && start >= 0 && end >= start
}

func (s *Server) putChunk(w http.ResponseWriter, r *http.Request, us *uploadSession) {
	start, end, total, ok := parseContentRange(r.Header.Get("Content-Range"))
	if !ok || total != us.size || end >= total {
		writeError(w, r, http.StatusBadRequest, "ErrorInvalidRequest", "Content-Range must be 'bytes start-end/total' with the session's total size.")
		return
	}
	if end-start+1 > maxChunk {
		writeError(w, r, http.StatusRequestEntityTooLarge, "ErrorRequestEntityTooLarge", "An upload chunk must be at most 4 MB.")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxChunk+1))
	if err != nil {
		return
	}
	if int64(len(body)) != end-start+1 {
		writeError(w, r, http.StatusBadRequest, "ErrorInvalidRequest", fmt.Sprintf("The body has %d bytes; Content-Range announces %d.", len(body), end-start+1))
		return
	}
	s.mu.Lock()
	if start != int64(len(us.data)) {
		b := s.sessionStatus(us)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		w.Write(b)
		return
	}
	if s.cutUploads > 0 {
		s.cutUploads--
		us.data = append(us.data, body[:len(body)/2]...)
		s.mu.Unlock()
		panic(http.ErrAbortHandler) // drops the connection, as a network failure would
	}
	us.data = append(us.data, body...)
	if int64(len(us.data)) < us.size {
		b := s.sessionStatus(us)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
		return
	}
	delete(s.sessions, us.id)
	var loc string
	if mb := s.mailboxes[us.mailbox]; mb != nil {
		if msg := mb.messages[us.messageID]; msg != nil {
			a := &attachment{id: newID("AAMkAGF0", 30), name: us.name, contentType: us.ctype, inline: us.inline,
				contentID: us.contentID, data: us.data, modified: time.Now().UTC()}
			msg.attachments = append(msg.attachments, a)
			mb.touch(msg)
			loc = s.uploadBase + "/api/v2.0/Users('" + url.PathEscape(us.mailbox) + "')/Messages('" + url.PathEscape(us.restID) + "')/Attachments('" + url.PathEscape(a.id) + "')"
		}
	}
	s.mu.Unlock()
	if loc == "" {
		writeError(w, r, http.StatusNotFound, "ErrorItemNotFound", "The message of the upload session no longer exists.")
		return
	}
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusCreated)
}
