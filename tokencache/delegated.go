package tokencache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/cloud"
)

// DelegatedConfig describes one user account signed in to a public client
// app registration (delegated permissions such as IMAP.AccessAsUser.All).
type DelegatedConfig struct {
	// Cloud gives the authority host and the default sign-in scopes.
	// Zero means [cloud.Global].
	Cloud cloud.Cloud
	// TenantID is the directory (tenant) id, a verified domain,
	// "organizations", or "consumers" for a personal Microsoft account
	// (outlook.com, hotmail.com, live.com; the global cloud's scopes then
	// become [cloud.Consumers]' ones). Required.
	TenantID string
	// ClientID is the application (client) id of a public client app
	// registration. Required.
	ClientID string
	// Account is the user principal name (alice@contoso.com). It names the
	// partition, is sent as the login hint, and a sign-in as anybody else
	// is refused. Required.
	Account string
	// Scopes are asked for at sign-in. Empty means the delegated scopes of
	// every Exchange protocol of Cloud (IMAP, POP, SMTP, EWS, EAS) plus
	// offline_access, so one sign-in serves every protocol.
	Scopes []string
}

// User issues delegated tokens for one account. It is safe for concurrent
// use. Create it with [Cache.Delegated].
type User struct {
	c         *Cache
	p         *partition
	client    public.Client
	hook      *msalHook
	authority string
	env       string // MSAL environment: the authority's host
	tenant    string
	clientID  string
	account   string
	scopes    []string
}

// DeviceCode is what a person needs to finish a device-code sign-in: open
// VerificationURL on any device and enter UserCode. Message is the
// identity provider's ready-made sentence saying exactly that.
type DeviceCode struct {
	UserCode        string
	VerificationURL string
	Message         string
	ExpiresAt       time.Time
}

// Delegated returns the [User] for cfg. Calls with the same cloud, tenant,
// client and account return the same User, backed by one MSAL public
// client. Delegated does no I/O; a User whose partition holds a refresh
// token in the store (from an earlier run) needs no new sign-in.
func (c *Cache) Delegated(cfg DelegatedConfig) (*User, error) {
	if cfg.Cloud.AuthorityHost == "" {
		cfg.Cloud = cloud.Global
	}
	cfg.Cloud = cfg.Cloud.ForTenant(cfg.TenantID) // "consumers": Outlook.com scopes
	switch {
	case cfg.TenantID == "":
		return nil, errors.New("tokencache: DelegatedConfig.TenantID must be set (a tenant id, domain or \"organizations\")")
	case cfg.ClientID == "":
		return nil, errors.New("tokencache: DelegatedConfig.ClientID must be set")
	case cfg.Account == "":
		return nil, errors.New("tokencache: DelegatedConfig.Account must be set (the user principal name)")
	}
	scopes := cfg.Scopes
	if len(scopes) == 0 {
		seen := map[string]bool{}
		for _, p := range cloud.Protocols() {
			for _, s := range cfg.Cloud.DelegatedScopes(p) {
				if !seen[s] {
					seen[s] = true
					scopes = append(scopes, s)
				}
			}
		}
	}
	authority := cfg.Cloud.Authority(cfg.TenantID)
	au, err := url.Parse(authority)
	if err != nil || au.Host == "" {
		return nil, fmt.Errorf("tokencache: bad authority host %q", cfg.Cloud.AuthorityHost)
	}
	name := PartitionName(cfg.Cloud.AuthorityHost, cfg.TenantID, cfg.ClientID, cfg.Account)
	v, err := c.partition(name, func() (any, error) {
		hook := &msalHook{}
		client, err := public.New(cfg.ClientID,
			public.WithAuthority(authority),
			public.WithHTTPClient(c.http),
			public.WithInstanceDiscovery(false),
			public.WithClientCapabilities(c.caps),
			public.WithCache(hook))
		if err != nil {
			return nil, fmt.Errorf("tokencache: creating MSAL client: %w", classifyMSAL(err))
		}
		return &User{c: c, p: newPartition(c, name), client: client, hook: hook, authority: authority,
			env: au.Host, tenant: cfg.TenantID, clientID: cfg.ClientID, account: cfg.Account,
			scopes: append([]string(nil), scopes...)}, nil
	})
	if err != nil {
		return nil, err
	}
	u, ok := v.(*User)
	if !ok {
		return nil, fmt.Errorf("tokencache: partition %s is already used by an app", name)
	}
	return u, nil
}

