package tokencache

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// App-only tenants of one app registration share one MSAL confidential
// client: the cache keeps every token itself and hands MSAL an empty cache
// before each call, so MSAL's per-client state (about 4.5 KB) would
// otherwise be paid once per tenant for nothing. The client is chosen per
// request with WithTenantID.

// clientKey names a shared client: authority host, client id and the
// credential's identity (a fingerprint of the secret or certificate, or
// the identity of an assertion callback).
type clientKey struct {
	host, clientID, fp string
	id                 *int
}

// sharedClients holds the shared MSAL clients of one Cache.
type sharedClients struct {
	mu sync.Mutex // guards m
	m  map[clientKey]*confidential.Client
}

func (s *sharedClients) get(k clientKey, mk func() (confidential.Client, error)) (*confidential.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cl, ok := s.m[k]; ok {
		return cl, nil
	}
	cl, err := mk()
	if err != nil {
		return nil, err
	}
	if s.m == nil {
		s.m = make(map[clientKey]*confidential.Client)
	}
	s.m[k] = &cl
	return &cl, nil
}

// noCache is the cache.ExportReplace of shared app-only clients: MSAL
// always starts from an empty cache and nothing is exported, so a shared
// client never answers from memory and holds at most its last token.
type noCache struct{}

// Replace implements cache.ExportReplace.
func (noCache) Replace(_ context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	return u.Unmarshal(emptyMSALCache)
}

// Export implements cache.ExportReplace.
func (noCache) Export(context.Context, cache.Marshaler, cache.ExportHints) error { return nil }

// sharedClient returns the MSAL client shared by the tenants of cfg's app
// registration and credential.
func (c *Cache) sharedClient(cfg AppOnlyConfig) (*confidential.Client, error) {
	k := clientKey{host: strings.ToLower(strings.TrimRight(cfg.Cloud.AuthorityHost, "/")), clientID: cfg.ClientID,
		fp: cfg.Credential.fp, id: cfg.Credential.id}
	return c.clients.get(k, func() (confidential.Client, error) {
		cl, err := confidential.New(cfg.Cloud.Authority(cfg.TenantID), cfg.ClientID, cfg.Credential.cred,
			confidential.WithHTTPClient(c.http),
			confidential.WithInstanceDiscovery(false),
			confidential.WithClientCapabilities(c.caps),
			confidential.WithCache(noCache{}))
		if err != nil {
			return confidential.Client{}, fmt.Errorf("tokencache: creating MSAL client: %w", classifyMSAL(err))
		}
		return cl, nil
	})
}
