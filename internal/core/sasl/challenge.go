package sasl

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxChallenge bounds the decoded challenge this package looks at; real ones are under
// 200 bytes.
const maxChallenge = 4096

// Challenge is a server's OAuth error challenge, decoded from its JSON form
// (RFC 7628 §3.2.2; Google's and Microsoft's XOAUTH2 use the same object).
type Challenge struct {
	// Status is the "status" member: an HTTP-like code such as "401" or "400" (XOAUTH2)
	// or an RFC 6749 error such as "invalid_token" (OAUTHBEARER). A JSON number is
	// converted to its decimal form.
	Status string
	// Schemes is the "schemes" member, e.g. "bearer".
	Schemes string
	// Scope is the "scope" member: the scope the server wants, e.g.
	// "https://mail.google.com/" or Dovecot's fixed "mail".
	Scope string
	// OpenIDConfiguration is the "openid-configuration" member of RFC 7628, if present.
	OpenIDConfiguration string
	// Malformed is true when the challenge was not a JSON object; Raw then holds a
	// printable prefix of it.
	Malformed bool
	// Raw is the challenge as received (decoded from base64), cut to 256 bytes and with
	// non-printable bytes replaced, for diagnostics.
	Raw string
}

// String describes the challenge in one line.
func (c *Challenge) String() string {
	if c == nil {
		return "<no challenge>"
	}
	if c.Malformed {
		return "malformed challenge " + strconv.Quote(c.Raw)
	}
	var parts []string
	if c.Status != "" {
		parts = append(parts, "status="+c.Status)
	}
	if c.Schemes != "" {
		parts = append(parts, "schemes="+c.Schemes)
	}
	if c.Scope != "" {
		parts = append(parts, "scope="+c.Scope)
	}
	if len(parts) == 0 {
		return "empty challenge"
	}
	return strings.Join(parts, " ")
}

// ParseChallenge decodes an error challenge that has already been base64-decoded. It
// never fails: a challenge that is not a JSON object comes back with Malformed set, so a
// caller can still answer it and report what the server sent. It does not panic on any
// input.
func ParseChallenge(b []byte) *Challenge {
	c := &Challenge{Raw: printable(b, 256)}
	if len(b) > maxChallenge {
		c.Malformed = true
		return c
	}
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil || m == nil {
		c.Malformed = true
		return c
	}
	c.Status = jsonScalar(m["status"])
	c.Schemes = jsonScalar(m["schemes"])
	c.Scope = jsonScalar(m["scope"])
	c.OpenIDConfiguration = jsonScalar(m["openid-configuration"])
	return c
}

// ParseChallengeBase64 decodes a challenge as it appears on the wire (the text after
// "+ " or "334 "). Standard base64 with or without padding is accepted. An error is
// returned only when s is not base64.
func ParseChallengeBase64(s string) (*Challenge, error) {
	s = strings.TrimSpace(s)
	if len(s) > 2*maxChallenge {
		return &Challenge{Malformed: true, Raw: printable([]byte(s), 256)}, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
		if err != nil {
			return nil, errors.New("sasl: challenge is not base64")
		}
	}
	return ParseChallenge(b), nil
}

// jsonScalar renders a JSON string, number or boolean as text; anything else is "".
func jsonScalar(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return printable([]byte(s), 256)
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String()
	}
	var bv bool
	if err := json.Unmarshal(raw, &bv); err == nil {
		return strconv.FormatBool(bv)
	}
	return ""
}

// printable returns at most max bytes of b as a string with control characters and
// invalid UTF-8 replaced by '?'.
func printable(b []byte, max int) string {
	if len(b) > max {
		b = b[:max]
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			sb.WriteByte('?')
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
