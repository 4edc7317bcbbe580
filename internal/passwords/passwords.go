// Package passwords holds the local passwords of Tenancy's Users: argon2id
// hashes in Secrets of the system namespace, generated passwords, the
// strength rule, and the credential Secrets (sessions, API tokens) that a
// changed password or a deleted user ends. The CLI and the server share it,
// so both write the same objects.
package passwords

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// Namespace holds every credential Secret. It is the system namespace of
// Tenancy: not a workspace, so no user can read it.
const Namespace = "tenancy-system"

// Labels and types of credential Secrets.
const (
	// LabelCredential says what a Secret holds: CredentialPassword,
	// CredentialSession or CredentialToken.
	LabelCredential = "tenancy.dev/credential"

	CredentialPassword = "password"
	CredentialSession  = "session"
	CredentialToken    = "token"

	// SecretType of every credential Secret.
	SecretType corev1.SecretType = "tenancy.dev/credential"

	// KeyHash is the data key of the hash in every credential Secret.
	KeyHash = "hash"
)

// MinLength is the shortest password accepted.
const MinLength = 12

// GeneratedLength is the length of generated passwords.
const GeneratedLength = 20

const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// Generate returns a random password of GeneratedLength letters and digits.
func Generate() string {
	var b strings.Builder
	size := big.NewInt(int64(len(alphabet)))
	for range GeneratedLength {
		n, err := rand.Int(rand.Reader, size)
		if err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		b.WriteByte(alphabet[n.Int64()])
	}
	return b.String()
}

// Check says whether pw is strong enough for user.
func Check(user, pw string) error {
	switch {
	case utf8.RuneCountInString(pw) < MinLength:
		return fmt.Errorf("password: too short: use at least %d characters (%d given)", MinLength, utf8.RuneCountInString(pw))
	case strings.EqualFold(strings.TrimSpace(pw), user):
		return errors.New("password: may not be the user's name")
	case len(pw) > 1024:
		return errors.New("password: too long: use at most 1024 bytes")
	}
	return nil
}

// argon2id parameters: OWASP's minimum (19 MiB, 2 passes, 1 lane). Each hash
// takes ~30 ms; hashing runs at most GOMAXPROCS at a time so that a burst
// of logins cannot take all the memory.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

var hashSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

func argonKey(pw string, salt []byte, t, m uint32, p uint8, n uint32) []byte {
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	return argon2.IDKey([]byte(pw), salt, t, m, p, n)
}

// Hash returns pw's argon2id hash in the PHC string format
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash).
func Hash(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argonKey(pw, salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// Verify says whether pw matches the PHC-encoded hash.
func Verify(encoded, pw string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("not an argon2id hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, fmt.Errorf("unsupported argon2 version %q", parts[2])
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, fmt.Errorf("bad argon2 parameters %q", parts[3])
	}
	if m > 1<<20 || t > 16 || p == 0 {
		return false, fmt.Errorf("argon2 parameters out of range %q", parts[3])
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil {
		return false, errors.New("bad argon2 salt")
	}
	want, err := enc.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 128 {
		return false, errors.New("bad argon2 key")
	}
	got := argonKey(pw, salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// Fingerprint identifies a password hash without revealing it: sessions
// record it, and a session whose fingerprint is no longer the user's
// password's is over.
func Fingerprint(encoded string) string {
	sum := sha256.Sum256([]byte(encoded))
	return hex.EncodeToString(sum[:8])
}

// SecretName is the name of user's password Secret.
func SecretName(user string) string { return "password-" + user }

// Labels of a credential Secret of user.
func Labels(user, kind string) map[string]string {
	return map[string]string{
		tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue,
		tenancyv1.LabelUser:      user,
		LabelCredential:          kind,
	}
}

// EnsureNamespace creates the system namespace unless it exists.
func EnsureNamespace(ctx context.Context, c client.Client) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace, Labels: map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue}}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", Namespace, err)
	}
	return nil
}

// Set stores pw (which must pass Check) as user's password, in the Secret
// SecretName(user), and ends user's sessions. The User must reference the
// Secret in spec.passwordSecret for sign-in to use it.
func Set(ctx context.Context, c client.Client, user, pw string) error {
	if err := Check(user, pw); err != nil {
		return err
	}
	h, err := Hash(pw)
	if err != nil {
		return err
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: SecretName(user), Namespace: Namespace, Labels: Labels(user, CredentialPassword)},
		Type:       SecretType,
		Data:       map[string][]byte{KeyHash: []byte(h)},
	}
	err = c.Create(ctx, s)
	if apierrors.IsAlreadyExists(err) {
		cur := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(s), cur); err != nil {
			return fmt.Errorf("read Secret %s/%s: %w", Namespace, s.Name, err)
		}
		if cur.Labels[tenancyv1.LabelUser] != user || cur.Labels[LabelCredential] != CredentialPassword {
			return fmt.Errorf("secret %s/%s exists and is not User %s's password (labels %s=%s, %s=%s missing)",
				Namespace, s.Name, user, tenancyv1.LabelUser, user, LabelCredential, CredentialPassword)
		}
		cur.Data = s.Data
		cur.Type = s.Type
		err = c.Update(ctx, cur)
	}
	if err != nil {
		return fmt.Errorf("write the password hash of %s (Secret %s/%s): %w", user, Namespace, s.Name, err)
	}
	return EndSessions(ctx, c, user)
}

// EndSessions deletes every session of user. Sessions also check the
// password fingerprint, so one made concurrently with a change is refused.
func EndSessions(ctx context.Context, c client.Client, user string) error {
	return deleteCredentials(ctx, c, user, CredentialSession)
}

// DeleteAll deletes every credential of user: password, sessions, tokens.
func DeleteAll(ctx context.Context, c client.Client, user string) error {
	return deleteCredentials(ctx, c, user, "")
}

func deleteCredentials(ctx context.Context, c client.Client, user, kind string) error {
	sel := client.MatchingLabels{tenancyv1.LabelUser: user, tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue}
	if kind != "" {
		sel[LabelCredential] = kind
	}
	list := &corev1.SecretList{}
	if err := c.List(ctx, list, client.InNamespace(Namespace), sel); err != nil {
		return fmt.Errorf("list the credentials of %s: %w", user, err)
	}
	var errs []error
	for i := range list.Items {
		s := &list.Items[i]
		if _, ok := s.Labels[LabelCredential]; !ok {
			continue
		}
		if err := c.Delete(ctx, s); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete Secret %s/%s: %w", Namespace, s.Name, err))
		}
	}
	return errors.Join(errs...)
}
