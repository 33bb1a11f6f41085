package report

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// MaxUsageBytes caps the usage report read (about a million users).
const MaxUsageBytes = 256 << 20

// ParseEmailAppUsage reads the CSV of reports/getEmailAppUsageUserDetail and returns a
// usage row per user and protocol (POP3 App, IMAP4 App, SMTP App) the report marks as
// used; deleted users are left out. Columns are found by name, in any order; a UTF-8 byte
// order mark is skipped. It never panics on bad input.
func ParseEmailAppUsage(r io.Reader) ([]Row, error) {
	br := bufio.NewReader(io.LimitReader(r, MaxUsageBytes))
	if b, err := br.Peek(3); err == nil && string(b) == "\ufeff" {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("the usage report is empty (no header)")
	}
	if err != nil {
		return nil, fmt.Errorf("the usage report is not CSV: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	upn, ok := col["user principal name"]
	if !ok {
		return nil, errors.New("the usage report has no User Principal Name column")
	}
	get := func(rec []string, name string) string {
		if i, ok := col[strings.ToLower(name)]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	// The protocol columns. The other app columns (Outlook, Mail For Mac, Other For
	// Mobile) are clients Exchange Online no longer lets sign in with a password.
	protocols := [...]struct{ column, protocol string }{{"SMTP App", "SMTP"}, {"IMAP4 App", "IMAP"}, {"POP3 App", "POP"}}
	var rows []Row
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return rows, fmt.Errorf("the usage report: %w", err)
		}
		if upn >= len(rec) || strings.TrimSpace(rec[upn]) == "" || yes(get(rec, "Is Deleted")) {
			continue
		}
		var last time.Time
		if d := get(rec, "Last Activity Date"); d != "" {
			if t, err := time.Parse("2006-01-02", d); err == nil {
				last = t
			}
		}
		for _, uc := range protocols {
			if yes(get(rec, uc.column)) {
				rows = append(rows, Row{User: strings.TrimSpace(rec[upn]), Protocol: uc.protocol, ClientApp: uc.column,
					LastSeen: last, Source: Usage})
			}
		}
	}
	return rows, nil
}

// yes reads a usage report flag: "Yes" (or True, 1) is set; empty, No, False are not.
func yes(v string) bool {
	switch strings.ToLower(v) {
	case "yes", "true", "1":
		return true
	}
	return false
}
