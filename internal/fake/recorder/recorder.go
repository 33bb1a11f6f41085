// Package recorder is an http.RoundTripper for tests that records what
// would have left the machine and answers with a fixed status, so a test can
// show that a request was (or was not) sent and with which Authorization.
package recorder

import (
	"io"
	"net/http"
	"strings"
	"sync"
)

// Request is what the transport saw of one request.
type Request struct {
	Host          string
	Authorization string
}

// Transport records each request and answers Status (500 when zero) with
// an empty body. It is safe for concurrent use.
type Transport struct {
	Status int

	mu   sync.Mutex
	seen []Request
}

// RoundTrip records req and answers.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	t.mu.Lock()
	t.seen = append(t.seen, Request{Host: req.URL.Host, Authorization: req.Header.Get("Authorization")})
	status := t.Status
	t.mu.Unlock()
	if status == 0 {
		status = http.StatusInternalServerError
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: http.Header{},
		Body: io.NopCloser(strings.NewReader("")), Request: req}, nil
}

// Seen returns the requests recorded so far.
func (t *Transport) Seen() []Request {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Request(nil), t.seen...)
}
