// Command mailrelay lets programs that can only log in with a user name and a password
// (multifunction printers, scanners, old scripts) keep using IMAP, POP3 and SMTP after
// basic authentication is switched off.
//
// Local clients log in the old way with a local password (kept only as a hash); mailrelay
// logs in upstream with OAuth 2.0 (XOAUTH2) and then copies bytes both ways. SMTP can go
// to Microsoft Graph sendMail instead (-smtp-upstream graph), for tenants where SMTP AUTH
// is off. Devices on the networks named by -smtp-allow-unauthenticated may send without
// AUTH.
//
//	MAILAUTH_LOCAL_PASSWORD=... mailrelay -tenant contoso.com -client-id ID -device-code \
//	    -mailbox scanner@contoso.com -local-password-env MAILAUTH_LOCAL_PASSWORD \
//	    -imap-listen 127.0.0.1:1143 -imap-upstream outlook.office365.com:993 \
//	    -smtp-listen 127.0.0.1:1587 -smtp-upstream graph
//	mailrelay -config /etc/mailrelay/config.yaml
//	mailrelay hash-password < password.txt
//
// Upstream ports 993, 995 and 465 mean implicit TLS, other ports STARTTLS/STLS; the same
// rule holds for the local listeners when a certificate is in use. Without -tls-cert and
// -tls-key a self-signed certificate is created on first start in -state-dir and its
// SHA-256 fingerprint printed. Every flag can also be set as MAILAUTH_<FLAG> and as a key
// of the -config file (YAML; the keys are the flag names), which adds an "accounts" list
// for several accounts. SIGTERM stops accepting and waits up to -shutdown-timeout for
// sessions to end.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/modernauth/mailauth/cloud"
	"github.com/modernauth/mailauth/graph"
	"github.com/modernauth/mailauth/internal/core/redact"
	"github.com/modernauth/mailauth/internal/tool/cli"
	"github.com/modernauth/mailauth/relay"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, nil))
}

// config is the -config file: flag names as keys, plus accounts.
type config struct {
	Accounts []accountConfig `yaml:"accounts"`
}

// accountConfig is one account of the -config file.
type accountConfig struct {
	User            string `yaml:"user"`
	PasswordHash    string `yaml:"password_hash"`
	Mailbox         string `yaml:"mailbox"`
	SMTP            string `yaml:"smtp"`              // "graph" sends this account's mail with Graph
	AccessTokenFile string `yaml:"access_token_file"` // a token obtained elsewhere, for this account
}

type options struct {
	imapListen, popListen, smtpListen       string
	imapUpstream, popUpstream, smtpUpstream string
	graphURL, localUser, localPasswordEnv   string
	tlsCert, tlsKey, stateDir, allowUnauth  string
	deviceAccount, config                   string
	shutdownTimeout, statsInterval          time.Duration
	failureDelay                            time.Duration
	maxFailures                             int
	plaintext                               bool
}

