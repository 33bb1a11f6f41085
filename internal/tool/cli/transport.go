package cli

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
)

// Transport wraps base so that, with -v, every request and response line and header goes
// to the transcript (Authorization and cookies redacted). Without -v it returns base.
func (e *Env) Transport(base http.RoundTripper) http.RoundTripper {
	if e.Transcript == nil {
		return base
	}
	return TranscriptTransport(base, e.Transcript)
}

// TranscriptTransport returns base wrapped so that every request and response line and
// header is written to w, with Authorization and cookies replaced by [REDACTED]. Give it a
// redacting writer so that anything else secret is caught too.
func TranscriptTransport(base http.RoundTripper, w io.Writer) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transcriptTransport{base: base, w: w}
}

type transcriptTransport struct {
	base http.RoundTripper
	w    io.Writer
}

var secretHeaders = map[string]bool{"Authorization": true, "Cookie": true, "Set-Cookie": true, "X-Backendoverridecookie": true}

func (t *transcriptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "> %s %s\n", req.Method, req.URL.Redacted())
	writeHeaders(&b, "> ", req.Header)
	io.WriteString(t.w, b.String())
	resp, err := t.base.RoundTrip(req)
	b.Reset()
	if err != nil {
		fmt.Fprintf(&b, "< error: %v\n", err)
	} else {
		fmt.Fprintf(&b, "< %s\n", resp.Status)
		writeHeaders(&b, "< ", resp.Header)
	}
	io.WriteString(t.w, b.String())
	return resp, err
}

func writeHeaders(b *strings.Builder, prefix string, h http.Header) {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := strings.Join(h[k], ", ")
		if secretHeaders[http.CanonicalHeaderKey(k)] {
			v = "[REDACTED]"
		}
		fmt.Fprintf(b, "%s%s: %s\n", prefix, k, v)
	}
}
