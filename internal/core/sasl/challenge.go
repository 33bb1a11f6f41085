package sasl

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/modernauth/mailauth"
)

// maxChallenge bounds the decoded challenge this package looks at; real ones are under
// 200 bytes.
const maxChallenge = 4096

// ParseChallenge decodes an error challenge that has already been base64-decoded. It
// never fails: a challenge that is not a JSON object comes back with Malformed set, so a
// caller can still answer it and report what the server sent. It does not panic on any
// input.
func ParseChallenge(b []byte) *mailauth.Challenge {
	c := &mailauth.Challenge{Raw: printable(b, 256)}
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
func ParseChallengeBase64(s string) (*mailauth.Challenge, error) {
	s = strings.TrimSpace(s)
	if len(s) > 2*maxChallenge {
		return &mailauth.Challenge{Malformed: true, Raw: printable([]byte(s), 256)}, nil
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
	b = b[:min(len(b), max)]
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(string(b), "?"))
}
