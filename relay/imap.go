package relay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/modernauth/mailauth/internal/core/redact"
)

// maxLiteral bounds a literal in a command before login (a user name or password).
const maxLiteral = 4096

var errSyntax = errors.New("syntax error")

// imapCommand is one command read before login.
type imapCommand struct {
	Tag, Name string
	Args      []string
}

// parseIMAPCommand parses a command line whose literals have already been inlined as
// quoted strings: a tag, a command name and atoms or quoted strings.
func parseIMAPCommand(line string) (imapCommand, error) {
	var cmd imapCommand
	tag, rest, _ := strings.Cut(line, " ")
	if tag == "" || strings.ContainsAny(tag, "(){%*\"\\+") || !printable(tag) {
		return cmd, errSyntax
	}
	cmd.Tag = tag
	name, rest, _ := strings.Cut(rest, " ")
	if name == "" || !printable(name) {
		return cmd, errSyntax
	}
	cmd.Name = strings.ToUpper(name)
	for rest != "" {
		if rest[0] == '"' {
			var b strings.Builder
			i := 1
			for ; i < len(rest); i++ {
				ch := rest[i]
				if ch == '\\' {
					i++
					if i == len(rest) || (rest[i] != '\\' && rest[i] != '"') {
						return cmd, errSyntax
					}
					b.WriteByte(rest[i])
					continue
				}
				if ch == '"' {
					break
				}
				if ch == '\r' || ch == '\n' || ch == 0 {
					return cmd, errSyntax
				}
				b.WriteByte(ch)
			}
			if i >= len(rest) {
				return cmd, errSyntax
			}
			cmd.Args = append(cmd.Args, b.String())
			rest = rest[i+1:]
		} else {
			var a string
			a, rest, _ = strings.Cut(rest, " ")
			if a == "" || strings.ContainsAny(a, "(){\"\\") || !printable(a) {
				return cmd, errSyntax
			}
			cmd.Args = append(cmd.Args, a)
			continue
		}
		if rest == "" {
			break
		}
		if rest[0] != ' ' || len(rest) == 1 {
			return cmd, errSyntax
		}
		rest = rest[1:]
	}
	return cmd, nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// literalSize returns n for a line ending in {n} or {n+}, and whether the client
// waits for a continuation.
func literalSize(line string) (n int, sync, ok bool) {
	if !strings.HasSuffix(line, "}") {
		return 0, false, false
	}
	i := strings.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false, false
	}
	num := line[i+1 : len(line)-1]
	if strings.HasSuffix(num, "+") || strings.HasSuffix(num, "-") {
		num = num[:len(num)-1]
	} else {
		sync = true
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || num == "" || num[0] == '+' {
		return 0, false, false
	}
	return n, sync, true
}

func quoteIMAP(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// readIMAPCommand reads a command line and its literals (inlined as quoted strings).
func readIMAPCommand(br *bufio.Reader, w io.Writer) (string, error) {
	line, err := readLine(br)
	if err != nil {
		return "", err
	}
	for {
		n, sync, ok := literalSize(line)
		if !ok {
			return line, nil
		}
		if n > maxLiteral {
			return "", errLineTooLong
		}
		if sync {
			if _, err := io.WriteString(w, "+ Ready for literal data\r\n"); err != nil {
				return "", err
			}
		}
		lit := make([]byte, n)
		if _, err := io.ReadFull(br, lit); err != nil {
			return "", err
		}
		if bytes.ContainsAny(lit, "\r\n\x00") {
			return "", errSyntax
		}
		next, err := readLine(br)
		if err != nil {
			return "", err
		}
		line = line[:strings.LastIndexByte(line, '{')] + quoteIMAP(string(lit)) + next
		if len(line) > maxLine {
			return "", errLineTooLong
		}
	}
}

var (
	errCancelled = errors.New("authentication cancelled")
	errBadPlain  = errors.New("invalid SASL PLAIN response")
)

// plainResponse returns the credentials of an IMAP AUTHENTICATE PLAIN or POP3 AUTH PLAIN
// command (args: the mechanism and the optional initial response, "=" meaning empty):
// the initial response, or without one the line the client sends after the "+ "
// continuation. It returns errCancelled for "*", an error wrapping errBadPlain for a
// response that is not PLAIN, and an I/O error when the client is gone.
func plainResponse(args []string, say func(string, ...any) error, br *bufio.Reader, tr *tracer) (user, password string, err error) {
	resp := ""
	if len(args) == 2 {
		resp = args[1]
		if resp == "=" {
			resp = ""
		}
	} else {
		if err := say("+ "); err != nil {
			return "", "", err
		}
		if resp, err = readLine(br); err != nil {
			return "", "", err
		}
		tr.line("C:", redact.Mask)
	}
	if resp == "*" {
		return "", "", errCancelled
	}
	if user, password, err = decodePlain(resp); err != nil {
		return "", "", fmt.Errorf("%w: %w", errBadPlain, err)
	}
	return user, password, nil
}

// decodePlain decodes a SASL PLAIN response (RFC 4616): authzid NUL authcid NUL passwd.
// An authzid other than empty or the authcid is refused.
func decodePlain(b64 string) (user, password string, err error) {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", "", errSyntax
	}
	parts := bytes.Split(b, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return "", "", errSyntax
	}
	if len(parts[0]) > 0 && !bytes.Equal(parts[0], parts[1]) {
		return "", "", errors.New("authorization identity not supported")
	}
	return string(parts[1]), string(parts[2]), nil
}

// imapCaps returns the capabilities shown before login on c: the upstream's without
// its AUTH mechanisms, STARTTLS and LOGINDISABLED, plus the local ones.
func (r *Relay) imapCaps(c net.Conn) string {
	r.capMu.Lock()
	up := r.caps[IMAP]
	r.capMu.Unlock()
	if up == nil {
		up = []string{"IMAP4rev1", "LITERAL+", "ID", "ENABLE", "IDLE"}
	}
	out := make([]string, 0, len(up)+4)
	for _, c := range up {
		u := strings.ToUpper(c)
		if strings.HasPrefix(u, "AUTH=") || u == "STARTTLS" || u == "LOGINDISABLED" || u == "SASL-IR" {
			continue
		}
		out = append(out, c)
	}
	if r.canStartTLS(c) {
		out = append(out, "STARTTLS")
	}
	if secure(c) {
		out = append(out, "SASL-IR", "AUTH=PLAIN")
	} else {
		out = append(out, "LOGINDISABLED")
	}
	return strings.Join(out, " ")
}

func (r *Relay) serveIMAP(ctx context.Context, c net.Conn) {
	c.SetDeadline(time.Now().Add(preAuthTimeout))
	br := bufio.NewReaderSize(c, 4096)
	tr := r.newTracer(IMAP, c)
	say := func(format string, a ...any) error {
		s := fmt.Sprintf(format+"\r\n", a...)
		tr.sent(s)
		_, err := io.WriteString(c, s)
		return err
	}
	if say("* OK [CAPABILITY %s] %s ready", r.imapCaps(c), r.o.Hostname) != nil {
		return
	}
	ip := remoteIP(c)
	for {
		line, err := readIMAPCommand(br, writerFunc(func(p []byte) (int, error) { tr.sent(string(p)); return c.Write(p) }))
		if err != nil {
			if errors.Is(err, errSyntax) || errors.Is(err, errLineTooLong) {
				say("* BAD %v", err)
			}
			return
		}
		cmd, err := parseIMAPCommand(line)
		if err != nil {
			tr.line("C:", unparsable(line))
			if say("* BAD Syntax error") != nil {
				return
			}
			continue
		}
		tr.line("C:", imapTraceLine(cmd))
		r.log.Debug("client command", "proto", IMAP, "client", ip.String(), "tag", cmd.Tag, "command", cmd.Name, "args", len(cmd.Args))
		var user, password string
		switch cmd.Name {
		case "CAPABILITY":
			say("* CAPABILITY %s", r.imapCaps(c))
			say("%s OK CAPABILITY completed", cmd.Tag)
			continue
		case "NOOP":
			say("%s OK NOOP completed", cmd.Tag)
			continue
		case "LOGOUT":
			say("* BYE Logging out")
			say("%s OK LOGOUT completed", cmd.Tag)
			return
		case "ID":
			say(`* ID ("name" "mailrelay")`)
			say("%s OK ID completed", cmd.Tag)
			continue
		case "STARTTLS":
			if !r.canStartTLS(c) {
				say("%s BAD STARTTLS not available", cmd.Tag)
				continue
			}
			if say("%s OK Begin TLS negotiation now", cmd.Tag) != nil || br.Buffered() > 0 {
				return
			}
			tc, nbr, err := r.startTLS(ctx, c)
			if err != nil {
				return
			}
			c, br = tc, nbr
			tr.line("--", "TLS started")
			continue
		case "LOGIN":
			if len(cmd.Args) != 2 {
				say("%s BAD LOGIN needs a user name and a password", cmd.Tag)
				continue
			}
			user, password = cmd.Args[0], cmd.Args[1]
		case "AUTHENTICATE":
			if len(cmd.Args) < 1 || len(cmd.Args) > 2 {
				say("%s BAD AUTHENTICATE needs a mechanism", cmd.Tag)
				continue
			}
			if !strings.EqualFold(cmd.Args[0], "PLAIN") {
				say("%s NO [CANNOT] Only AUTHENTICATE PLAIN is supported", cmd.Tag)
				continue
			}
			if !secure(c) {
				say("%s NO [PRIVACYREQUIRED] Use STARTTLS first", cmd.Tag)
				continue
			}
			user, password, err = plainResponse(cmd.Args, say, br, tr)
			switch {
			case errors.Is(err, errCancelled):
				say("%s BAD Authentication cancelled", cmd.Tag)
				continue
			case errors.Is(err, errBadPlain):
				say("%s BAD Invalid SASL PLAIN response", cmd.Tag)
				continue
			case err != nil:
				return
			}
		default:
			say("%s BAD Command not available before login", cmd.Tag)
			continue
		}
		if !secure(c) {
			say("%s NO [PRIVACYREQUIRED] Use STARTTLS first", cmd.Tag)
			continue
		}
		acc := r.login(ctx, IMAP, ip, user, password)
		if acc == nil {
			if say("%s NO [AUTHENTICATIONFAILED] Invalid credentials", cmd.Tag) != nil {
				return
			}
			continue
		}
		if acc.Token == nil {
			say("%s NO [UNAVAILABLE] This account has no IMAP upstream", cmd.Tag)
			continue
		}
		u, text, err := r.loginUpstream(ctx, IMAP, c, acc, tr)
		if err != nil {
			switch upstreamRefusal(err) {
			case "mailbox":
				say("%s NO [AUTHORIZATIONFAILED] The upstream server accepted the relay's token but will not open the mailbox", cmd.Tag)
			case "token":
				say("%s NO [UNAVAILABLE] The upstream server refused the relay's token", cmd.Tag)
			default:
				say("%s NO [UNAVAILABLE] Upstream login failed", cmd.Tag)
			}
			return
		}
		if say("%s %s", cmd.Tag, text) != nil {
			u.c.Close()
			return
		}
		tr.line("--", "logged in; bytes are copied both ways from here on, not traced")
		r.pipe(acc, c, br, u)
		return
	}
}
