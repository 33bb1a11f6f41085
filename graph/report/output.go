package report

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Columns are the names of the columns, in the order of every output: the CSV header and
// the JSON keys.
func Columns() []string {
	return []string{"user", "protocol", "client_app", "app", "sign_ins", "failures", "last_seen", "source"}
}

// Fields returns the row's values in the order of Columns, as every output shows them:
// last_seen in RFC 3339 UTC ("" when unknown).
func (r *Row) Fields() []string {
	return []string{r.User, r.Protocol, r.ClientApp, r.App, strconv.Itoa(r.SignIns), strconv.Itoa(r.Failures),
		formatTime(r.LastSeen), string(r.Source)}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// MarshalJSON writes the row as an object with the keys of Columns; sign_ins and failures
// are numbers, the others strings.
func (r Row) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		User      string `json:"user"`
		Protocol  string `json:"protocol"`
		ClientApp string `json:"client_app"`
		App       string `json:"app"`
		SignIns   int    `json:"sign_ins"`
		Failures  int    `json:"failures"`
		LastSeen  string `json:"last_seen"`
		Source    Source `json:"source"`
	}{r.User, r.Protocol, r.ClientApp, r.App, r.SignIns, r.Failures, formatTime(r.LastSeen), r.Source})
}

// WriteJSON writes {"rows":[...]} (an empty array when there are none), indented.
func WriteJSON(w io.Writer, rows []Row) error {
	if rows == nil {
		rows = []Row{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Rows []Row `json:"rows"`
	}{rows})
}

// WriteCSV writes a header of Columns and a record per row, RFC 4180: CRLF line ends,
// fields with commas, quotes or line breaks quoted, quotes doubled. A field that a
// spreadsheet would run as a formula (it starts with =, +, -, @, a tab or a carriage
// return) gets a leading apostrophe.
func WriteCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(Columns()); err != nil {
		return err
	}
	for i := range rows {
		f := rows[i].Fields()
		for j, v := range f {
			f[j] = defuseFormula(v)
		}
		if err := cw.Write(f); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func defuseFormula(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// WriteTable writes an aligned table with a header of Columns in capitals; an empty field
// shows as "-", and control characters (which could drive a terminal) as spaces.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := Columns()
	for i, h := range head {
		head[i] = strings.ToUpper(h)
	}
	if _, err := io.WriteString(tw, strings.Join(head, "\t")+"\n"); err != nil {
		return err
	}
	for i := range rows {
		f := rows[i].Fields()
		for j, v := range f {
			f[j] = tableCell(v)
		}
		if _, err := io.WriteString(tw, strings.Join(f, "\t")+"\n"); err != nil {
			return err
		}
	}
	return tw.Flush()
}

func tableCell(v string) string {
	v = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(v, "?"))
	if strings.TrimSpace(v) == "" {
		return "-"
	}
	return v
}

// WriteSummary writes the summary lines of rows, one per protocol.
func WriteSummary(w io.Writer, rows []Row) error {
	for _, s := range Summarize(rows) {
		if _, err := io.WriteString(w, s.String()+"\n"); err != nil {
			return err
		}
	}
	return nil
}
