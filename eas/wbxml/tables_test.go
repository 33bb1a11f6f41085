package wbxml

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// TestEveryTagRoundTrips checks the generated tables against the JSON they
// come from and encodes and decodes every tag of every page, by name and by
// token.
func TestEveryTagRoundTrips(t *testing.T) {
	raw, err := os.ReadFile("internal/gen/codepages.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Pages []struct {
			Page       int            `json:"page"`
			Namespace  string         `json:"namespace"`
			Tags       map[string]int `json:"tags"`
			LegacyTags map[string]int `json:"legacy_tags"`
		} `json:"pages"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Pages) != 26 {
		t.Fatalf("%d pages, want 26", len(f.Pages))
	}
	current, legacy := 0, 0
	for _, p := range f.Pages {
		if got := PageNamespace(byte(p.Page)); got != p.Namespace {
			t.Errorf("page %d namespace %q, want %q", p.Page, got, p.Namespace)
		}
		check := func(name string, tok int, isLegacy bool) {
			tag, ok := LookupTag(p.Namespace, name)
			if !ok || tag != NewTag(byte(p.Page), byte(tok)) {
				t.Errorf("LookupTag(%s, %s) = %v, %v; want page %d token 0x%02X", p.Namespace, name, tag, ok, p.Page, tok)
				return
			}
			if tag.Name() != name || tag.Known() == isLegacy || tag.Legacy() != isLegacy {
				t.Errorf("%v: name %q known %v legacy %v", tag, tag.Name(), tag.Known(), tag.Legacy())
			}
			// Encode <Tag>x</Tag> (and the empty form) as a lone root and
			// compare the bytes with the expected token.
			n := Text(p.Namespace, name, "x")
			b, err := Marshal(n)
			if err != nil {
				t.Errorf("Marshal %v: %v", tag, err)
				return
			}
			want := []byte{0x03, 0x01, 0x6A, 0x00}
			if p.Page != 0 {
				want = append(want, 0x00, byte(p.Page))
			}
			want = append(want, byte(tok)|0x40, 0x03, 'x', 0x00, 0x01)
			if !bytes.Equal(b, want) {
				t.Errorf("%v: got % X, want % X", tag, b, want)
			}
			d := NewBytesDecoder(b)
			d.AllowLegacy = true
			back, err := d.Decode()
			if err != nil || back.Name != name || back.Page != byte(p.Page) || back.Text != "x" {
				t.Errorf("%v: decoded %+v, %v", tag, back, err)
			}
			if isLegacy {
				if _, err := Unmarshal(b); !IsKind(err, KindUnknownTag) {
					t.Errorf("%v: strict decode of a legacy tag: %v", tag, err)
				}
			}
			empty, _ := Marshal(Elem(p.Namespace, name))
			if empty[len(empty)-1] != byte(tok) {
				t.Errorf("%v: empty form % X", tag, empty)
			}
		}
		for name, tok := range p.Tags {
			check(name, tok, false)
			current++
		}
		for name, tok := range p.LegacyTags {
			check(name, tok, true)
			legacy++
		}
		// No other token of the page is known.
		for id := 0; id < 64; id++ {
			tag := NewTag(byte(p.Page), byte(id))
			if tag.Name() == "" {
				continue
			}
			if p.Tags[tag.Name()] != id && p.LegacyTags[tag.Name()] != id {
				t.Errorf("%v: not in the JSON", tag)
			}
		}
	}
	if current != 586 {
		t.Errorf("%d current tags, want 586", current)
	}
	if legacy != 68 {
		t.Errorf("%d legacy tags, want 68", legacy)
	}
}

func TestOpaqueTable(t *testing.T) {
	want := []Tag{ComposeMailMime, Email2ConversationId, Email2ConversationIndex, AirSyncBaseContent,
		GALData, ResolveRecipientsData, SearchConversationId, ItemOperationsConversationId}
	n := 0
	for p := 0; p < numPages; p++ {
		for id := 5; id < 64; id++ {
			if NewTag(byte(p), byte(id)).IsOpaque() {
				n++
			}
		}
	}
	if n != len(want) {
		t.Errorf("%d opaque tags, want %d", n, len(want))
	}
	for _, tag := range want {
		if !tag.IsOpaque() {
			t.Errorf("%v not opaque", tag)
		}
	}
	if AirSyncBaseData.IsOpaque() {
		t.Errorf("AirSyncBase Data marked opaque")
	}
}

func TestLookupVariants(t *testing.T) {
	cases := []struct {
		ns, name string
		want     Tag
	}{
		{"FolderHierarchy:", "SyncKey", FolderHierarchySyncKey},
		{"airsyncbase", "Body", AirSyncBaseBody},
		{"ValidateCert", "CheckCrl", ValidateCertCheckCRL},
		{"Email", "FlagStatus", EmailStatus},
		{"Calendar", "Timezone", CalendarTimezone},
		{"Email", "TimeZone", EmailTimeZone},
	}
	for _, c := range cases {
		got, ok := LookupTag(c.ns, c.name)
		if !ok || got != c.want {
			t.Errorf("LookupTag(%q, %q) = %v, %v; want %v", c.ns, c.name, got, ok, c.want)
		}
	}
	for _, c := range [][2]string{{"Nope", "Sync"}, {"AirSync", "Nope"}, {"AirSync", "sync"}} {
		if tag, ok := LookupTag(c[0], c[1]); ok {
			t.Errorf("LookupTag(%q, %q) = %v, want none", c[0], c[1], tag)
		}
	}
	if AirSyncSync.String() != "AirSync:Sync" || NewTag(3, 0x3F).String() != "page3:0x3F" {
		t.Errorf("String: %v %v", AirSyncSync, NewTag(3, 0x3F))
	}
}
