// Package cli holds what every example program shares: the common flags (cloud, tenant,
// client, credentials, sign-in flow, cache, mailbox, a token from elsewhere, a CA file,
// verbosity), their environment variables, and the construction of a token source, a TLS
// configuration and a redacted transcript from them.
//
// Every flag NAME can also be set with the environment variable MAILAUTH_NAME, upper-cased
// with dashes turned into underscores (-client-id is MAILAUTH_CLIENT_ID). A flag on the
// command line wins over the environment.
package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// EnvPrefix starts the name of the environment variable of every flag.
const EnvPrefix = "MAILAUTH_"

// EnvName returns the environment variable that sets flag name.
func EnvName(name string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Flags are the common flags of the example programs. Register adds them to a FlagSet.
type Flags struct {
	Cloud           string // global, usgov, usgovdod, china
	AuthorityHost   string // overrides the cloud's Entra ID host
	Tenant          string
	ClientID        string
	ClientSecretEnv string // name of the environment variable holding the client secret
	CertFile        string // PEM or PFX certificate with private key (app-only)
	CertPasswordEnv string // name of the environment variable holding the certificate's password
	DeviceCode      bool   // delegated sign-in with the device code flow
	Browser         bool   // delegated sign-in in the browser (auth code + PKCE)
	User            string // the account to sign in as (delegated); defaults to Mailbox
	Cache           string // file store directory (or file)
	Mailbox         string // the mailbox to open
	AccessTokenFile string // a token obtained elsewhere; "-" reads stdin
	CAFile          string // PEM bundle trusted for every TLS connection
	Verbose         bool   // redacted protocol transcript on stderr
	Timeout         string // overall time limit, a Go duration

	// FederatedTokenFile is -federated-token-file (app-only with workload identity).
	FederatedTokenFile string
	managed            managedFlag // -managed-identity; see ManagedIdentity

	// RefreshMargin is not a flag: a program sets it before Setup to choose how long a
	// token must still be valid to be used (zero: the cache's default of 10 minutes).
	RefreshMargin time.Duration
	// TokenOptional is not a flag: a program that works anonymously (autodiscover) sets it,
	// and Setup then succeeds without any token flags; Env.Source returns nil.
	TokenOptional bool
	// Fresh is not a flag: a program that checks the credential itself (mailcheck) sets it.
	// Then app-only tokens come from Entra ID on every run (the store is neither read nor
	// written) and a delegated account's first token of each scope set is redeemed afresh.
	Fresh bool
	// Program is not a flag: the program's name, for messages such as "run token login".
	// Register sets it from the FlagSet's name.
	Program string

	static bool // -access-token-file is registered
}

// CacheNone is the -cache value that keeps tokens in memory only, for this run.
const CacheNone = "none"

// RegisterOptions chooses which common flags Register adds.
type RegisterOptions struct {
	// NoAccessTokenFile leaves out -access-token-file, for programs that make tokens
	// rather than use them (token).
	NoAccessTokenFile bool
}

// Register adds the common flags to fs and returns where their values land.
func Register(fs *flag.FlagSet) *Flags { return RegisterWith(fs, RegisterOptions{}) }

// RegisterWith is Register with a choice of flags.
func RegisterWith(fs *flag.FlagSet, o RegisterOptions) *Flags {
	f := &Flags{Program: fs.Name(), static: !o.NoAccessTokenFile}
	fs.StringVar(&f.Cloud, "cloud", "global", "Microsoft cloud: global, usgov, usgovdod or china")
	fs.StringVar(&f.AuthorityHost, "authority-host", "", "Entra ID host `URL` overriding the cloud's (a test IdP, ADFS)")
	fs.StringVar(&f.Tenant, "tenant", "", "tenant `ID` or verified domain; consumers for personal Outlook.com accounts")
	fs.StringVar(&f.ClientID, "client-id", "", "application (client) `ID` of the Entra app registration")
	fs.StringVar(&f.ClientSecretEnv, "client-secret-env", "MAILAUTH_CLIENT_SECRET", "`NAME` of the environment variable holding the client secret (app-only); never put a secret on the command line")
	fs.StringVar(&f.CertFile, "cert", "", "certificate `FILE` (PEM with key, or PFX) for app-only sign-in")
	fs.StringVar(&f.CertPasswordEnv, "cert-password-env", "MAILAUTH_CERT_PASSWORD", "`NAME` of the environment variable holding the certificate's password")
	fs.BoolVar(&f.DeviceCode, "device-code", false, "delegated: sign in with the device code flow when not signed in yet")
	fs.BoolVar(&f.Browser, "browser", false, "delegated: sign in in the browser (auth code + PKCE on a loopback redirect) when not signed in yet")
	fs.StringVar(&f.User, "user", "", "delegated: the `ADDR` to sign in as (default: -mailbox)")
	fs.StringVar(&f.Cache, "cache", "", "token cache `FILE-OR-DIR` (file store; default under the user's cache directory), or none to keep tokens in memory for this run only")
	fs.StringVar(&f.Mailbox, "mailbox", "", "mailbox `ADDR` to open: your own, a shared one, or the app-only target")
	if f.static {
		fs.StringVar(&f.AccessTokenFile, "access-token-file", "", "use the access token in `FILE` (obtained elsewhere; - reads stdin) instead of signing in")
	}
	fs.StringVar(&f.CAFile, "ca-file", "", "PEM `FILE` of CA certificates trusted for every TLS connection, the IdP's included")
	fs.BoolVar(&f.Verbose, "v", false, "print a protocol transcript on stderr (tokens and secrets redacted)")
	fs.StringVar(&f.Timeout, "timeout", "2m", "overall time limit (a Go `duration`)")
	registerIdentity(fs, f)
	return f
}

// Parse parses args into fs, then sets every flag not given on the command line from its
// environment variable (see EnvName), if that is set.
func Parse(fs *flag.FlagSet, args []string) error {
	if fs.Usage == nil {
		fs.Usage = func() { Usage(fs, fs.Output(), "") }
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	var err error
	fs.VisitAll(func(fl *flag.Flag) {
		if set[fl.Name] || err != nil {
			return
		}
		if v, ok := os.LookupEnv(EnvName(fl.Name)); ok && v != "" {
			if e := fs.Set(fl.Name, v); e != nil {
				err = fmt.Errorf("environment variable %s: %w", EnvName(fl.Name), e)
			}
		}
	})
	return err
}

// Usage writes a help text listing every flag of fs with its environment variable, then
// the examples, one command line each.
func Usage(fs *flag.FlagSet, w io.Writer, synopsis string, examples ...string) {
	name := fs.Name()
	if synopsis != "" {
		fmt.Fprintf(w, "%s\n\n", synopsis)
	}
	fmt.Fprintf(w, "Usage of %s:\n", name)
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
	for _, f := range flags {
		arg, usage := flag.UnquoteUsage(f)
		line := "  -" + f.Name
		if arg != "" {
			line += " " + arg
		}
		fmt.Fprintln(w, line)
		fmt.Fprintf(w, "    \t%s", strings.ReplaceAll(usage, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "false" {
			fmt.Fprintf(w, " (default %q)", f.DefValue)
		}
		fmt.Fprintf(w, " [env %s]\n", EnvName(f.Name))
	}
	if len(examples) > 0 {
		fmt.Fprintf(w, "\nExamples:\n")
		for _, e := range examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}
