package relay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// popCommand is one POP3 command read before login.
type popCommand struct {
	Name string
	Args []string
}

// parsePOPCommand splits a POP3 command line (RFC 1939: a keyword and arguments
// separated by single spaces; PASS takes the rest of the line, spaces included).
func parsePOPCommand(line string) (popCommand, error) {
	name, rest, _ := strings.Cut(line, " ")
	if name == "" || len(name) > 4 || !printable(name) {
		return popCommand{}, errSyntax
	}
	cmd := popCommand{Name: strings.ToUpper(name)}
	if strings.ContainsAny(rest, "\x00\r\n") {
		return popCommand{}, errSyntax
	}
	if cmd.Name == "PASS" {
		if rest != "" {
			cmd.Args = []string{rest}
		}
		return cmd, nil
	}
	if rest != "" {
		cmd.Args = strings.Split(rest, " ")
		for _, a := range cmd.Args {
			if a == "" || len(a) > 255 && cmd.Name != "AUTH" {
				return popCommand{}, errSyntax
			}
		}
	}
	return cmd, nil
}

// popCaps returns the CAPA lines shown before login on c: the upstream's with its SASL
// line replaced by PLAIN and STLS only when offered locally.
func (r *Relay) popCaps(c net.Conn) []string {
	r.capMu.Lock()
	up := r.caps[POP3]
	r.capMu.Unlock()
	if up == nil {
		up = []string{"TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"}
	}
	out := make([]string, 0, len(up)+3)
	for _, l := range up {
		f := strings.ToUpper(strings.Fields(l + " x")[0])
		if f == "SASL" || f == "STLS" || f == "USER" {
			continue
		}
		out = append(out, l)
	}
	if r.canStartTLS(c) {
		out = append(out, "STLS")
	}
	if secure(c) {
		out = append(out, "USER", "SASL PLAIN")
	}
	return out
}

func (r *Relay) servePOP3(ctx context.Context, c net.Conn) {
	c.SetDeadline(time.Now().Add(preAuthTimeout))
	br := bufio.NewReaderSize(c, 4096)
	tr := r.newTracer(POP3, c)
	say := func(format string, a ...any) error {
		s := fmt.Sprintf(format+"\r\n", a...)
		tr.sent(s)
		_, err := io.WriteString(c, s)
		return err
	}
	if say("+OK %s ready", r.o.Hostname) != nil {
		return
	}
	ip := remoteIP(c)
	var pendingUser string
	for {
		line, err := readLine(br)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				say("-ERR Line too long")
			}
			return
		}
		cmd, err := parsePOPCommand(line)
		if err != nil {
			tr.line("C:", unparsable(line))
			if say("-ERR Syntax error") != nil {
				return
			}
			continue
		}
		tr.line("C:", popTraceLine(cmd))
		r.log.Debug("client command", "proto", POP3, "client", ip.String(), "command", cmd.Name, "args", len(cmd.Args))
		var user, password string
		switch cmd.Name {
		case "CAPA":
			say("+OK Capability list follows")
			for _, l := range r.popCaps(c) {
				say("%s", l)
			}
			say(".")
			continue
		case "NOOP":
			say("+OK")
			continue
		case "QUIT":
			say("+OK Bye")
			return
		case "STLS":
			if !r.canStartTLS(c) {
				say("-ERR STLS not available")
				continue
			}
			if say("+OK Begin TLS negotiation") != nil || br.Buffered() > 0 {
				return
			}
			tc, nbr, err := r.startTLS(ctx, c)
			if err != nil {
				return
			}
			c, br = tc, nbr
			tr.line("--", "TLS started")
			pendingUser = ""
			continue
		case "USER":
			if len(cmd.Args) != 1 {
				say("-ERR USER needs a name")
				continue
			}
			if !secure(c) {
				say("-ERR [AUTH] Plaintext authentication disallowed on non-secure connections")
				continue
			}
			pendingUser = cmd.Args[0]
			say("+OK")
			continue
		case "PASS":
			if pendingUser == "" || len(cmd.Args) != 1 {
				say("-ERR USER first")
				continue
			}
			user, password, pendingUser = pendingUser, cmd.Args[0], ""
		case "AUTH":
			if len(cmd.Args) == 0 {
				say("+OK\r\nPLAIN\r\n.")
				continue
			}
			if !strings.EqualFold(cmd.Args[0], "PLAIN") || len(cmd.Args) > 2 {
				say("-ERR Only AUTH PLAIN is supported")
				continue
			}
			if !secure(c) {
				say("-ERR [AUTH] Plaintext authentication disallowed on non-secure connections")
				continue
			}
			user, password, err = plainResponse(cmd.Args, say, br, tr)
			switch {
			case errors.Is(err, errCancelled):
				say("-ERR Authentication cancelled")
				continue
			case errors.Is(err, errBadPlain):
				say("-ERR Invalid SASL PLAIN response")
				continue
			case err != nil:
				return
			}
		default:
			say("-ERR Command not available before login")
			continue
		}
		if !secure(c) {
			say("-ERR [AUTH] Plaintext authentication disallowed on non-secure connections")
			continue
		}
		acc := r.login(ctx, POP3, ip, user, password)
		if acc == nil {
			if say("-ERR [AUTH] Invalid credentials") != nil {
				return
			}
			continue
		}
		if acc.Token == nil {
			say("-ERR [SYS/PERM] This account has no POP3 upstream")
			continue
		}
		u, _, err := r.loginUpstream(ctx, POP3, c, acc, tr)
		if err != nil {
			switch upstreamRefusal(err) {
			case "mailbox":
				say("-ERR [SYS/PERM] The upstream server accepted the relay's token but will not open the mailbox")
			case "token":
				say("-ERR [SYS/PERM] The upstream server refused the relay's token")
			default:
				say("-ERR [SYS/TEMP] Upstream login failed")
			}
			return
		}
		if say("+OK Logged in") != nil {
			u.c.Close()
			return
		}
		tr.line("--", "logged in; bytes are copied both ways from here on, not traced")
		r.pipe(acc, c, br, u)
		return
	}
}