// run runs mailrelay; ready, when not nil, gets the listeners' addresses once serving.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, ready func(map[relay.Protocol]string)) int {
	if len(args) > 0 && args[0] == "hash-password" {
		return hashPassword(args[1:], stdin, stdout, stderr)
	}
	fs := flag.NewFlagSet("mailrelay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := cli.Register(fs)
	var o options
	fs.StringVar(&o.imapListen, "imap-listen", "", "local IMAP `ADDR` to listen on (993: implicit TLS, other ports: STARTTLS)")
	fs.StringVar(&o.popListen, "pop-listen", "", "local POP3 `ADDR` to listen on (995: implicit TLS, other ports: STLS)")
	fs.StringVar(&o.smtpListen, "smtp-listen", "", "local SMTP submission `ADDR` to listen on (465: implicit TLS, other ports: STARTTLS)")
	fs.StringVar(&o.imapUpstream, "imap-upstream", "", "upstream IMAP `HOST:PORT` (993: implicit TLS, other ports: STARTTLS; default the cloud's)")
	fs.StringVar(&o.popUpstream, "pop-upstream", "", "upstream POP3 `HOST:PORT` (995: implicit TLS, other ports: STLS; default the cloud's)")
	fs.StringVar(&o.smtpUpstream, "smtp-upstream", "", "upstream SMTP `HOST:PORT` (465: implicit TLS, other ports: STARTTLS; default the cloud's), or graph for Microsoft Graph sendMail")
	fs.StringVar(&o.graphURL, "graph-url", "", "Microsoft Graph endpoint `URL` without version (default the cloud's)")
	fs.StringVar(&o.localUser, "local-user", "", "local user `NAME` clients log in with (default: -mailbox)")
	fs.StringVar(&o.localPasswordEnv, "local-password-env", "", "`NAME` of the environment variable holding the local password (hashed at start)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "local TLS certificate `FILE` (PEM); without it and -tls-key a self-signed one is used")
	fs.StringVar(&o.tlsKey, "tls-key", "", "local TLS private key `FILE` (PEM)")
	fs.StringVar(&o.stateDir, "state-dir", "", "`DIR` for the self-signed certificate (default mailrelay under the user's cache directory)")
	fs.StringVar(&o.allowUnauth, "smtp-allow-unauthenticated", "", "`CIDR[,CIDR]` of devices that may send SMTP without AUTH, as -device-account")
	fs.StringVar(&o.deviceAccount, "device-account", "", "local `USER` that devices send as (default: the first account)")
	fs.StringVar(&o.config, "config", "", "YAML `FILE`: flag names as keys, plus an accounts list")
	fs.BoolVar(&o.plaintext, "plaintext", false, "no local TLS: listen in plaintext, only on loopback or (SMTP) a device network")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long to wait for sessions to end on SIGTERM")
	fs.DurationVar(&o.statsInterval, "stats-interval", 15*time.Minute, "how often to log the per-account counters (0: only at exit)")
	fs.DurationVar(&o.failureDelay, "failure-delay", 2*time.Second, "delay before answering a failed login")
	fs.IntVar(&o.maxFailures, "max-failures", 10, "failed logins per client address in 15 minutes before its logins are refused unchecked")
	fs.Usage = func() {
		cli.Usage(fs, stderr, "mailrelay relays IMAP, POP3 and SMTP logins with local passwords to OAuth 2.0 (XOAUTH2), or SMTP to Microsoft Graph.\n\n  mailrelay [flags]\n  mailrelay hash-password [-bcrypt] < password")
	}
	if err := cli.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "mailrelay:", err)
		return 2
	}
	var cfg config
	if o.config != "" {
		var err error
		if cfg, err = loadConfig(fs, o.config); err != nil {
			fmt.Fprintln(stderr, "mailrelay:", err)
			return 2
		}
	}
	if err := serve(ctx, fs, f, &o, cfg, stderr, ready); err != nil {
		fmt.Fprintln(stderr, "mailrelay:", err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// loadConfig reads the YAML file: keys that name flags set them unless given on the
// command line or in the environment.
func loadConfig(fs *flag.FlagSet, path string) (config, error) {
	var cfg config
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, err
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	for k, v := range m {
		if k == "accounts" {
			continue
		}
		name := strings.ReplaceAll(k, "_", "-")
		if fs.Lookup(name) == nil || name == "config" {
			return cfg, fmt.Errorf("%s: unknown key %q", path, k)
		}
		if set[name] || os.Getenv(cli.EnvName(name)) != "" {
			continue
		}
		var s string
		switch v := v.(type) {
		case []any:
			parts := make([]string, len(v))
			for i, p := range v {
				parts[i] = fmt.Sprint(p)
			}
			s = strings.Join(parts, ",")
		default:
			s = fmt.Sprint(v)
		}
		if err := fs.Set(name, s); err != nil {
			return cfg, fmt.Errorf("%s: %s: %w", path, k, err)
		}
	}
	return cfg, nil
}

// upstream applies the port rule: 993, 995 and 465 are implicit TLS.
func upstream(addr string) (relay.Upstream, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return relay.Upstream{}, usagef("upstream %q: %v", addr, err)
	}
	return relay.Upstream{Addr: addr, ImplicitTLS: port == "993" || port == "995" || port == "465"}, nil
}

func implicitPort(addr string) bool {
	_, port, _ := net.SplitHostPort(addr)
	return port == "993" || port == "995" || port == "465"
}

func serve(ctx context.Context, fs *flag.FlagSet, f *cli.Flags, o *options, cfg config, stderr io.Writer, ready func(map[relay.Protocol]string)) error {
	if o.imapListen == "" && o.popListen == "" && o.smtpListen == "" {
		return usagef("give at least one of -imap-listen, -pop-listen and -smtp-listen")
	}
	f.RefreshMargin = 10 * time.Minute
	// The single account of the flags, or the accounts of the config file.
	accounts := cfg.Accounts
	var localSecret redact.Redactor
	if len(accounts) == 0 {
		if f.Mailbox == "" {
			return usagef("-mailbox is required (or accounts in -config)")
		}
		if o.localPasswordEnv == "" {
			return usagef("-local-password-env is required (or accounts in -config)")
		}
		pw := os.Getenv(o.localPasswordEnv)
		if pw == "" {
			return usagef("environment variable %s (-local-password-env) is empty", o.localPasswordEnv)
		}
		localSecret.Add(pw) // masked wherever it might show, as a token would be
		hash, err := relay.HashPassword(pw)
		if err != nil {
			return err
		}
		user := o.localUser
		if user == "" {
			user = f.Mailbox
		}
		accounts = []accountConfig{{User: user, PasswordHash: hash, Mailbox: f.Mailbox}}
	}
	ro := &relay.Options{FailureDelay: o.failureDelay, MaxFailures: o.maxFailures, DeviceAccount: o.deviceAccount}
	var firstEnv *cli.Env
	redactors := []func(string) string{localSecret.String}
	for _, a := range accounts {
		if a.User == "" || a.PasswordHash == "" {
			return usagef("every account needs user and password_hash")
		}
		if a.Mailbox == "" {
			a.Mailbox = a.User
		}
		af := *f
		af.Mailbox = a.Mailbox
		if a.AccessTokenFile != "" {
			af.AccessTokenFile = a.AccessTokenFile
		}
		env, err := cli.Setup(&af, stderr)
		if err != nil {
			return usageError{fmt.Errorf("account %s: %w", a.User, err)}
		}
		if err := env.EnsureSignedIn(ctx); err != nil {
			return fmt.Errorf("account %s: %s", a.User, env.Redactor.String(err.Error()))
		}
		if firstEnv == nil {
			firstEnv = env
		}
		redactors = append(redactors, env.Redactor.String)
		acc := relay.Account{User: a.User, PasswordHash: a.PasswordHash, Mailbox: a.Mailbox}
		if env.Mode() != cli.ModeStatic || !strings.EqualFold(a.SMTP, "graph") {
			acc.Token = env.Source(cloud.IMAP)
		}
		if strings.EqualFold(a.SMTP, "graph") || strings.EqualFold(o.smtpUpstream, "graph") {
			src := env.Source(cloud.Graph)
			if env.Mode() == cli.ModeStatic {
				src = env.Source(cloud.IMAP) // the one token from the file
			}
			gc, err := graph.New(&graph.Options{URL: o.graphURL, Cloud: env.Cloud, Token: src, Mailbox: a.Mailbox,
				Transport: env.HTTP.Transport, Logger: env.Logger})
			if err != nil {
				return fmt.Errorf("account %s: %w", a.User, err)
			}
			acc.Graph = gc
		}
		ro.Accounts = append(ro.Accounts, acc)
	}
	env := firstEnv
	ro.TLSConfig = env.TLS
	var err error
	up := func(addr, def string) (relay.Upstream, error) {
		if addr == "" {
			addr = def
		}
		return upstream(addr)
	}
	if o.imapListen != "" {
		if ro.IMAP, err = up(o.imapUpstream, env.Cloud.IMAPAddr()); err != nil {
			return err
		}
	}
	if o.popListen != "" {
		if ro.POP3, err = up(o.popUpstream, env.Cloud.POPAddr()); err != nil {
			return err
		}
	}
	if o.smtpListen != "" && !strings.EqualFold(o.smtpUpstream, "graph") {
		if ro.SMTP, err = up(o.smtpUpstream, env.Cloud.SMTPAddr()); err != nil {
			return err
		}
	}
	for _, c := range strings.Split(o.allowUnauth, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return usagef("-smtp-allow-unauthenticated: %v", err)
		}
		ro.DeviceNetworks = append(ro.DeviceNetworks, p.Masked())
	}
	// Logs go through every account's redactor: no token can reach them.
	level := slog.LevelInfo
	if f.Verbose {
		level = slog.LevelDebug
	}
	logw := &redactingWriter{w: stderr, redact: redactors}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: level}))
	ro.Logger = log
	if f.Verbose {
		ro.DebugWriter = logw // the session transcripts, redacted once more with every account's secrets
	}

	if !o.plaintext {
		cert, err := localCertificate(o, fmt.Fprintf, stderr)
		if err != nil {
			return err
		}
		ro.ServerTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	r, err := relay.New(ro)
	if err != nil {
		return usageError{err}
	}
	listeners := map[relay.Protocol]net.Listener{}
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	for p, addr := range map[relay.Protocol]string{relay.IMAP: o.imapListen, relay.POP3: o.popListen, relay.SMTP: o.smtpListen} {
		if addr == "" {
			continue
		}
		l, err := r.Listen(p, addr, implicitPort(addr))
		if err != nil {
			closeAll()
			return usageError{err}
		}
		listeners[p] = l
	}
	addrs := map[relay.Protocol]string{}
	var wg sync.WaitGroup
	errc := make(chan error, len(listeners))
	for p, l := range listeners {
		addrs[p] = l.Addr().String()
		log.Info("listening", "proto", p, "addr", l.Addr().String(), "implicit_tls", implicitPort(l.Addr().String()))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Serve(ctx, p, l); err != nil && !errors.Is(err, relay.ErrClosed) {
				errc <- err
			}
		}()
	}
	if ready != nil {
		ready(addrs)
	}
	var tick <-chan time.Time
	if o.statsInterval > 0 {
		t := time.NewTicker(o.statsInterval)
		defer t.Stop()
		tick = t.C
	}
	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case serveErr = <-errc:
			break loop
		case <-tick:
			logStats(log, r)
		}
	}
	log.Info("shutting down", "timeout", o.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if err := r.Shutdown(sctx); err != nil {
		log.Warn("sessions cut at the shutdown timeout")
	}
	wg.Wait()
	logStats(log, r)
	return serveErr
}

