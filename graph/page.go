package graph

import (
	"encoding/json"
	"errors"
	"fmt"
)

// page is one page of a Graph collection.
type page[T any] struct {
	Context   string `json:"@odata.context"`
	NextLink  string `json:"@odata.nextLink"`
	DeltaLink string `json:"@odata.deltaLink"`
	Value     []T    `json:"value"`
}

// errNotCollection is returned for JSON that has no "value" array.
var errNotCollection = errors.New("graph: the response is not a collection (no value array)")

// parsePage decodes a collection response. It never panics; JSON that is not an object with
// a value array is an error.
func parsePage[T any](data []byte) (*page[T], error) {
	p := &page[T]{}
	if err := json.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("graph: decoding a page: %w", err)
	}
	if p.Value == nil {
		return nil, errNotCollection
	}
	return p, nil
}

// ParseMessages decodes a Graph collection of messages — a page of a message list or of a
// delta round, or the body of a $batch response — and returns the messages and the page's
// @odata.nextLink ("" on the last page). It does no I/O.
func ParseMessages(data []byte) (msgs []Message, nextLink string, err error) {
	p, err := parsePage[Message](data)
	if err != nil {
		return nil, "", err
	}
	return p.Value, p.NextLink, nil
}