// String names the account without any token.
func (u *User) String() string {
	return "tokencache.User{account: " + u.account + ", tenant: " + u.tenant + ", client: " + u.clientID + "}"
}

// GoString is like String.
func (u *User) GoString() string { return u.String() }

// Format prints the String form for every verb.
func (u *User) Format(f fmt.State, _ rune) { fmt.Fprint(f, u.String()) }

// LogValue implements [slog.LogValuer].
func (u *User) LogValue() slog.Value { return slog.StringValue(u.String()) }

// Source returns the cached source of the account's tokens for scopes
// (for example cloud.Global.DelegatedScopes(cloud.IMAP)). On a miss it
// redeems the stored refresh token (rotating it) through MSAL; with no
// refresh token it fails with [ErrNotSignedIn]. It does no I/O.
func (u *User) Source(scopes ...string) *Source {
	scopes = append([]string(nil), scopes...)
	if len(scopes) == 0 {
		scopes = u.scopes
	}
	k := key("user", u.authority, u.tenant, u.clientID, u.account, scopes)
	return u.c.source(k, func() fetcher {
		return claimsFetcher(func(ctx context.Context, stale *oauth2.Token, claims string) (*oauth2.Token, time.Time, error) {
			return u.p.fetchOpt(ctx, k, stale, claims != "", func(ctx context.Context) (*oauth2.Token, time.Time, error) {
				return u.redeem(ctx, scopes, claims)
			})
		})
	})
}

// SignedIn reports whether the store holds a refresh token for the account.
// It reads the store (I/O for a file or Redis store); a store that cannot
// be read is an error (for a [FileStore]: [ErrPermissions], [ErrCorrupt],
// [ErrSymlink], [ErrNotRegularFile]), not "signed out".
func (u *User) SignedIn(ctx context.Context) (bool, error) {
	unlock, err := u.p.lockLocal(ctx)
	if err != nil {
		return false, err
	}
	defer unlock()
	if err := u.p.load(ctx); err != nil {
		return false, fmt.Errorf("tokencache: reading the stored record of %s: %w", u.account, err)
	}
	return u.p.data.MSAL != nil && u.p.data.Home != "", nil
}

// redeem runs MSAL's silent flow on the stored MSAL cache without access
// tokens, so the refresh token is redeemed (and rotated). The partition is
// locked and loaded by the caller.
func (u *User) redeem(ctx context.Context, scopes []string, claims string) (*oauth2.Token, time.Time, error) {
	if u.p.data.MSAL == nil || u.p.data.Home == "" {
		if err := u.p.loadErr; err != nil && !errors.Is(err, ErrCorrupt) {
			// The store could not be read: say why, not "not signed in".
			return nil, time.Time{}, fmt.Errorf("tokencache: reading the stored record of %s: %w", u.account, err)
		}
		return nil, time.Time{}, ErrNotSignedIn
	}
	u.checkIdle(ctx, u.p.data)
	u.hook.in = withoutAccessTokens(u.p.data.MSAL)
	u.hook.out = nil
	defer func() { u.hook.in, u.hook.out = nil, nil }()
	acct, err := u.msalAccount(ctx, u.p.data.Home)
	if err != nil {
		return nil, time.Time{}, err
	}
	opts := []public.AcquireSilentOption{public.WithSilentAccount(acct)}
	if claims != "" {
		opts = append(opts, public.WithClaims(claims))
	}
	res, err := u.client.AcquireTokenSilent(ctx, msalScopes(scopes), opts...)
	if err != nil {
		return nil, time.Time{}, classifyMSAL(err)
	}
	if u.hook.out != nil {
		u.p.data.MSAL = u.hook.out
	}
	return newToken(res.AccessToken, res.ExpiresOn), res.Metadata.RefreshOn, nil
}

func (u *User) msalAccount(ctx context.Context, home string) (public.Account, error) {
	accts, err := u.client.Accounts(ctx)
	if err != nil {
		return public.Account{}, classifyMSAL(err)
	}
	for _, a := range accts {
		if a.HomeAccountID == home {
			return a, nil
		}
	}
	return public.Account{HomeAccountID: home, Environment: u.env, Realm: u.tenant}, nil
}

