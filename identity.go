package mailauth

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"strings"
	"time"
)

// Identity is what an access token says about who it is for, decoded from the JWT's
// claims WITHOUT verifying the signature. It is meant for error messages and diagnostics
// ("the token is for bob@contoso.com, audience graph.microsoft.com"); never base an access
// decision on it. It holds no secret and is safe to print.
type Identity struct {
	UPN       string    // upn, else preferred_username, else unique_name, else email
	OID       string    // oid: the user's or service principal's object id
	AppID     string    // appid (v1 tokens) or azp (v2 tokens)
	TenantID  string    // tid
	Audience  []string  // aud
	Scopes    []string  // scp (delegated tokens), split on spaces
	Roles     []string  // roles (app-only tokens)
	ExpiresAt time.Time // exp; zero if absent
}

// IsZero reports whether nothing could be decoded (the token is not a JWT, or is opaque).
func (id Identity) IsZero() bool {
	return id.UPN == "" && id.OID == "" && id.AppID == "" && id.TenantID == "" &&
		len(id.Audience) == 0 && len(id.Scopes) == 0 && len(id.Roles) == 0 && id.ExpiresAt.IsZero()
}

// AppOnly reports whether the token is an app-only (client credentials) token: it names
// no user scope (scp) and either carries roles or names no user. An opaque token is not
// app-only.
func (id Identity) AppOnly() bool {
	return !id.IsZero() && len(id.Scopes) == 0 && (len(id.Roles) > 0 || id.UPN == "")
}

// Principal names who the token is for in a few words: the user's name, "app <appid>", or
// "the token's principal" when the token is opaque.
func (id Identity) Principal() string {
	switch {
	case id.UPN != "":
		return id.UPN
	case id.AppID != "":
		return "app " + id.AppID
	}
	return "the token's principal"
}

// Expired reports whether the token's exp lies at or before now. A token without exp is
// not expired.
func (id Identity) Expired(now time.Time) bool {
	return !id.ExpiresAt.IsZero() && !id.ExpiresAt.After(now)
}

// String renders the identity in one line, e.g.
// "upn=alice@contoso.com oid=… aud=https://outlook.office365.com scp=IMAP.AccessAsUser.All exp=2026-11-27T13:00:00Z".
func (id Identity) String() string {
	if id.IsZero() {
		return "opaque token (no readable claims)"
	}
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("upn", id.UPN)
	add("oid", id.OID)
	add("appid", id.AppID)
	add("tid", id.TenantID)
	add("aud", strings.Join(id.Audience, ","))
	add("scp", strings.Join(id.Scopes, ","))
	add("roles", strings.Join(id.Roles, ","))
	if !id.ExpiresAt.IsZero() {
		add("exp", id.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return strings.Join(parts, " ")
}

// LogValue implements slog.LogValuer.
func (id Identity) LogValue() slog.Value { return slog.StringValue(id.String()) }

// ParseIdentity decodes the claims of a JWT access token without verifying it. It never
// fails and never panics: a token that is not a JWT (an opaque token) gives a zero
// Identity. This is the module's one claims decoder.
func ParseIdentity(accessToken string) Identity {
	parts := strings.Split(accessToken, ".")
	if len(parts) != 3 || len(parts[1]) > 64<<10 {
		return Identity{}
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return Identity{}
	}
	var c struct {
		UPN               string          `json:"upn"`
		PreferredUsername string          `json:"preferred_username"`
		UniqueName        string          `json:"unique_name"`
		Email             string          `json:"email"`
		OID               string          `json:"oid"`
		AppID             string          `json:"appid"`
		AZP               string          `json:"azp"`
		TID               string          `json:"tid"`
		Aud               json.RawMessage `json:"aud"`
		Scp               json.RawMessage `json:"scp"`
		Roles             json.RawMessage `json:"roles"`
		Exp               json.Number     `json:"exp"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return Identity{}
	}
	id := Identity{
		UPN:      firstNonEmpty(c.UPN, c.PreferredUsername, c.UniqueName, c.Email),
		OID:      c.OID,
		AppID:    firstNonEmpty(c.AppID, c.AZP),
		TenantID: c.TID,
		Audience: stringList(c.Aud),
		Scopes:   stringList(c.Scp),
		Roles:    stringList(c.Roles),
	}
	if f, err := c.Exp.Float64(); err == nil && f > 0 && f < 1e11 {
		id.ExpiresAt = time.Unix(int64(f), 0)
	}
	return id
}

// stringList reads a JSON string (split on spaces) or array of strings.
func stringList(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return strings.Fields(s)
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err == nil {
		return l
	}
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
