package cli

import (
	"errors"
	"flag"
	"os"

	"golang.org/x/oauth2"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/tokencache"
)

// managedFlag is -managed-identity: a string flag that also records whether it was given,
// since an empty value (-managed-identity=) means the system-assigned identity.
type managedFlag struct {
	value string
	set   bool
}

func (m *managedFlag) String() string { return m.value }

func (m *managedFlag) Set(s string) error {
	m.value, m.set = s, true
	return nil
}

// registerIdentity adds -managed-identity and -federated-token-file to fs.
func registerIdentity(fs *flag.FlagSet, f *Flags) {
	fs.Var(&f.managed, "managed-identity", "use the Azure managed `ID` of the resource this runs on: system (or empty, as in -managed-identity=) for the system-assigned one, a client id, an ARM resource id (/subscriptions/...) or object:OBJECT-ID")
	fs.StringVar(&f.FederatedTokenFile, "federated-token-file", "", "app-only with workload identity federation: the token `FILE` (Kubernetes' projected token, re-read when it rotates) presented as client assertion, with -tenant and -client-id")
}

// ManagedIdentity reports the -managed-identity value and whether it was given.
func (f *Flags) ManagedIdentity() (string, bool) { return f.managed.value, f.managed.set }

// credentialFlagGiven reports whether any flag names a way to get tokens.
func (f *Flags) credentialFlagGiven(secret string) bool {
	return f.CertFile != "" || secret != "" || f.managed.set || f.FederatedTokenFile != "" ||
		f.DeviceCode || f.Browser || f.AccessTokenFile != ""
}

// fromAzureEnv fills -federated-token-file, -tenant, -client-id and -authority-host from
// Azure workload identity's variables when no credential flag was given and
// AZURE_FEDERATED_TOKEN_FILE is set.
func (f *Flags) fromAzureEnv(secret string) {
	if f.credentialFlagGiven(secret) {
		return
	}
	file := os.Getenv(tokencache.EnvFederatedTokenFile)
	if file == "" {
		return
	}
	f.FederatedTokenFile = file
	if f.Tenant == "" {
		f.Tenant = os.Getenv(tokencache.EnvTenantID)
	}
	if f.ClientID == "" {
		f.ClientID = os.Getenv(tokencache.EnvClientID)
	}
	if f.AuthorityHost == "" {
		f.AuthorityHost = os.Getenv(tokencache.EnvAuthorityHost)
	}
}

// setupManaged sets e.Managed for -managed-identity.
func (e *Env) setupManaged(c cloud.Cloud) error {
	cfg := tokencache.ParseManagedIdentity(e.Flags.managed.value)
	cfg.Cloud = c
	m, err := e.Cache.ManagedIdentity(cfg)
	if err != nil {
		return err
	}
	e.Managed = m
	return nil
}

// setupFederated sets e.App for -federated-token-file.
func (e *Env) setupFederated(c cloud.Cloud) error {
	f := e.Flags
	if f.Tenant == "" || f.ClientID == "" {
		return errors.New("-federated-token-file needs -tenant and -client-id (or AZURE_TENANT_ID and AZURE_CLIENT_ID)")
	}
	app, err := e.Cache.AppOnly(tokencache.AppOnlyConfig{Cloud: c, TenantID: f.Tenant, ClientID: f.ClientID,
		Credential: tokencache.FederatedTokenFile(f.FederatedTokenFile)})
	if err != nil {
		return err
	}
	e.App = app
	return nil
}

// ScopedSource returns the token source for explicit scopes (another resource than the
// protocol's), registering its tokens with the Redactor; nil for a static token or no
// credentials.
func (e *Env) ScopedSource(scopes ...string) oauth2.TokenSource {
	switch {
	case e.Managed != nil:
		return &registering{src: e.Managed.Source(scopes...), r: e.Redactor}
	case e.App != nil:
		return &registering{src: e.App.Source(scopes...), r: e.Redactor}
	case e.User != nil:
		return &registering{src: e.User.Source(scopes...), r: e.Redactor}
	}
	return nil
}