// SignInDeviceCode signs the account in with the device-code flow. It asks
// the identity provider for a code, hands it to prompt (which should show
// it to the person and return at once), then waits until the person has
// signed in on another device, the code expires or ctx ends. On success the
// refresh token is stored; any later token comes without a sign-in.
func (u *User) SignInDeviceCode(ctx context.Context, prompt func(DeviceCode)) error {
	if prompt == nil {
		return errors.New("tokencache: SignInDeviceCode needs a prompt function")
	}
	return u.signIn(ctx, func(ctx context.Context) (public.AuthResult, error) {
		dc, err := u.client.AcquireTokenByDeviceCode(ctx, msalScopes(u.scopes))
		if err != nil {
			return public.AuthResult{}, err
		}
		prompt(DeviceCode{UserCode: dc.Result.UserCode, VerificationURL: dc.Result.VerificationURL,
			Message: dc.Result.Message, ExpiresAt: dc.Result.ExpiresOn})
		return dc.AuthenticationResult(ctx)
	})
}

// SignInBrowser signs the account in with the authorization-code flow and
// PKCE: it listens on a loopback redirect URI (http://localhost:PORT),
// passes the sign-in URL to open, and waits for the identity provider to
// redirect the browser back, or for ctx to end. A nil open means the
// system's default browser. Tests and headless tools pass their own open.
func (u *User) SignInBrowser(ctx context.Context, open func(url string) error) error {
	return u.signIn(ctx, func(ctx context.Context) (public.AuthResult, error) {
		opts := []public.AcquireInteractiveOption{public.WithLoginHint(u.account)}
		if open != nil {
			opts = append(opts, public.WithOpenURL(open))
		}
		return u.client.AcquireTokenInteractive(ctx, msalScopes(u.scopes), opts...)
	})
}

// ImportRefreshToken signs the account in with a refresh token obtained
// elsewhere (another tool's cache, a script being migrated). The token is
// redeemed at once, so a dead one is reported now, and the rotated refresh
// token is stored; the imported one is then spent.
func (u *User) ImportRefreshToken(ctx context.Context, refreshToken string) error {
	if refreshToken == "" {
		return errors.New("tokencache: empty refresh token")
	}
	synthetic := "import." + u.clientID
	return u.signIn(ctx, func(ctx context.Context) (public.AuthResult, error) {
		u.hook.in = importBlob(synthetic, u.env, u.tenant, u.clientID, u.account, refreshToken)
		acct := public.Account{HomeAccountID: synthetic, Environment: u.env, Realm: u.tenant, PreferredUsername: u.account}
		res, err := u.client.AcquireTokenSilent(ctx, msalScopes(u.scopes), public.WithSilentAccount(acct))
		if err == nil && u.hook.out != nil {
			u.hook.out = dropHome(u.hook.out, synthetic)
		}
		return res, err
	})
}

