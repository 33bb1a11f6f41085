package bearer

import (
	"encoding/base64"
	"strings"
)

// Challenge is one Bearer challenge from a WWW-Authenticate header
// (RFC 6750 §3), with the parameters Microsoft's services use.
type Challenge struct {
	// Error is the error parameter, such as "invalid_token" or
	// "insufficient_claims".
	Error string
	// Description is the error_description parameter.
	Description string
	// Claims is the claims parameter: the claims request to pass to the
	// token endpoint (for MSAL, WithClaims) when acquiring the next token.
	// Entra ID sends it base64-encoded; Claims holds the decoded JSON when
	// it decodes, the raw value otherwise.
	Claims string
	// AuthorizationURI is the authorization_uri parameter (Exchange sends
	// it so that on-premises clients can find their authority).
	AuthorizationURI string
	// Scope is the scope parameter.
	Scope string
	// Params holds every parameter, names lower-cased.
	Params map[string]string
}

// ParseChallenges returns the Bearer challenges found in the values of a
// WWW-Authenticate header (all values, as in resp.Header.Values). Other
// schemes (Basic, Negotiate, NTLM) are skipped. Malformed input yields
// whatever could be parsed; it never panics.
func ParseChallenges(values []string) []Challenge {
	var out []Challenge
	for _, v := range values {
		for _, raw := range splitChallenges(v) {
			if !strings.EqualFold(raw.scheme, "bearer") {
				continue
			}
			c := Challenge{Params: raw.params}
			c.Error = raw.params["error"]
			c.Description = raw.params["error_description"]
			c.AuthorizationURI = raw.params["authorization_uri"]
			c.Scope = raw.params["scope"]
			c.Claims = decodeClaims(raw.params["claims"])
			out = append(out, c)
		}
	}
	return out
}

func decodeClaims(s string) string {
	if s == "" || strings.HasPrefix(s, "{") {
		return s
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) > 0 && b[0] == '{' {
			return string(b)
		}
	}
	return s
}

type rawChallenge struct {
	scheme string
	params map[string]string
}

// splitChallenges scans one header value following RFC 9110 §11.6.1:
//
//	challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//	auth-param = token BWS "=" BWS ( token / quoted-string )
//
// A token followed by something other than "=" starts a new challenge.
func splitChallenges(s string) []rawChallenge {
	var out []rawChallenge
	var cur *rawChallenge
	i := 0
	for i < len(s) {
		i = skipSpaceComma(s, i)
		if i >= len(s) {
			break
		}
		tok, j := scanToken(s, i)
		if tok == "" {
			// Not a token: skip one byte to make progress.
			i++
			continue
		}
		k := skipSpace(s, j)
		if k < len(s) && s[k] == '=' && cur != nil {
			// auth-param (or token68 padding, which we treat the same way).
			k = skipSpace(s, k+1)
			var val string
			if k < len(s) && s[k] == '"' {
				val, k = scanQuoted(s, k)
			} else {
				val, k = scanToken(s, k)
				// token68 may end in '=' padding.
				for k < len(s) && s[k] == '=' {
					val += "="
					k++
				}
			}
			name := strings.ToLower(tok)
			if _, dup := cur.params[name]; !dup {
				cur.params[name] = val
			}
			i = k
			continue
		}
		if k < len(s) && s[k] == '=' && cur == nil {
			// A parameter with no scheme before it: ignore it.
			i = k + 1
			continue
		}
		out = append(out, rawChallenge{scheme: tok, params: map[string]string{}})
		cur = &out[len(out)-1]
		i = j
	}
	return out
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

func skipSpaceComma(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',') {
		i++
	}
	return i
}

// scanToken reads an RFC 9110 token (tchar), plus '/' so that token68
// values (base64) are read whole.
func scanToken(s string, i int) (string, int) {
	start := i
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	return s[start:i], i
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~/", c) >= 0
}

// scanQuoted reads a quoted-string starting at s[i] == '"'. An unterminated
// string runs to the end of s.
func scanQuoted(s string, i int) (string, int) {
	var b strings.Builder
	i++ // opening quote
	for i < len(s) {
		c := s[i]
		switch c {
		case '"':
			return b.String(), i + 1
		case '\\':
			if i+1 < len(s) {
				b.WriteByte(s[i+1])
				i += 2
				continue
			}
		}
		b.WriteByte(c)
		i++
	}
	return b.String(), i
}
