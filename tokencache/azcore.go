package tokencache

import (
	"context"
	"errors"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"golang.org/x/oauth2"
)

// AzureCredential caches tokens for scopes from any Azure SDK credential
// (azidentity's DefaultAzureCredential or ChainedTokenCredential, the
// Azure CLI, Azure Developer CLI and Azure Pipelines credentials, ...),
// under name (a key of the caller's choosing). Sources with the same name
// and scopes share one entry: single flight, early refresh (the
// credential's RefreshOn is honoured), retries and [Stats] as for the
// cache's own credentials. Tokens are kept in memory only.
//
// The returned Source passes the claims of a challenge to the credential
// ([Source.TokenWithClaims]), with EnableCAE set. Transient failures are
// recognised only when the credential returns an *oauth2.RetrieveError,
// an [IdPError] or a timeout. AzureCredential does no I/O.
func (c *Cache) AzureCredential(name string, cred azcore.TokenCredential, scopes ...string) *Source {
	scopes = append([]string(nil), scopes...)
	k := key("azcore", "", "", name, "", scopes)
	return c.source(k, func() fetcher {
		return claimsFetcher(func(ctx context.Context, _ *oauth2.Token, claims string) (*oauth2.Token, time.Time, error) {
			if cred == nil {
				return nil, time.Time{}, errors.New("tokencache: AzureCredential: nil credential")
			}
			at, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: scopes, Claims: claims, EnableCAE: claims != ""})
			if err != nil {
				return nil, time.Time{}, classifyOAuth2(err)
			}
			if at.Token == "" {
				return nil, time.Time{}, &IdPError{Code: "invalid_response", Description: "the Azure credential returned no access token"}
			}
			return newToken(at.Token, at.ExpiresOn), at.RefreshOn, nil
		})
	})
}

// TokenCredential adapts the cache to the Azure SDK: it returns an
// [azcore.TokenCredential] that any Azure SDK client (msgraph-sdk-go,
// azblob, ...) accepts. sources maps the scopes the SDK asks for to a
// cached Source; pass a method value such as app.Source, user.Source or
// managed.Source. A request with claims (a claims challenge the SDK
// received) goes through [Source.TokenWithClaims].
func TokenCredential(sources func(scopes ...string) *Source) azcore.TokenCredential {
	return azCredential{sources: sources}
}

type azCredential struct {
	sources func(scopes ...string) *Source
}

// GetToken implements azcore.TokenCredential.
func (a azCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if a.sources == nil {
		return azcore.AccessToken{}, errors.New("tokencache: TokenCredential: nil sources function")
	}
	src := a.sources(opts.Scopes...)
	var tok *oauth2.Token
	var err error
	if opts.Claims != "" {
		tok, err = src.TokenWithClaims(ctx, opts.Claims)
	} else {
		tok, err = src.TokenContext(ctx)
	}
	if err != nil {
		return azcore.AccessToken{}, err
	}
	return azcore.AccessToken{Token: tok.AccessToken, ExpiresOn: tok.Expiry}, nil
}
