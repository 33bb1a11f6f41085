package fakeidp

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are the claims of an access token. [IdP.Mint] signs them and
// [IdP.Verify] returns them. Empty strings, nil slices and zero times are
// left out of a minted token.
type Claims struct {
	Audience          string    // aud
	Issuer            string    // iss
	Subject           string    // sub
	TenantID          string    // tid
	OID               string    // oid
	AppID             string    // appid and azp (Verify reads appid, else azp)
	UPN               string    // upn
	PreferredUsername string    // preferred_username
	Email             string    // email (Dovecot)
	Scope             string    // scope, a space-separated string (Dovecot)
	Scp               []string  // scp, sent as one space-separated string, as Entra does
	Roles             []string  // roles, a JSON array
	ExpiresAt         time.Time // exp
	IssuedAt          time.Time // iat
	NotBefore         time.Time // nbf

	// Extra holds any other claims. When minting, its entries are written
	// last and so override the fields above (to mint malformed claims).
	Extra map[string]any
}

// HasScope reports whether scp contains s.
func (c *Claims) HasScope(s string) bool {
	for _, v := range c.Scp {
		if v == s {
			return true
		}
	}
	return false
}

// HasRole reports whether roles contains r.
func (c *Claims) HasRole(r string) bool {
	for _, v := range c.Roles {
		if v == r {
			return true
		}
	}
	return false
}

func (c Claims) toMap() map[string]any {
	m := map[string]any{}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("aud", c.Audience)
	set("iss", c.Issuer)
	set("sub", c.Subject)
	set("tid", c.TenantID)
	set("oid", c.OID)
	set("appid", c.AppID)
	set("azp", c.AppID)
	set("upn", c.UPN)
	set("preferred_username", c.PreferredUsername)
	set("email", c.Email)
	set("scope", c.Scope)
	set("scp", strings.Join(c.Scp, " "))
	if c.Roles != nil {
		m["roles"] = append([]string{}, c.Roles...)
	}
	for k, t := range map[string]time.Time{"exp": c.ExpiresAt, "iat": c.IssuedAt, "nbf": c.NotBefore} {
		if !t.IsZero() {
			m[k] = t.Unix()
		}
	}
	for k, v := range c.Extra {
		m[k] = v
	}
	return m
}

// claimsFromMap reads the claims back; unknown claims land in Extra.
func claimsFromMap(m map[string]any) *Claims {
	c := &Claims{}
	str := func(k string) string {
		s, _ := m[k].(string)
		return s
	}
	switch aud := m["aud"].(type) {
	case string:
		c.Audience = aud
	case []any:
		if len(aud) > 0 {
			c.Audience, _ = aud[0].(string)
		}
	}
	c.Issuer, c.Subject, c.TenantID, c.OID = str("iss"), str("sub"), str("tid"), str("oid")
	if c.AppID = str("appid"); c.AppID == "" {
		c.AppID = str("azp")
	}
	c.UPN, c.PreferredUsername, c.Email, c.Scope = str("upn"), str("preferred_username"), str("email"), str("scope")
	if scp := strings.Fields(str("scp")); len(scp) > 0 {
		c.Scp = scp
	}
	if rs, ok := m["roles"].([]any); ok {
		for _, r := range rs {
			if s, ok := r.(string); ok {
				c.Roles = append(c.Roles, s)
			}
		}
	}
	c.ExpiresAt, c.IssuedAt, c.NotBefore = unixClaim(m["exp"]), unixClaim(m["iat"]), unixClaim(m["nbf"])
	for k, v := range m {
		switch k {
		case "aud", "iss", "sub", "tid", "oid", "appid", "azp", "upn", "preferred_username",
			"email", "scope", "scp", "roles", "exp", "iat", "nbf":
		default:
			if c.Extra == nil {
				c.Extra = map[string]any{}
			}
			c.Extra[k] = v
		}
	}
	return c
}

func unixClaim(v any) time.Time {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case json.Number:
		var err error
		if f, err = n.Float64(); err != nil {
			return time.Time{}
		}
	default:
		return time.Time{}
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < -1e12 || f > 1e12 {
		return time.Time{}
	}
	return time.Unix(int64(f), 0)
}

// Mint signs c with the IdP's key (RS256, with its kid) and returns the
// compact JWT. It signs whatever it is given, so tests can make expired
// tokens, tokens for the wrong audience or tokens without scp.
func (p *IdP) Mint(c Claims) (string, error) {
	m := c.toMap()
	if _, ok := m["uti"]; !ok {
		// Entra ID's unique token id: two tokens minted in the same second
		// for the same principal still differ, as real ones do.
		b := make([]byte, 16)
		rand.Read(b)
		m["uti"] = base64.RawURLEncoding.EncodeToString(b)
	}
	return p.sign(m)
}

func (p *IdP) sign(claims map[string]any) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims(claims))
	t.Header["kid"] = p.kid
	t.Header["x5t"] = p.kid
	s, err := t.SignedString(p.key)
	if err != nil {
		return "", fmt.Errorf("fakeidp: signing a token: %w", err)
	}
	return s, nil
}

// Errors wrapped by [*TokenError]; test with errors.Is.
var (
	ErrTokenMalformed   = errors.New("token is not a well-formed JWT")
	ErrTokenSignature   = errors.New("token signature is not valid for this IdP's key")
	ErrTokenExpired     = errors.New("token has expired")
	ErrTokenNotYetValid = errors.New("token is not valid yet")
)

// TokenError is returned by [IdP.Verify]. It never contains the token.
type TokenError struct {
	// Err is one of ErrTokenMalformed, ErrTokenSignature, ErrTokenExpired,
	// ErrTokenNotYetValid.
	Err error
	// Detail says more, in plain words.
	Detail string
}

func (e *TokenError) Error() string {
	if e.Detail == "" {
		return "fakeidp: " + e.Err.Error()
	}
	return "fakeidp: " + e.Err.Error() + ": " + e.Detail
}

// Unwrap returns Err.
func (e *TokenError) Unwrap() error { return e.Err }

// Verify checks that token is an RS256 JWT signed by this IdP's key with an
// exp in the future (and nbf, when present, in the past) and returns its
// claims. It does not check aud, iss, scp or roles: the caller decides what
// its server requires.
func (p *IdP) Verify(token string) (*Claims, error) {
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(p.now),
		jwt.WithJSONNumber(),
	)
	mc := jwt.MapClaims{}
	_, err := parser.ParseWithClaims(token, mc, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid != p.kid {
			return nil, errors.New("unknown kid")
		}
		return &p.key.PublicKey, nil
	})
	if err != nil {
		switch {
		case errors.Is(err, jwt.ErrTokenExpired):
			return nil, &TokenError{Err: ErrTokenExpired}
		case errors.Is(err, jwt.ErrTokenNotValidYet):
			return nil, &TokenError{Err: ErrTokenNotYetValid}
		case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
			return nil, &TokenError{Err: ErrTokenMalformed, Detail: "it has no exp claim"}
		case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
			return nil, &TokenError{Err: ErrTokenSignature, Detail: "it was not signed by this IdP"}
		default:
			return nil, &TokenError{Err: ErrTokenMalformed, Detail: "it could not be parsed as a signed JWT"}
		}
	}
	return claimsFromMap(mc), nil
}
