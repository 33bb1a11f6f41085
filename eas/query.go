package eas

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// commandCodes are the command codes of the base64-encoded query value,
// [MS-ASHTTP] 2.2.1.1.1.1.2.
var commandCodes = map[string]byte{
	"Sync": 0, "SendMail": 1, "SmartForward": 2, "SmartReply": 3, "GetAttachment": 4,
	"FolderSync": 9, "FolderCreate": 10, "FolderDelete": 11, "FolderUpdate": 12, "MoveItems": 13,
	"GetItemEstimate": 14, "MeetingResponse": 15, "Search": 16, "Settings": 17, "Ping": 18,
	"ItemOperations": 19, "Provision": 20, "ResolveRecipients": 21, "ValidateCert": 22,
}

// Command parameter tags of the base64 form, [MS-ASHTTP] 2.2.1.1.1.1.3.
const paramUser = 8

// queryIdentity is what every request's query carries besides the command.
type queryIdentity struct {
	user, deviceID, deviceType string
	version                    string // "14.1"
	policyKey                  string // "" before provisioning
	locale                     uint16
}

// plainQuery builds the plain-text query, [MS-ASHTTP] 2.2.1.1.1.2, with the
// parameters in the order the specification's examples use.
func plainQuery(cmd string, id queryIdentity) string {
	var b strings.Builder
	b.WriteString("Cmd=")
	b.WriteString(url.QueryEscape(cmd))
	b.WriteString("&User=")
	b.WriteString(url.QueryEscape(id.user))
	b.WriteString("&DeviceId=")
	b.WriteString(url.QueryEscape(id.deviceID))
	b.WriteString("&DeviceType=")
	b.WriteString(url.QueryEscape(id.deviceType))
	return b.String()
}

// base64Query builds the base64-encoded query value, [MS-ASHTTP]
// 2.2.1.1.1.1: protocol version, command code, locale (little-endian),
// device ID, policy key (0 or 4 bytes, little-endian), device type, then
// command parameters as tag, length, value. The result uses the standard
// base64 alphabet with padding (RFC 2045), and is safe to put in a URL
// once '+', '/' and '=' are escaped.
func base64Query(cmd string, id queryIdentity) (string, error) {
	code, ok := commandCodes[cmd]
	if !ok {
		return "", fmt.Errorf("eas: command %q has no base64 query code", cmd)
	}
	ver, err := versionByte(id.version)
	if err != nil {
		return "", err
	}
	if len(id.deviceID) > 255 || len(id.deviceType) > 255 || len(id.user) > 255 {
		return "", fmt.Errorf("eas: DeviceId, DeviceType and User must be at most 255 bytes for the base64 query")
	}
	buf := make([]byte, 0, 16+len(id.deviceID)+len(id.deviceType)+len(id.user))
	buf = append(buf, ver, code)
	buf = binary.LittleEndian.AppendUint16(buf, id.locale)
	buf = append(buf, byte(len(id.deviceID)))
	buf = append(buf, id.deviceID...)
	if id.policyKey == "" {
		buf = append(buf, 0)
	} else {
		k, err := strconv.ParseUint(id.policyKey, 10, 32)
		if err != nil {
			return "", fmt.Errorf("eas: policy key %q is not a 32-bit unsigned integer, which the base64 query needs; use the plain query", id.policyKey)
		}
		buf = append(buf, 4)
		buf = binary.LittleEndian.AppendUint32(buf, uint32(k))
	}
	buf = append(buf, byte(len(id.deviceType)))
	buf = append(buf, id.deviceType...)
	if id.user != "" {
		buf = append(buf, paramUser, byte(len(id.user)))
		buf = append(buf, id.user...)
	}
	return url.QueryEscape(base64.StdEncoding.EncodeToString(buf)), nil
}

// versionByte turns "14.1" into 141.
func versionByte(v string) (byte, error) {
	major, minor, ok := strings.Cut(v, ".")
	a, err1 := strconv.Atoi(major)
	b, err2 := strconv.Atoi(minor)
	if !ok || err1 != nil || err2 != nil || a < 0 || b < 0 || b > 9 || a*10+b > 255 {
		return 0, fmt.Errorf("eas: protocol version %q is not of the form major.minor", v)
	}
	return byte(a*10 + b), nil
}

// BaseQuery is the decoded form of a base64-encoded query value, as a
// server (or a test) sees it. See [ParseBase64Query].
type BaseQuery struct {
	ProtocolVersion string // "14.1"
	Command         string // "Sync"
	Locale          uint16
	DeviceID        string
	PolicyKey       string // "" when absent
	DeviceType      string
	// Params holds the command parameters by tag ([MS-ASHTTP]
	// 2.2.1.1.1.1.3: 0 AttachmentName ... 7 Options, 8 User).
	Params map[byte]string
}

// ParseBase64Query decodes a base64-encoded query value ([MS-ASHTTP]
// 2.2.1.1.1.1), such as the raw query of
// "/Microsoft-Server-ActiveSync?jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l". It
// accepts the value URL-escaped or not. It does no I/O and never panics.
func ParseBase64Query(q string) (*BaseQuery, error) {
	if u, err := url.QueryUnescape(q); err == nil {
		q = u
	}
	b, err := base64.StdEncoding.DecodeString(q)
	if err != nil {
		return nil, fmt.Errorf("eas: base64 query: %w", err)
	}
	r := &BaseQuery{Params: map[byte]string{}}
	if len(b) < 4 {
		return nil, fmt.Errorf("eas: base64 query: %d bytes, need at least 4", len(b))
	}
	r.ProtocolVersion = strconv.Itoa(int(b[0])/10) + "." + strconv.Itoa(int(b[0])%10)
	r.Command = "#" + strconv.Itoa(int(b[1]))
	for name, c := range commandCodes {
		if c == b[1] {
			r.Command = name
		}
	}
	r.Locale = binary.LittleEndian.Uint16(b[2:4])
	p := b[4:]
	field := func(what string) (string, error) {
		if len(p) < 1 || len(p) < 1+int(p[0]) {
			return "", fmt.Errorf("eas: base64 query: %s truncated", what)
		}
		s := string(p[1 : 1+int(p[0])])
		p = p[1+int(p[0]):]
		return s, nil
	}
	if r.DeviceID, err = field("device ID"); err != nil {
		return nil, err
	}
	if len(p) < 1 {
		return nil, fmt.Errorf("eas: base64 query: policy key truncated")
	}
	switch p[0] {
	case 0:
		p = p[1:]
	case 4:
		if len(p) < 5 {
			return nil, fmt.Errorf("eas: base64 query: policy key truncated")
		}
		r.PolicyKey = strconv.FormatUint(uint64(binary.LittleEndian.Uint32(p[1:5])), 10)
		p = p[5:]
	default:
		return nil, fmt.Errorf("eas: base64 query: policy key length %d, want 0 or 4", p[0])
	}
	if r.DeviceType, err = field("device type"); err != nil {
		return nil, err
	}
	for len(p) > 0 {
		tag := p[0]
		p = p[1:]
		v, err := field("parameter")
		if err != nil {
			return nil, err
		}
		r.Params[tag] = v
	}
	return r, nil
}
