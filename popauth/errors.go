package popauth

import (
	"errors"
	"strings"

	"github.com/modernauth/mailauth/internal/core/sasl"
)

var (

	// ErrNoMechanism is returned when the mechanism asked for in
	// [Options.Mechanism] is not in the server's CAPA SASL list.
	ErrNoMechanism = errors.New("popauth: the server does not advertise the requested SASL mechanism")

	// ErrSTLSUnavailable is returned by [DialStartTLS] and [Client.StartTLS] when
	// the server refuses the STLS command.
	ErrSTLSUnavailable = errors.New("popauth: the server does not offer STLS; use implicit TLS (port 995) instead")

	// ErrBroken is returned by every command after an earlier one was
	// interrupted (context cancelled, deadline passed, connection lost or a
	// malformed reply): the client can no longer tell where one reply ends and
	// the next begins. Close the client and dial again.
	ErrBroken = errors.New("popauth: connection is unusable after an earlier error; dial again")

	// ErrMalformedReply is wrapped by the error returned when the server sends
	// a line that is not a POP3 reply.
	ErrMalformedReply = errors.New("popauth: malformed server reply")

	// ErrBadUsername is returned when the username is empty or contains a
	// character that would corrupt the SASL payload (CR, LF, NUL, 0x01, ',',
	// '=') or uses the retired "delegate\mailbox" form.
	ErrBadUsername = errors.New("popauth: invalid username")

	// ErrTooManyChallenges is wrapped by the error returned when the server
	// keeps sending challenges after the error challenge was answered.
	ErrTooManyChallenges = sasl.ErrTooManyChallenges
)

// RFC 2449 and RFC 3206 response codes, as they appear between the brackets
// of an -ERR reply.
const (
	CodeAuth       = "AUTH"        // RFC 3206: the credentials were rejected
	CodeSysTemp    = "SYS/TEMP"    // RFC 3206: temporary server problem, try later
	CodeSysPerm    = "SYS/PERM"    // RFC 3206: permanent server problem (e.g. no mailbox)
	CodeInUse      = "IN-USE"      // RFC 2449: the mailbox is locked by another session
	CodeLoginDelay = "LOGIN-DELAY" // RFC 2449: logged in too recently
)

// Error is an -ERR reply from the server.
//
// Command is the verb that failed ("STAT", "AUTH", ...); arguments are not
// kept, so an AUTH payload never ends up in an error. Code is the RFC 2449
// response code without brackets ("AUTH", "SYS/TEMP", "IN-USE"), empty when
// the server sent none. Text is the rest of the line.
type Error struct {
	Command string
	Code    string
	Text    string
}

var _ error = (*Error)(nil)

// Error implements the error interface.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("popauth: ")
	if e.Command != "" {
		b.WriteString(e.Command)
		b.WriteString(": ")
	}
	b.WriteString("-ERR")
	if e.Code != "" {
		b.WriteString(" [")
		b.WriteString(e.Code)
		b.WriteString("]")
	}
	if e.Text != "" {
		b.WriteString(" ")
		b.WriteString(e.Text)
	}
	return b.String()
}

// Temporary reports whether the same command may succeed later without any
// change by the caller: the server said SYS/TEMP, IN-USE or LOGIN-DELAY.
func (e *Error) Temporary() bool {
	switch strings.ToUpper(e.Code) {
	case CodeSysTemp, CodeInUse, CodeLoginDelay:
		return true
	}
	return false
}

// Hint explains the reply in plain words, or returns "" when there is
// nothing to add to the server's text.
func (e *Error) Hint() string {
	switch strings.ToUpper(e.Code) {
	case CodeAuth:
		return "the server rejected the credentials"
	case CodeSysTemp:
		return "the server has a temporary problem; try again in a minute"
	case CodeSysPerm:
		return "the server has a permanent problem with this mailbox (it may not exist)"
	case CodeInUse:
		return "another session holds the mailbox lock; close it or wait for it to end"
	case CodeLoginDelay:
		return "the server limits how often this mailbox may log in; wait before trying again"
	}
	return ""
}
