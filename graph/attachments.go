package graph

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/modernauth/mailauth"
)

// smallAttachment is the size under which an attachment goes in one POST (its base64 JSON
// stays under the 4 MB request limit); from it up to MaxAttachmentSize an upload session is
// used.
const smallAttachment = 3_000_000

// maxResumes caps how often one Upload call asks the session where to resume after a
// failed PUT.
const maxResumes = 3

// Attachments lists the message's attachments, without their content.
func (c *Client) Attachments(ctx context.Context, messageID string) ([]Attachment, error) {
	if messageID == "" {
		return nil, errors.New("graph: Attachments: the message id is empty")
	}
	var q query
	q.add("$select", "id,name,contentType,size,isInline,lastModifiedDateTime")
	return getPages[Attachment](ctx, c, "list attachments", c.path("/messages/"+seg(messageID)+"/attachments")+q.String())
}

// AttachmentContent returns the raw content of a file attachment ($value) as a stream. The
// caller must close it; until then it holds one of the mailbox's request slots.
func (c *Client) AttachmentContent(ctx context.Context, messageID, attachmentID string) (io.ReadCloser, error) {
	if messageID == "" || attachmentID == "" {
		return nil, errors.New("graph: AttachmentContent: the message and attachment ids must be set")
	}
	resp, err := c.do(ctx, &call{op: "get attachment content", method: http.MethodGet, accept: "*/*", stream: true,
		url: c.path("/messages/" + seg(messageID) + "/attachments/" + seg(attachmentID) + "/$value")})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// NewAttachment is a file to attach with [Client.AddAttachment].
type NewAttachment struct {
	Name        string      // file name; required
	ContentType string      // MIME type; empty lets Exchange guess
	IsInline    bool        // shown in the body (with ContentID)
	ContentID   string      // the cid: an HTML body refers to
	Content     io.ReaderAt // the bytes; required
	Size        int64       // the number of bytes of Content; at most MaxAttachmentSize
}

// AddAttachment attaches a file to a message (normally a draft): in one request under 3 MB,
// else through an upload session in chunks of Options.ChunkSize, resuming where the session
// says after a failed chunk. It returns the new attachment's id ("" when Exchange did not
// say).
func (c *Client) AddAttachment(ctx context.Context, messageID string, a *NewAttachment) (string, error) {
	if messageID == "" || a == nil || a.Name == "" || a.Content == nil {
		return "", errors.New("graph: AddAttachment: the message id, Name and Content must be set")
	}
	if a.Size < 0 || a.Size > MaxAttachmentSize {
		return "", fmt.Errorf("graph: AddAttachment: %s is %d bytes; Graph takes attachments up to %d bytes", a.Name, a.Size, MaxAttachmentSize)
	}
	if a.Size < smallAttachment {
		buf := make([]byte, a.Size)
		if err := readAt(a.Content, buf, 0); err != nil {
			return "", fmt.Errorf("graph: AddAttachment: reading %s: %w", a.Name, err)
		}
		body := map[string]any{"@odata.type": "#microsoft.graph.fileAttachment", "name": a.Name,
			"contentBytes": base64.StdEncoding.EncodeToString(buf), "isInline": a.IsInline}
		if a.ContentType != "" {
			body["contentType"] = a.ContentType
		}
		if a.ContentID != "" {
			body["contentId"] = a.ContentID
		}
		var out Attachment
		if err := c.sendJSON(ctx, "add attachment", http.MethodPost, c.path("/messages/"+seg(messageID)+"/attachments"), body, &out); err != nil {
			return "", err
		}
		return out.ID, nil
	}
	s, err := c.CreateUploadSession(ctx, messageID, &AttachmentItem{Name: a.Name, Size: a.Size, ContentType: a.ContentType, IsInline: a.IsInline, ContentID: a.ContentID})
	if err != nil {
		return "", err
	}
	return c.Upload(ctx, s, a.Content)
}

// AttachmentItem describes the file of an upload session.
type AttachmentItem struct {
	Name        string // required
	Size        int64  // required, at most MaxAttachmentSize
	ContentType string
	IsInline    bool
	ContentID   string
}

// UploadSession is an attachment upload in progress. It is plain data: persist it (as JSON)
// to resume an upload in another process with [Client.Upload].
//
// URL is pre-authorised (it carries its own token): treat it as a secret. The client sends
// it no Authorization header, only over https (http only to a loopback test server with
// InsecureAllowHTTP), and never logs it; String hides its query.
type UploadSession struct {
	URL                string    `json:"uploadUrl"`
	ExpirationDateTime time.Time `json:"expirationDateTime"`
	NextExpectedRanges []string  `json:"nextExpectedRanges"`
	// Size is the file's size, from the AttachmentItem.
	Size int64 `json:"size"`
}

// String describes the session without the secret part of its URL.
func (s *UploadSession) String() string {
	return fmt.Sprintf("graph.UploadSession{URL:%q Expires:%s Next:%v Size:%d}", redactQuery(s.URL), s.ExpirationDateTime.Format(time.RFC3339), s.NextExpectedRanges, s.Size)
}

// GoString is like String.
func (s *UploadSession) GoString() string { return s.String() }

// Offset returns where the next chunk starts: the start of the first of NextExpectedRanges
// ("0-", "2097152", "100-199"), or Size when none is left.
func (s *UploadSession) Offset() (int64, error) {
	if len(s.NextExpectedRanges) == 0 {
		return s.Size, nil
	}
	r := s.NextExpectedRanges[0]
	if i := strings.IndexByte(r, '-'); i >= 0 {
		r = r[:i]
	}
	n, err := strconv.ParseInt(strings.TrimSpace(r), 10, 64)
	if err != nil || n < 0 || n > s.Size {
		return 0, fmt.Errorf("graph: upload session: bad nextExpectedRanges %q", s.NextExpectedRanges)
	}
	return n, nil
}

// CreateUploadSession starts an upload session for a file attachment of the message
// (POST .../attachments/createUploadSession).
func (c *Client) CreateUploadSession(ctx context.Context, messageID string, item *AttachmentItem) (*UploadSession, error) {
	if messageID == "" || item == nil || item.Name == "" {
		return nil, errors.New("graph: CreateUploadSession: the message id and the item's Name must be set")
	}
	if item.Size <= 0 || item.Size > MaxAttachmentSize {
		return nil, fmt.Errorf("graph: CreateUploadSession: size %d is outside 1..%d bytes", item.Size, MaxAttachmentSize)
	}
	ai := map[string]any{"attachmentType": "file", "name": item.Name, "size": item.Size}
	if item.ContentType != "" {
		ai["contentType"] = item.ContentType
	}
	if item.IsInline {
		ai["isInline"] = true
	}
	if item.ContentID != "" {
		ai["contentId"] = item.ContentID
	}
	s := &UploadSession{}
	if err := c.sendJSON(ctx, "create upload session", http.MethodPost,
		c.path("/messages/"+seg(messageID)+"/attachments/createUploadSession"), map[string]any{"AttachmentItem": ai}, s); err != nil {
		return nil, err
	}
	s.Size = item.Size
	if err := c.checkUploadURL(s.URL); err != nil {
		return nil, err
	}
	return s, nil
}

// checkUploadURL allows https upload URLs anywhere (they carry their own authorisation and
// get no token) and http ones only on loopback with InsecureAllowHTTP.
func (c *Client) checkUploadURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return errors.New("graph: the upload session has no usable uploadUrl")
	}
	return c.checkPreauthorised(u, "upload")
}

