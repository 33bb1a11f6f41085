package report_test

import (
	"os"
	"time"

	"github.com/modernauth/mailauth/graph/report"
)

// Rows as Run returns them, printed as the table and the summary basic-auth-report shows.
func Example() {
	day := func(d, h int) time.Time { return time.Date(2026, 12, d, h, 0, 0, 0, time.UTC) }
	rows := []report.Row{
		{User: "scanner@contoso.com", Protocol: "SMTP", ClientApp: "Authenticated SMTP", App: "Office 365 Exchange Online",
			SignIns: 212, LastSeen: day(5, 17), Source: report.SignIns},
		{User: "alice@contoso.com", Protocol: "IMAP", ClientApp: "IMAP4", App: "Office 365 Exchange Online",
			SignIns: 9, Failures: 9, LastSeen: day(4, 8), Source: report.SignIns},
		{User: "erp@contoso.com", Protocol: "SMTP", ClientApp: "SMTP App", LastSeen: day(3, 0), Source: report.Usage},
	}
	report.Sort(rows)
	report.WriteTable(os.Stdout, rows)
	report.WriteSummary(os.Stdout, rows)
	// Output:
	// USER                 PROTOCOL  CLIENT_APP          APP                         SIGN_INS  FAILURES  LAST_SEEN             SOURCE
	// scanner@contoso.com  SMTP      Authenticated SMTP  Office 365 Exchange Online  212       0         2026-12-05T17:00:00Z  signins
	// alice@contoso.com    IMAP      IMAP4               Office 365 Exchange Online  9         9         2026-12-04T08:00:00Z  signins
	// erp@contoso.com      SMTP      SMTP App            -                           0         0         2026-12-03T00:00:00Z  usage
	// SMTP: 2 users, 1 still succeeding with basic auth
	// IMAP: 1 user, 0 still succeeding with basic auth
}
