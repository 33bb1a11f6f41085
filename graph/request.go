package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// getJSON GETs u and decodes the JSON answer into out (nil: discard).
func (c *Client) getJSON(ctx context.Context, op, u string, prefer []string, out any) error {
	return c.jsonCall(ctx, &call{op: op, method: http.MethodGet, url: u, prefer: prefer}, out)
}

// sendJSON sends in as JSON with method and decodes the answer into out (nil: discard).
func (c *Client) sendJSON(ctx context.Context, op, method, u string, in, out any) error {
	k := &call{op: op, method: method, url: u}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("graph: %s: %w", op, err)
		}
		k.body, k.ctype = b, "application/json"
	}
	return c.jsonCall(ctx, k, out)
}

func (c *Client) jsonCall(ctx context.Context, k *call, out any) error {
	resp, err := c.do(ctx, k)
	if err != nil {
		return err
	}
	if out == nil {
		resp.Body.Close()
		return nil
	}
	b, err := c.readAll(resp)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("graph: %s: decoding the response: %w", k.op, err)
	}
	return nil
}

// getPages GETs u and follows @odata.nextLink to the end, returning every value.
func getPages[T any](ctx context.Context, c *Client, op, u string) ([]T, error) {
	var all []T
	for u != "" {
		p, err := getPage[T](ctx, c, op, u, nil)
		if err != nil {
			return all, err
		}
		all = append(all, p.Value...)
		u = p.NextLink
		if u != "" {
			if err := c.checkLink(u); err != nil {
				return all, err
			}
		}
	}
	return all, nil
}

func getPage[T any](ctx context.Context, c *Client, op, u string, prefer []string) (*page[T], error) {
	resp, err := c.do(ctx, &call{op: op, method: http.MethodGet, url: u, prefer: prefer})
	if err != nil {
		return nil, err
	}
	b, err := c.readAll(resp)
	if err != nil {
		return nil, err
	}
	p, err := parsePage[T](b)
	if err != nil {
		return nil, fmt.Errorf("graph: %s: %w", op, err)
	}
	return p, nil
}

// query builds an OData query string: "$" keys stay literal, values are escaped with %20
// for spaces.
type query []string

func (q *query) add(key, value string) {
	if value == "" {
		return
	}
	*q = append(*q, key+"="+strings.ReplaceAll(url.QueryEscape(value), "+", "%20"))
}

func (q *query) addInt(key string, v int) {
	if v > 0 {
		q.add(key, strconv.Itoa(v))
	}
}

func (q query) String() string {
	if len(q) == 0 {
		return ""
	}
	return "?" + strings.Join(q, "&")
}

// seg escapes one path segment (an id or a well-known name).
func seg(s string) string { return url.PathEscape(s) }