// Upload sends the file r (of s.Size bytes) through the session, from s.Offset() on, in
// chunks of Options.ChunkSize, with no Authorization header. After each chunk s holds what
// the server expects next, so a failed Upload can be called again, in this process or
// another, to resume. After a failed chunk it asks the session where to resume, up to 3
// times. It returns the attachment id from the final response's Location ("" when absent).
func (c *Client) Upload(ctx context.Context, s *UploadSession, r io.ReaderAt) (string, error) {
	if s == nil || r == nil {
		return "", errors.New("graph: Upload: the session and the reader must be set")
	}
	if err := c.checkUploadURL(s.URL); err != nil {
		return "", err
	}
	buf := make([]byte, min(int64(c.chunk), max(s.Size, 1)))
	resumes := 0
	for {
		off, err := s.Offset()
		if err != nil {
			return "", err
		}
		if off >= s.Size {
			return "", errors.New("graph: Upload: the session expects no more bytes but did not confirm the attachment; create a new session")
		}
		n := min(int64(len(buf)), s.Size-off)
		if err := readAt(r, buf[:n], off); err != nil {
			return "", fmt.Errorf("graph: Upload: reading bytes %d-%d: %w", off, off+n-1, err)
		}
		k := &call{op: "upload attachment chunk", method: http.MethodPut, url: s.URL, plain: true, body: buf[:n],
			ctype:  "application/octet-stream",
			header: http.Header{"Content-Range": {fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, s.Size)}}}
		resp, err := c.do(ctx, k)
		if err != nil {
			if ctx.Err() != nil || resumes >= maxResumes || !resumable(err) {
				return "", err
			}
			resumes++
			if serr := c.UploadStatus(ctx, s); serr != nil {
				return "", errors.Join(err, serr)
			}
			continue
		}
		b, err := c.readAll(resp)
		if err != nil {
			return "", err
		}
		if resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusNoContent {
			s.NextExpectedRanges = nil
			return attachmentIDFrom(resp.Header.Get("Location")), nil
		}
		if err := s.update(b); err != nil {
			return "", err
		}
	}
}

