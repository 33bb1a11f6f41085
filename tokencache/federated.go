package tokencache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/modernauth/mailauth/cloud"
)

// Environment variables of workload identity federation, as set by the
// Azure Workload Identity webhook in Kubernetes and read by the Azure SDKs.
const (
	EnvFederatedTokenFile = "AZURE_FEDERATED_TOKEN_FILE"
	EnvClientID           = "AZURE_CLIENT_ID"
	EnvTenantID           = "AZURE_TENANT_ID"
	EnvAuthorityHost      = "AZURE_AUTHORITY_HOST"
)

// Environment variables GitHub Actions sets in a job with the id-token:
// write permission.
const (
	EnvActionsTokenURL   = "ACTIONS_ID_TOKEN_REQUEST_URL"
	EnvActionsTokenToken = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
)

// FederatedAudience is the audience Entra ID expects in a federated
// credential's token.
const FederatedAudience = "api://AzureADTokenExchange"

// FederatedTokenFile returns a credential whose client assertion is the
// content of path: a token issued by a trusted identity provider (a
// Kubernetes projected service account token, for example) that Entra ID
// accepts through a federated identity credential of the app. The file is
// read on the first token request and read again whenever its size or
// modification time changes (Kubernetes rotates it about hourly), so the
// assertion sent is always the current one. No secret is kept on disk.
func FederatedTokenFile(path string) Credential {
	if path == "" {
		return Credential{kind: "federated token file", err: errors.New("tokencache: empty federated token file name")}
	}
	f := &tokenFile{path: path}
	c := Assertion(func(context.Context, AssertionRequest) (string, error) { return f.read() })
	c.fp, c.id = "file:"+path, nil
	c.kind = "federated token file"
	return c
}

// tokenFile caches the content of a rotating token file.
type tokenFile struct {
	path string

	mu      sync.Mutex // guards the fields below
	size    int64
	modTime time.Time
	content string
}

func (f *tokenFile) read() (string, error) {
	fi, err := os.Stat(f.path)
	if err != nil {
		return "", fmt.Errorf("tokencache: federated token file: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.content != "" && fi.Size() == f.size && fi.ModTime().Equal(f.modTime) {
		return f.content, nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		return "", fmt.Errorf("tokencache: federated token file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("tokencache: federated token file %s is empty", f.path)
	}
	f.content, f.size, f.modTime = s, fi.Size(), fi.ModTime()
	return s, nil
}

// WorkloadIdentityFromEnv returns the app-only configuration of Azure
// workload identity from the environment: AZURE_FEDERATED_TOKEN_FILE,
// AZURE_CLIENT_ID, AZURE_TENANT_ID and, when set, AZURE_AUTHORITY_HOST
// (for a sovereign cloud; its Exchange scopes still come from base). base
// zero means [cloud.Global]. It fails when a required variable is unset.
func WorkloadIdentityFromEnv(base cloud.Cloud) (AppOnlyConfig, error) {
	if base.AuthorityHost == "" {
		base = cloud.Global
	}
	file, client, tenant := os.Getenv(EnvFederatedTokenFile), os.Getenv(EnvClientID), os.Getenv(EnvTenantID)
	var missing []string
	for _, v := range [][2]string{{EnvFederatedTokenFile, file}, {EnvClientID, client}, {EnvTenantID, tenant}} {
		if v[1] == "" {
			missing = append(missing, v[0])
		}
	}
	if len(missing) > 0 {
		return AppOnlyConfig{}, fmt.Errorf("tokencache: workload identity: %s not set (is the pod labelled azure.workload.identity/use=true?)", strings.Join(missing, ", "))
	}
	if h := os.Getenv(EnvAuthorityHost); h != "" {
		base.AuthorityHost = strings.TrimRight(h, "/")
	}
	return AppOnlyConfig{Cloud: base, TenantID: tenant, ClientID: client, Credential: FederatedTokenFile(file)}, nil
}

// GitHubActionsOIDC returns a credential whose client assertion is the
// OIDC token of the running GitHub Actions job, fetched from
// ACTIONS_ID_TOKEN_REQUEST_URL with ACTIONS_ID_TOKEN_REQUEST_TOKEN (the job
// needs "permissions: id-token: write") for audience (empty means
// [FederatedAudience]). A new token is fetched for every token request
// (only on a miss); nothing is written to disk. client nil means
// http.DefaultClient.
func GitHubActionsOIDC(audience string, client *http.Client) Credential {
	reqURL, reqToken := os.Getenv(EnvActionsTokenURL), os.Getenv(EnvActionsTokenToken)
	if reqURL == "" || reqToken == "" {
		return Credential{kind: "GitHub Actions OIDC", err: fmt.Errorf("tokencache: %s and %s are not set (does the job have permissions: id-token: write?)", EnvActionsTokenURL, EnvActionsTokenToken)}
	}
	if audience == "" {
		audience = FederatedAudience
	}
	if client == nil {
		client = http.DefaultClient
	}
	u, err := url.Parse(reqURL)
	if err != nil || (u.Scheme != "https" && !loopbackURL(u)) {
		return Credential{kind: "GitHub Actions OIDC", err: fmt.Errorf("tokencache: %s must be an https URL", EnvActionsTokenURL)}
	}
	q := u.Query()
	q.Set("audience", audience)
	u.RawQuery = q.Encode()
	target := u.String()
	c := Assertion(func(ctx context.Context, _ AssertionRequest) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+reqToken)
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return "", transportError(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if resp.StatusCode != http.StatusOK {
			return "", &IdPError{StatusCode: resp.StatusCode, Code: "oidc_token_failed",
				Description: "GitHub Actions refused the OIDC token request", Transient: resp.StatusCode >= 500 || resp.StatusCode == 429,
				Hint: "check that the job has permissions: id-token: write"}
		}
		var v struct {
			Value string `json:"value"`
		}
		if json.Unmarshal(body, &v) != nil || v.Value == "" {
			return "", &IdPError{StatusCode: resp.StatusCode, Code: "invalid_response", Description: "the GitHub Actions OIDC reply holds no token", Transient: true}
		}
		return v.Value, nil
	})
	c.kind = "GitHub Actions OIDC"
	return c
}

func loopbackURL(u *url.URL) bool {
	h := u.Hostname()
	return h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1"
}