func logStats(log *slog.Logger, r *relay.Relay) {
	for user, s := range r.Stats() {
		log.Info("stats", "user", user, "sessions", s.Sessions, "messages", s.Messages, "bytes_in", s.BytesIn, "bytes_out", s.BytesOut, "failures", s.Failures)
	}
}

// localCertificate loads -tls-cert and -tls-key, or the self-signed certificate of
// -state-dir (created on first start), and prints its fingerprint.
func localCertificate(o *options, printf func(io.Writer, string, ...any) (int, error), stderr io.Writer) (tls.Certificate, error) {
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return tls.Certificate{}, usagef("give both -tls-cert and -tls-key, or neither")
	}
	certFile, keyFile := o.tlsCert, o.tlsKey
	selfSigned := certFile == ""
	if selfSigned {
		dir := o.stateDir
		if dir == "" {
			base, err := cli.DefaultCacheDir()
			if err != nil {
				return tls.Certificate{}, err
			}
			dir = filepath.Join(base, "mailrelay")
		}
		certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	}
	var hosts []string
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	hosts = append(hosts, "localhost", "127.0.0.1", "::1")
	cert, created, err := relay.LoadOrCreateCertificate(certFile, keyFile, hosts)
	if err != nil {
		return tls.Certificate{}, err
	}
	switch {
	case created:
		printf(stderr, "mailrelay: created a self-signed certificate %s\n", certFile)
		fallthrough
	case selfSigned:
		printf(stderr, "mailrelay: certificate SHA-256 fingerprint %s\n", relay.Fingerprint(cert))
	}
	return cert, nil
}