// resumable reports whether asking the session where to resume may help.
func resumable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode >= 500 || e.StatusCode == http.StatusRequestedRangeNotSatisfiable || e.StatusCode == http.StatusTooManyRequests
	}
	return !errors.Is(err, mailauth.ErrInsecure)
}

// update reads an upload session answer into s.
func (s *UploadSession) update(b []byte) error {
	var st struct {
		ExpirationDateTime time.Time `json:"expirationDateTime"`
		NextExpectedRanges []string  `json:"nextExpectedRanges"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("graph: upload session: decoding the answer: %w", err)
	}
	if !st.ExpirationDateTime.IsZero() {
		s.ExpirationDateTime = st.ExpirationDateTime
	}
	s.NextExpectedRanges = st.NextExpectedRanges
	return nil
}

// UploadStatus asks the session (GET on its URL, without a token) which bytes it still
// expects and stores the answer in s.
func (c *Client) UploadStatus(ctx context.Context, s *UploadSession) error {
	if err := c.checkUploadURL(s.URL); err != nil {
		return err
	}
	resp, err := c.do(ctx, &call{op: "upload session status", method: http.MethodGet, url: s.URL, plain: true})
	if err != nil {
		return err
	}
	b, err := c.readAll(resp)
	if err != nil {
		return err
	}
	return s.update(b)
}

// CancelUpload deletes the session (DELETE on its URL, without a token).
func (c *Client) CancelUpload(ctx context.Context, s *UploadSession) error {
	if err := c.checkUploadURL(s.URL); err != nil {
		return err
	}
	return c.jsonCall(ctx, &call{op: "cancel upload session", method: http.MethodDelete, url: s.URL, plain: true}, nil)
}

// attachmentIDFrom takes the id out of a Location such as
// ".../Messages('AAMk...')/Attachments('AAMkAD...')".
func attachmentIDFrom(loc string) string {
	i := strings.LastIndex(loc, "Attachments('")
	if i < 0 {
		return ""
	}
	rest := loc[i+len("Attachments('"):]
	if j := strings.Index(rest, "')"); j >= 0 {
		id, err := url.PathUnescape(rest[:j])
		if err != nil {
			return rest[:j]
		}
		return id
	}
	return ""
}

// readAt fills buf from r at off; a short read is an error.
func readAt(r io.ReaderAt, buf []byte, off int64) error {
	n, err := r.ReadAt(buf, off)
	if n == len(buf) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}
