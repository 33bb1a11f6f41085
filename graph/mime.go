package graph

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
)

// extracted is an attachment taken out of a MIME message to be uploaded on its own.
type extracted struct {
	name        string
	contentType string
	inline      bool
	contentID   string
	data        []byte
}

// mimePart is one body part of a top-level multipart message, by byte offsets into the
// message: [start, end) runs from its delimiter line to the next delimiter line.
type mimePart struct {
	start, end int
	header     textproto.MIMEHeader
	body       []byte // the part's body, still transfer-encoded
}

// splitLarge takes attachments out of msg, largest first, until the rest base64-encodes to
// at most limit bytes. Everything else of the message stays byte for byte. It returns the
// reduced message and the attachments, decoded.
func splitLarge(msg []byte, limit int) ([]byte, []extracted, error) {
	hdrEnd, bodyStart := headerEnd(msg)
	if hdrEnd < 0 {
		return nil, nil, errors.New("graph: the MIME message has no header/body separator")
	}
	hdr, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(msg[:bodyStart]))).ReadMIMEHeader()
	if err != nil && len(hdr) == 0 {
		return nil, nil, fmt.Errorf("graph: reading the MIME header: %w", err)
	}
	mt, params, err := mime.ParseMediaType(hdr.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return nil, nil, fmt.Errorf("graph: the MIME message (%d bytes) is over Graph's 4 MB request limit and is not multipart, so no attachment can be moved to an upload session", len(msg))
	}
	parts := splitParts(msg, bodyStart, params["boundary"])
	var cands []int
	for i, p := range parts {
		if isAttachment(p.header) {
			cands = append(cands, i)
		}
	}
	slices.SortStableFunc(cands, func(a, b int) int { return (parts[b].end - parts[b].start) - (parts[a].end - parts[a].start) })
	size := len(msg)
	removed := map[int]bool{}
	for _, i := range cands {
		if base64.StdEncoding.EncodedLen(size) <= limit {
			break
		}
		removed[i] = true
		size -= parts[i].end - parts[i].start
	}
	if base64.StdEncoding.EncodedLen(size) > limit {
		return nil, nil, fmt.Errorf("graph: the MIME message is still %d bytes without its %d attachment(s), over Graph's 4 MB request limit", size, len(cands))
	}
	var out bytes.Buffer
	out.Grow(size)
	last := 0
	var atts []extracted
	for i, p := range parts {
		if !removed[i] {
			continue
		}
		out.Write(msg[last:p.start])
		last = p.end
		a, err := decodePart(p, len(atts)+1)
		if err != nil {
			return nil, nil, err
		}
		atts = append(atts, a)
	}
	out.Write(msg[last:])
	return out.Bytes(), atts, nil
}

// headerEnd returns the end of the header and the start of the body.
func headerEnd(b []byte) (int, int) {
	if bytes.HasPrefix(b, []byte("\r\n")) {
		return 0, 2
	}
	if bytes.HasPrefix(b, []byte("\n")) {
		return 0, 1
	}
	crlf := bytes.Index(b, []byte("\r\n\r\n"))
	lf := bytes.Index(b, []byte("\n\n"))
	switch {
	case crlf >= 0 && (lf < 0 || crlf < lf):
		return crlf, crlf + 4
	case lf >= 0:
		return lf, lf + 2
	}
	return -1, -1
}

// splitParts finds the body parts of a multipart body with the given boundary. A part
// runs from the line break before its delimiter line to the line break before the next
// delimiter, so removing it leaves the neighbours intact.
func splitParts(msg []byte, bodyStart int, boundary string) []mimePart {
	delim := []byte("--" + boundary)
	var lines []int // offsets of the line break before each delimiter line (or the line start)
	var closing = -1
	for i := bodyStart; i < len(msg); {
		j := bytes.IndexByte(msg[i:], '\n')
		end := len(msg)
		if j >= 0 {
			end = i + j + 1
		}
		line := bytes.TrimRight(msg[i:end], "\r\n")
		if bytes.HasPrefix(line, delim) {
			rest := bytes.TrimRight(line[len(delim):], " \t")
			if len(rest) == 0 || bytes.Equal(rest, []byte("--")) {
				at := i
				if at > bodyStart && msg[at-1] == '\n' {
					at--
					if at > bodyStart && msg[at-1] == '\r' {
						at--
					}
				}
				lines = append(lines, at)
				if len(rest) == 2 {
					closing = len(lines) - 1
					break
				}
			}
		}
		i = end
	}
	var parts []mimePart
	for k := 0; k+1 < len(lines); k++ {
		if closing >= 0 && k >= closing {
			break
		}
		start, end := lines[k], lines[k+1]
		// The part's own bytes start after its delimiter line.
		content := msg[start:end]
		nl := bytes.Index(content[min(len(content), 2):], []byte("\n"))
		if nl < 0 {
			continue
		}
		content = content[min(len(content), 2)+nl+1:]
		he, bs := headerEnd(content)
		var hdr textproto.MIMEHeader
		var body []byte
		if he < 0 {
			hdr = textproto.MIMEHeader{}
			body = content
		} else {
			hdr, _ = textproto.NewReader(bufio.NewReader(bytes.NewReader(content[:bs]))).ReadMIMEHeader()
			body = content[bs:]
		}
		parts = append(parts, mimePart{start: start, end: end, header: hdr, body: body})
	}
	return parts
}

// isAttachment reports whether a part is a leaf that can travel as a file attachment.
func isAttachment(h textproto.MIMEHeader) bool {
	mt, ctParams, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if strings.HasPrefix(mt, "multipart/") {
		return false
	}
	disp, dParams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	if disp == "attachment" {
		return true
	}
	if dParams["filename"] != "" || ctParams["name"] != "" {
		return true
	}
	return disp == "inline" && h.Get("Content-Id") != "" && !strings.HasPrefix(mt, "text/")
}

// decodePart decodes an attachment part's body and describes it.
func decodePart(p mimePart, n int) (extracted, error) {
	h := p.header
	mt, ctParams, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if mt == "" {
		mt = "application/octet-stream"
	}
	disp, dParams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	name := dParams["filename"]
	if name == "" {
		name = ctParams["name"]
	}
	if dec, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
		name = dec
	}
	if name == "" {
		name = "attachment-" + strconv.Itoa(n)
		if mt == "message/rfc822" {
			name += ".eml"
		}
	}
	a := extracted{name: name, contentType: mt, inline: disp == "inline",
		contentID: strings.Trim(strings.TrimSpace(h.Get("Content-Id")), "<>")}
	var r io.Reader = bytes.NewReader(p.body)
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &spaceless{r: r})
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return a, fmt.Errorf("graph: decoding attachment %q: %w", name, err)
	}
	a.data = data
	return a, nil
}

// spaceless drops white space (line breaks of base64 bodies).
type spaceless struct{ r io.Reader }

func (s *spaceless) Read(p []byte) (int, error) {
	for {
		n, err := s.r.Read(p)
		k := 0
		for _, c := range p[:n] {
			if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
				p[k] = c
				k++
			}
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}