// redactingWriter masks every secret any account's redactor knows.
type redactingWriter struct {
	mu     sync.Mutex
	w      io.Writer
	redact []func(string) string
}

func (rw *redactingWriter) Write(p []byte) (int, error) {
	s := string(p)
	for _, r := range rw.redact {
		s = r(s)
	}
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if _, err := io.WriteString(rw.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}

// hashPassword reads a password (the first line of stdin) and prints its hash.
func hashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mailrelay hash-password", flag.ContinueOnError)
	fs.SetOutput(stderr)
	useBcrypt := fs.Bool("bcrypt", false, "print a bcrypt hash instead of argon2id")
	cost := fs.Int("bcrypt-cost", 12, "bcrypt cost (4 to 31)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "mailrelay hash-password reads a password from the first line of standard input and prints its hash for password_hash in the -config file.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintln(stderr, "mailrelay:", err)
		return 1
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		fmt.Fprintln(stderr, "mailrelay: empty password on standard input")
		return 2
	}
	var hash string
	if *useBcrypt {
		b, err := bcrypt.GenerateFromPassword([]byte(pw), *cost)
		if err != nil {
			fmt.Fprintln(stderr, "mailrelay:", err)
			return 1
		}
		hash = string(b)
	} else if hash, err = relay.HashPassword(pw); err != nil {
		fmt.Fprintln(stderr, "mailrelay:", err)
		return 1
	}
	fmt.Fprintln(stdout, hash)
	return 0
}
