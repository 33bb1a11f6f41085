package fakeidp

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

var (
	formActionRE = regexp.MustCompile(`<form method="POST" name="hiddenform" action="([^"]*)">`)
	hiddenRE     = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)" />`)
)

// parseFormPost reads the action and fields of a form_post page written by
// writeFormPost. ok is false when page is not one.
func parseFormPost(page string) (action string, fields url.Values, ok bool) {
	m := formActionRE.FindStringSubmatch(page)
	if m == nil {
		return "", nil, false
	}
	fields = url.Values{}
	for _, in := range hiddenRE.FindAllStringSubmatch(page, -1) {
		fields.Add(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	return html.UnescapeString(m[1]), fields, true
}

// Browse plays the user's browser for an authorization URL of this IdP: it
// GETs authURL, follows redirects (response_mode=query) or submits the
// self-posting form (response_mode=form_post, which MSAL Go uses) to the
// redirect URI, and fails when the final answer is an HTTP error. It is
// what a test passes to MSAL's public.WithOpenURL (see [IdP.OpenURL]).
// It refuses URLs that do not belong to the IdP.
func (p *IdP) Browse(ctx context.Context, authURL string) error {
	if !strings.HasPrefix(authURL, p.url+"/") {
		return errors.New("fakeidp: Browse only opens this IdP's own URLs")
	}
	c := p.HTTPClient()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return fmt.Errorf("fakeidp: browse: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("fakeidp: browse: %w", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	if err != nil {
		return fmt.Errorf("fakeidp: browse: reading the page: %w", err)
	}
	if resp.StatusCode >= 400 {
		return fmt.Errorf("fakeidp: browse: %s answered HTTP %d: %s", resp.Request.URL.Host, resp.StatusCode, firstLine(body))
	}
	action, fields, ok := parseFormPost(string(body))
	if !ok {
		return nil
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, action, strings.NewReader(fields.Encode()))
	if err != nil {
		return fmt.Errorf("fakeidp: browse: posting the form: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = c.Do(req)
	if err != nil {
		return fmt.Errorf("fakeidp: browse: posting the form: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("fakeidp: browse: the redirect URI answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// OpenURL is [IdP.Browse] with a 30-second limit, shaped for MSAL's
// public.WithOpenURL and for any "open this URL in a browser" hook.
func (p *IdP) OpenURL(authURL string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.Browse(ctx, authURL)
}

func firstLine(b []byte) string {
	s := string(b)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
