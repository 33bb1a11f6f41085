// Package httpx holds the HTTP rules every bearer client of the module shares, written
// once: parsing Retry-After, draining a response before its connection is reused, and a
// base transport that works when http.DefaultTransport was replaced.
package httpx

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfter bounds a delay-seconds Retry-After so the Duration cannot overflow.
const maxRetryAfter = 365 * 24 * time.Hour

// RetryAfter parses a Retry-After value (RFC 9110 §10.2.3): delay-seconds or an HTTP-date,
// relative to now. ok is false for an empty or unparsable value. A date in the past gives
// 0; a delay above a year is cut to a year.
func RetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(n) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

// maxDrain is how much of an unread body Drain reads so the connection can be reused;
// larger bodies are cheaper to drop with the connection.
const maxDrain = 64 << 10

// Drain reads up to 64 KiB of what is left of resp's body and closes it. A nil resp is a
// no-op.
func Drain(resp *http.Response) {
	if resp == nil || resp.Body == nil {
		return
	}
	_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
	_ = resp.Body.Close()
}

// Transport returns a new *http.Transport with the settings of http.DefaultTransport when
// that is still an *http.Transport, and with Go's documented defaults when a program
// replaced it with something else. It never panics.
func Transport() *http.Transport {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return t.Clone()
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
	}
}
