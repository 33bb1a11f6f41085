package tokencache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/cloud"
)

// ManagedIdentityConfig selects an Azure managed identity: the identity of
// the Azure resource (App Service, Functions, a VM, Container Apps, Arc,
// ...) the program runs on. It needs no secret: MSAL asks the resource's
// local identity endpoint, found from the environment (IDENTITY_ENDPOINT
// and IDENTITY_HEADER on App Service, IMDS on a VM).
//
// Leave ClientID, ResourceID and ObjectID empty for the system-assigned
// identity; set exactly one of them for a user-assigned identity.
type ManagedIdentityConfig struct {
	// Cloud gives the default scope ([cloud.Cloud.AppOnlyScope]). Zero
	// means [cloud.Global].
	Cloud cloud.Cloud
	// ClientID selects a user-assigned identity by its client id.
	ClientID string
	// ResourceID selects a user-assigned identity by its ARM resource id
	// ("/subscriptions/.../providers/Microsoft.ManagedIdentity/userAssignedIdentities/NAME").
	ResourceID string
	// ObjectID selects a user-assigned identity by its object (principal) id.
	ObjectID string
}

// ParseManagedIdentity reads the value of a -managed-identity flag: empty
// or "system" is the system-assigned identity, a value starting with "/"
// an ARM resource id, "object:GUID" an object id, anything else a client
// id.
func ParseManagedIdentity(s string) ManagedIdentityConfig {
	s = strings.TrimSpace(s)
	switch {
	case s == "" || strings.EqualFold(s, "system"):
		return ManagedIdentityConfig{}
	case strings.HasPrefix(s, "/"):
		return ManagedIdentityConfig{ResourceID: s}
	case strings.HasPrefix(strings.ToLower(s), "object:"):
		return ManagedIdentityConfig{ObjectID: s[len("object:"):]}
	}
	return ManagedIdentityConfig{ClientID: s}
}

func (m ManagedIdentityConfig) id() (managedidentity.ID, string, error) {
	n := 0
	for _, v := range []string{m.ClientID, m.ResourceID, m.ObjectID} {
		if v != "" {
			n++
		}
	}
	switch {
	case n > 1:
		return nil, "", errors.New("tokencache: ManagedIdentityConfig: set at most one of ClientID, ResourceID and ObjectID")
	case m.ClientID != "":
		return managedidentity.UserAssignedClientID(m.ClientID), "client:" + m.ClientID, nil
	case m.ResourceID != "":
		return managedidentity.UserAssignedResourceID(m.ResourceID), "resource:" + m.ResourceID, nil
	case m.ObjectID != "":
		return managedidentity.UserAssignedObjectID(m.ObjectID), "object:" + m.ObjectID, nil
	}
	return managedidentity.SystemAssigned(), "system", nil
}

// Managed issues tokens of one managed identity. It is safe for concurrent
// use. Create it with [Cache.ManagedIdentity].
type Managed struct {
	c      *Cache
	client managedidentity.Client
	name   string // "system", "client:ID", ...
	source managedidentity.Source
	scope  string
}

// ManagedIdentity returns the [Managed] identity for cfg, through MSAL Go's
// managed identity client. Its Sources have the cache's single flight,
// early refresh, retries and stats; tokens are kept in memory only (the
// identity endpoint is local and needs no refresh token). Calls with the
// same identity return Sources that share entries. It reads the
// environment to find the identity endpoint but does no network I/O.
func (c *Cache) ManagedIdentity(cfg ManagedIdentityConfig) (*Managed, error) {
	if cfg.Cloud.AuthorityHost == "" {
		cfg.Cloud = cloud.Global
	}
	id, name, err := cfg.id()
	if err != nil {
		return nil, err
	}
	v, err := c.partition("mi|"+name, func() (any, error) {
		src, err := managedidentity.GetSource()
		if err != nil {
			return nil, fmt.Errorf("tokencache: managed identity: %w", err)
		}
		client, err := managedidentity.New(id, managedidentity.WithHTTPClient(c.http), managedidentity.WithRetryPolicyDisabled())
		if err != nil {
			return nil, fmt.Errorf("tokencache: managed identity %s: %s", name, shorten(err.Error()))
		}
		return &Managed{c: c, client: client, name: name, source: src, scope: cfg.Cloud.AppOnlyScope()}, nil
	})
	if err != nil {
		return nil, err
	}
	m, ok := v.(*Managed)
	if !ok {
		return nil, fmt.Errorf("tokencache: partition mi|%s is used by another kind of credential", name)
	}
	return m, nil
}

// String names the identity and where its tokens come from.
func (m *Managed) String() string {
	return "tokencache.Managed{" + m.name + ", " + string(m.source) + "}"
}

// GoString is like String.
func (m *Managed) GoString() string { return m.String() }

// Format prints the String form for every verb.
func (m *Managed) Format(f fmt.State, _ rune) { fmt.Fprint(f, m.String()) }

// LogValue implements [slog.LogValuer].
func (m *Managed) LogValue() slog.Value { return slog.StringValue(m.String()) }

// Source returns the cached source of the identity's tokens for one
// resource scope (such as "https://outlook.office365.com/.default"); no
// scope means the cloud's app-only Exchange scope. It does no I/O.
func (m *Managed) Source(scopes ...string) *Source {
	scope := m.scope
	if len(scopes) > 0 {
		scope = scopes[0]
	}
	k := key("mi", string(m.source), "", m.name, "", []string{scope})
	return m.c.source(k, func() fetcher {
		return claimsFetcher(func(ctx context.Context, _ *oauth2.Token, claims string) (*oauth2.Token, time.Time, error) {
			return m.acquire(ctx, scope, claims)
		})
	})
}

// acquire asks the identity endpoint for a token. MSAL's managed identity
// client keeps a process-wide cache of its own, which would hand back the
// very token this cache is replacing; passing claims is its only way
// around it, so a request always carries claims: the challenge's, or a
// "not before now" claim that any token issued from now on satisfies.
func (m *Managed) acquire(ctx context.Context, scope, claims string) (*oauth2.Token, time.Time, error) {
	if claims == "" {
		claims = `{"access_token":{"nbf":{"essential":true,"value":"` + strconv.FormatInt(time.Now().Unix(), 10) + `"}}}`
	}
	res, err := m.client.AcquireToken(ctx, scope, managedidentity.WithClaims(claims))
	if err != nil {
		err = classifyMSAL(err)
		var ie *IdPError
		if errors.As(err, &ie) && ie.Hint == "" && !ie.Transient {
			ie.Hint = "check that the managed identity is enabled on this resource and, for a user-assigned one, attached to it"
		}
		return nil, time.Time{}, err
	}
	return newToken(res.AccessToken, res.ExpiresOn), res.Metadata.RefreshOn, nil
}
