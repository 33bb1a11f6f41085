package redisstore

import (
	"errors"
	"testing"

	"github.com/modernauth/mailauth/tokencache"
)

// FuzzParseRecord feeds parseRecord the three HMGET fields as Redis could
// hold them after any tampering; nil stands for an absent field.
func FuzzParseRecord(f *testing.F) {
	f.Add("1", "data", "0", uint8(0))
	f.Add("18446744073709551615", "", "1700000000000", uint8(0))
	f.Add("0", "x", "0", uint8(0))
	f.Add("-1", "x", "-5", uint8(0))
	f.Add("", "", "", uint8(7))
	f.Add("2", "d", "", uint8(4))
	f.Fuzz(func(t *testing.T, g, d, e string, absent uint8) {
		vals := []any{g, d, e}
		for i := range vals {
			if absent&(1<<i) != 0 {
				vals[i] = nil
			}
		}
		rec, err := parseRecord(vals)
		switch {
		case err != nil:
			if !errors.Is(err, tokencache.ErrCorrupt) || rec.Generation != 0 {
				t.Fatalf("err %v with %v", err, rec)
			}
		case absent&7 == 7:
			if rec.Generation != 0 {
				t.Fatal("absent record with a generation")
			}
		default:
			if rec.Generation == 0 || string(rec.Data) != d {
				t.Fatalf("parsed %v from %q %q %q", rec, g, d, e)
			}
		}
	})
}
