package graphtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
)

// maxBatch is Graph's limit of requests in one $batch.
const maxBatch = 20

func (s *Server) serveBatch(x *exchange) {
	var in struct {
		Requests []struct {
			ID        string            `json:"id"`
			Method    string            `json:"method"`
			URL       string            `json:"url"`
			Headers   map[string]string `json:"headers"`
			Body      json.RawMessage   `json:"body"`
			DependsOn []string          `json:"dependsOn"`
		} `json:"requests"`
	}
	if json.Unmarshal(x.body, &in) != nil || len(in.Requests) == 0 {
		x.error(http.StatusBadRequest, "BadRequest", "Invalid batch payload format.")
		return
	}
	if len(in.Requests) > maxBatch {
		x.error(http.StatusBadRequest, "BadRequest", "Number of requests in a batch exceeds the limit of 20.")
		return
	}
	status := map[string]int{}
	var out bytes.Buffer
	out.WriteString(`{"responses":[`)
	for i, br := range in.Requests {
		if i > 0 {
			out.WriteByte(',')
		}
		var w jsonWriter
		w.open()
		w.field("id", br.ID)
		failed := false
		for _, d := range br.DependsOn {
			if st, ok := status[d]; !ok || st >= 400 {
				failed = true
			}
		}
		if failed {
			status[br.ID] = http.StatusFailedDependency
			w.field("status", http.StatusFailedDependency)
			w.raw("body", []byte(`{"error":{"code":"FailedDependency","message":"A request this one depends on failed."}}`))
			w.close()
			out.Write(w.b.Bytes())
			continue
		}
		var body []byte
		if len(br.Body) > 0 && string(br.Body) != "null" {
			body = br.Body
			var str string
			if json.Unmarshal(br.Body, &str) == nil {
				body = []byte(str) // a string body (base64 MIME) is sent as is
			}
		}
		u := br.URL
		if !strings.HasPrefix(u, "/") {
			u = "/" + u
		}
		req := httptest.NewRequestWithContext(x.r.Context(), strings.ToUpper(br.Method), "/v1.0"+u, bytes.NewReader(body))
		req.Host = x.r.Host
		for k, v := range br.Headers {
			req.Header.Set(k, v)
		}
		req.Header.Set("Authorization", x.r.Header.Get("Authorization"))
		if p := x.r.Header.Get("Prefer"); p != "" && req.Header.Get("Prefer") == "" {
			req.Header.Set("Prefer", p)
		}
		rr := httptest.NewRecorder()
		inner := &Request{Method: req.Method, Host: req.Host, Path: req.URL.EscapedPath(), Query: req.URL.RawQuery,
			Authorization: true, Prefer: req.Header.Get("Prefer"), ContentType: req.Header.Get("Content-Type"), Batch: true}
		sw := &statusWriter{ResponseWriter: rr, status: http.StatusOK}
		s.serveAPI(sw, req, inner, true)
		inner.Status = sw.status
		s.record(*inner)
		res := rr.Result()
		status[br.ID] = res.StatusCode
		w.field("status", res.StatusCode)
		hdr := map[string]string{}
		for _, k := range []string{"Content-Type", "Retry-After", "Location", "Preference-Applied"} {
			if v := res.Header.Get(k); v != "" {
				hdr[k] = v
			}
		}
		w.field("headers", hdr)
		rb := rr.Body.Bytes()
		switch {
		case len(rb) == 0:
		case strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") && json.Valid(rb):
			w.raw("body", rb)
		default:
			w.field("body", base64.StdEncoding.EncodeToString(rb))
		}
		w.close()
		out.Write(w.b.Bytes())
	}
	out.WriteString(`]}`)
	x.writeJSON(http.StatusOK, out.Bytes())
}
