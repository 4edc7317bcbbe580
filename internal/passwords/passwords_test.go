package passwords

import (
	"strings"
	"testing"
)

func TestHashVerify(t *testing.T) {
	h, err := Hash("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, "correct") {
		t.Fatalf("hash %q", h)
	}
	if ok, err := Verify(h, "correct horse battery"); err != nil || !ok {
		t.Fatalf("the right password: %v %v", ok, err)
	}
	if ok, err := Verify(h, "correct horse batterY"); err != nil || ok {
		t.Fatalf("a wrong password: %v %v", ok, err)
	}
	h2, _ := Hash("correct horse battery")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAA", "plain"} {
		if _, err := Verify(bad, "x"); err == nil {
			t.Errorf("Verify(%q) accepted", bad)
		}
	}
}

func TestCheck(t *testing.T) {
	for pw, ok := range map[string]bool{
		"short":                   false,
		"elevenchars":             false,
		"twelve-chars":            true,
		"alexanderthe":            true,
		"alexandrinus":            true,
		strings.Repeat("x", 2000): false,
	} {
		if err := Check("alex", pw); (err == nil) != ok {
			t.Errorf("Check(alex, %q) = %v, want ok=%v", pw, err, ok)
		}
	}
	if err := Check("alexander-the", "Alexander-The"); err == nil {
		t.Error("the user's name is accepted as the password")
	}
}

func TestGenerate(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		pw := Generate()
		if len(pw) != GeneratedLength || strings.Trim(pw, alphabet) != "" || Check("alex", pw) != nil {
			t.Fatalf("generated %q", pw)
		}
		if seen[pw] {
			t.Fatal("a generated password repeated")
		}
		seen[pw] = true
	}
}
