package relay_test

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/modernauth/mailauth/relay"
)

func TestPasswordHashes(t *testing.T) {
	h, err := relay.HashPassword("pw one")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || relay.CheckHash(h) != nil {
		t.Fatalf("hash %q", h)
	}
	if !relay.CheckPassword(h, "pw one") || relay.CheckPassword(h, "pw on") || relay.CheckPassword(h, "") {
		t.Fatal("argon2id check")
	}
	b, _ := bcrypt.GenerateFromPassword([]byte("pw two"), bcrypt.MinCost)
	if !relay.CheckPassword(string(b), "pw two") || relay.CheckPassword(string(b), "pw one") || relay.CheckHash(string(b)) != nil {
		t.Fatal("bcrypt check")
	}
	for _, bad := range []string{"", "plain", "$argon2id$v=19$m=0,t=2,p=1$AAAA$AAAA", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5", "$2a$99$x"} {
		if relay.CheckHash(bad) == nil || relay.CheckPassword(bad, "") {
			t.Errorf("accepted %q", bad)
		}
	}
	if _, err := relay.HashPassword(""); err == nil {
		t.Error("empty password hashed")
	}
}

// BenchmarkCheckPassword is the cost of one local password check (argon2id, 19 MiB, t=2).
func BenchmarkCheckPassword(b *testing.B) {
	h, _ := relay.HashPassword("pw")
	for b.Loop() {
		relay.CheckPassword(h, "pw")
	}
}
