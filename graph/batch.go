package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/modernauth/mailauth/internal/core/httpx"
)

// MaxBatch is Graph's limit of requests in one $batch call.
const MaxBatch = 20

// BatchRequest is one request of a $batch.
type BatchRequest struct {
	// ID names the request in the batch; empty means its position, from "1".
	ID string
	// Method is the HTTP method; empty means GET.
	Method string
	// URL is the request's path and query: relative to the client's mailbox when it does
	// not start with "/" ("messages/AAMk...?$select=subject"), else relative to the API
	// root ("/users/bob@contoso.com/messages").
	URL string
	// Headers are the request's headers; Content-Type application/json is added for a Body.
	Headers map[string]string
	// Body is sent as JSON (a json.RawMessage passes through).
	Body any
	// DependsOn names requests of the same call of 20 that must succeed first.
	DependsOn []string
}

// BatchResponse is the answer to one [BatchRequest].
type BatchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// Err returns nil for a 2xx or 3xx status, else the *Error the body describes.
func (r *BatchResponse) Err() error {
	if r.Status < 400 {
		return nil
	}
	e := parseError(r.Status, r.Body)
	e.Op = "batch request " + r.ID
	if d, ok := httpx.RetryAfter(r.Headers["Retry-After"], time.Now()); ok {
		e.RetryAfter = d
	}
	return e
}

// Decode unmarshals the body into v after checking Err.
func (r *BatchResponse) Decode(v any) error {
	if err := r.Err(); err != nil {
		return err
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("graph: batch response %s: %w", r.ID, err)
	}
	return nil
}

// Batch sends the requests with $batch, 20 per call (calls one after another), and
// returns one response per request, in the order of reqs. A dependsOn must name a request
// of the same group of 20. Requests answered 429, 503 or 504 that nothing depends on are
// sent again after the longest Retry-After, like single requests (Options.MaxRetries);
// what still fails comes back as its response, with Err telling why. The error is for the
// batch call itself.
func (c *Client) Batch(ctx context.Context, reqs []BatchRequest) ([]BatchResponse, error) {
	out := make([]BatchResponse, 0, len(reqs))
	for start := 0; start < len(reqs); start += MaxBatch {
		group := reqs[start:min(start+MaxBatch, len(reqs))]
		res, err := c.batchGroup(ctx, group, start)
		if err != nil {
			return out, err
		}
		out = append(out, res...)
	}
	return out, nil
}

type wireBatchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers,omitempty"`
	Body      any               `json:"body,omitempty"`
	DependsOn []string          `json:"dependsOn,omitempty"`
}

func (c *Client) batchGroup(ctx context.Context, group []BatchRequest, offset int) ([]BatchResponse, error) {
	wire := make([]wireBatchRequest, len(group))
	index := map[string]int{}
	for i, r := range group {
		w := wireBatchRequest{ID: r.ID, Method: strings.ToUpper(r.Method), URL: r.URL, Headers: r.Headers, Body: r.Body, DependsOn: r.DependsOn}
		if w.ID == "" {
			w.ID = strconv.Itoa(offset + i + 1)
		}
		if w.Method == "" {
			w.Method = http.MethodGet
		}
		if _, dup := index[w.ID]; dup {
			return nil, fmt.Errorf("graph: Batch: two requests have the id %q", w.ID)
		}
		if !strings.HasPrefix(w.URL, "/") {
			w.URL = c.root + "/" + w.URL
		}
		if w.Body != nil {
			h := map[string]string{"Content-Type": "application/json"}
			for k, v := range w.Headers {
				h[k] = v
			}
			w.Headers = h
		}
		index[w.ID] = i
		wire[i] = w
	}
	needed := map[string]bool{}
	for _, w := range wire {
		for _, d := range w.DependsOn {
			if _, ok := index[d]; !ok {
				return nil, fmt.Errorf("graph: Batch: request %q depends on %q, which is not in the same group of %d", w.ID, d, MaxBatch)
			}
			needed[d] = true
		}
	}
	out := make([]BatchResponse, len(group))
	pending := wire
	for attempt := 0; ; attempt++ {
		res, err := c.postBatch(ctx, pending)
		if err != nil {
			return nil, err
		}
		var again []wireBatchRequest
		var wait time.Duration
		for _, r := range res {
			i, ok := index[r.ID]
			if !ok {
				continue
			}
			out[i] = r
			if retryable(r.Status) && !needed[r.ID] && len(wire[i].DependsOn) == 0 {
				again = append(again, wire[i])
				if d, ok := httpx.RetryAfter(r.Headers["Retry-After"], time.Now()); ok {
					wait = max(wait, d)
				}
			}
		}
		if len(again) == 0 || attempt >= c.retries {
			break
		}
		if wait == 0 {
			wait = firstBackoff << attempt
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		pending = again
	}
	for i := range out {
		if out[i].ID == "" {
			return nil, fmt.Errorf("graph: Batch: no response for request %q", wire[i].ID)
		}
	}
	return out, nil
}

func (c *Client) postBatch(ctx context.Context, reqs []wireBatchRequest) ([]BatchResponse, error) {
	body, err := json.Marshal(map[string]any{"requests": reqs})
	if err != nil {
		return nil, fmt.Errorf("graph: Batch: %w", err)
	}
	var res struct {
		Responses []BatchResponse `json:"responses"`
	}
	if err := c.jsonCall(ctx, &call{op: "batch", method: http.MethodPost, url: c.api + "/$batch", body: body, ctype: "application/json"}, &res); err != nil {
		return nil, err
	}
	if res.Responses == nil {
		return nil, errors.New("graph: Batch: the answer has no responses")
	}
	return res.Responses, nil
}