// signIn runs an interactive MSAL flow with the partition locked in this
// process, checks that the right account signed in, and stores the
// result under the cross-process lock.
func (u *User) signIn(ctx context.Context, flow func(ctx context.Context) (public.AuthResult, error)) error {
	unlock, err := u.p.lockLocal(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	u.hook.in, u.hook.out = nil, nil
	defer func() { u.hook.in, u.hook.out = nil, nil }()
	res, err := flow(ctx)
	if err != nil {
		return fmt.Errorf("tokencache: sign-in of %s failed: %w", u.account, classifyMSAL(err))
	}
	if got := res.Account.PreferredUsername; got != "" && !strings.EqualFold(got, u.account) {
		return fmt.Errorf("tokencache: signed in as %s, but this source is for %s; sign in with the right account", got, u.account)
	}
	blob := u.hook.out
	if blob == nil {
		return errors.New("tokencache: sign-in returned no refresh token (was offline_access granted?)")
	}
	tok := newToken(res.AccessToken, res.ExpiresOn)
	k := key("user", u.authority, u.tenant, u.clientID, u.account, u.scopes)
	storeUnlock, err := u.p.lockStore(ctx)
	if err != nil {
		return err
	}
	defer storeUnlock()
	u.p.load(ctx)
	home := res.Account.HomeAccountID
	refreshOn := res.Metadata.RefreshOn
	now := u.c.now()
	prevData, prevGen, prevDirty := u.p.data, u.p.gen, u.p.dirty
	if err := u.p.save(ctx, func(d *partitionData) {
		d.MSAL, d.Home = blob, home
		d.SignedIn, d.Redeemed = now, now
		d.Tokens = map[string]storedToken{k: {AccessToken: tok.AccessToken, TokenType: tok.TokenType, Expiry: tok.Expiry, RefreshOn: refreshOn}}
	}); err != nil {
		// The sign-in worked but the refresh token is not stored: the next
		// run would find no account. Say so rather than succeed, and keep
		// what the store holds.
		u.p.data, u.p.gen, u.p.dirty = prevData, prevGen, prevDirty
		u.c.forget("user", u.authority, u.tenant, u.clientID, u.account)
		return fmt.Errorf("tokencache: %s signed in, but storing the refresh token failed: %w", u.account, err)
	}
	// Sources of this account drop what they had: the account may have
	// changed, and the first token is ready in the store.
	u.c.forget("user", u.authority, u.tenant, u.clientID, u.account)
	return nil
}

// SignOut deletes the account's refresh and access tokens from the store
// and from memory. Later token requests fail with [ErrNotSignedIn] until
// the account signs in again. The refresh token is not revoked at the
// identity provider (Entra has no revocation endpoint for it).
func (u *User) SignOut(ctx context.Context) error {
	unlock, err := u.p.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if err := u.c.store.Delete(ctx, u.p.name); err != nil {
		return fmt.Errorf("tokencache: sign-out: deleting the stored record: %w", err)
	}
	u.p.gen, u.p.data = 0, partitionData{}
	u.c.forget("user", u.authority, u.tenant, u.clientID, u.account)
	return nil
}

// forget drops the cached tokens of every key of one account.
func (c *Cache) forget(kind, authority, tenant, client, account string) {
	prefix := strings.Join([]string{kind, strings.ToLower(authority), strings.ToLower(tenant), client, strings.ToLower(account)}, "\x00") + "\x00"
	c.mu.Lock()
	var es []*entry
	for k, e := range c.entries {
		if strings.HasPrefix(k, prefix) {
			es = append(es, e)
		}
	}
	c.mu.Unlock()
	for _, e := range es {
		e.mu.Lock()
		if st := e.cur.Load(); st != nil {
			e.dropped = st.tok
		}
		e.cur.Store(nil)
		e.mu.Unlock()
	}
}

// importBlob builds a minimal MSAL cache holding one refresh token for a
// placeholder account; MSAL's silent flow redeems it and stores the real
// account from the reply.
func importBlob(home, env, realm, clientID, username, rt string) []byte {
	type m = map[string]any
	blob := m{
		"RefreshToken": m{
			strings.ToLower(home + "-" + env + "-refreshtoken-" + clientID + "--"): m{
				"home_account_id": home, "environment": env, "credential_type": "RefreshToken",
				"client_id": clientID, "secret": rt,
			},
		},
		"Account": m{
			strings.ToLower(home + "-" + env + "-" + realm): m{
				"home_account_id": home, "environment": env, "realm": realm,
				"local_account_id": home, "authority_type": "MSSTS", "username": username,
			},
		},
		"AppMetadata": m{
			strings.ToLower("appmetadata-" + env + "-" + clientID): m{"client_id": clientID, "environment": env},
		},
	}
	b, _ := json.Marshal(blob)
	return b
}

// dropHome removes the placeholder account's entries from an MSAL cache.
func dropHome(blob []byte, home string) []byte {
	var c map[string]map[string]json.RawMessage
	if json.Unmarshal(blob, &c) != nil {
		return blob
	}
	for _, section := range c {
		for k, v := range section {
			var item struct {
				Home string `json:"home_account_id"`
			}
			if json.Unmarshal(v, &item) == nil && item.Home == home {
				delete(section, k)
			}
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return blob
	}
	return b
}

// msalScopes drops the OpenID Connect scopes MSAL adds by itself
// (openid, profile, offline_access); MSAL reports them as declined when a
// caller asks for them explicitly.
func msalScopes(scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		switch s {
		case "openid", "profile", "offline_access":
		default:
			out = append(out, s)
		}
	}
	return out
}
