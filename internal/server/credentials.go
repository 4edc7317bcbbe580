package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/passwords"
)

// Sessions and personal API tokens are opaque: "tns_" (session) or "tnt_"
// (token), a 16-hex-digit id, "_", and 64 hex digits of secret. Only the
// SHA-256 of the secret is stored (the secret has 256 random bits, so a
// fast hash is enough, as in JupyterHub), in a Secret named session-<id>
// or token-<id> in the system namespace, with its owner, method, groups
// (for people without a User) and expiry.
const (
	prefixSession = "tns_"
	prefixToken   = "tnt_"
	idLen         = 16
	secretLen     = 64

	keyUser        = "user"
	keyGroups      = "groups"
	keyMethod      = "method"
	keyName        = "name"
	keyExpires     = "expiresAt"
	keyPassword    = "passwordFingerprint"
	keyUID         = "userUID"
	annotationUsed = "tenancy.dev/last-used"
)

// credential is a session or token as stored.
type credential struct {
	secret  *corev1.Secret
	ID      string
	Kind    string // passwords.CredentialSession or CredentialToken
	User    string
	Groups  []string
	Method  string
	Name    string
	Created time.Time
	Expires time.Time
	Used    *time.Time
	pwFP    string
	// UID of the User the credential was issued to; empty when there was
	// none (OIDC, proxy header). A User deleted and made again under the
	// same name does not inherit the old one's sessions and tokens.
	uid string
}

func randomHex(n int) string {
	b := make([]byte, n/2)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func secretNameOf(kind, id string) string { return kind + "-" + id }

// issue stores a new credential of kind for p and returns its token.
func (s *server) issue(ctx context.Context, kind string, p *Principal, name, pwFingerprint string, ttl time.Duration) (string, *credential, error) {
	u, err := s.localUser(ctx, p.Name)
	if err != nil {
		return "", nil, err
	}
	id, secret := randomHex(idLen), randomHex(secretLen)
	now := s.Now().UTC().Truncate(time.Second)
	groups, err := json.Marshal(p.Groups)
	if err != nil {
		return "", nil, err
	}
	data := map[string][]byte{
		passwords.KeyHash: []byte(hashSecret(secret)),
		keyUser:           []byte(p.Name),
		keyGroups:         groups,
		keyMethod:         []byte(p.Method),
		keyExpires:        []byte(now.Add(ttl).Format(time.RFC3339)),
	}
	if name != "" {
		data[keyName] = []byte(name)
	}
	if pwFingerprint != "" {
		data[keyPassword] = []byte(pwFingerprint)
	}
	if u != nil {
		data[keyUID] = []byte(u.UID)
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: secretNameOf(kind, id), Namespace: passwords.Namespace,
			Labels: passwords.Labels(userLabel(p.Name), kind),
		},
		Type: passwords.SecretType,
		Data: data,
	}
	if err := s.Own.Create(ctx, sec, client.FieldOwner(FieldManager)); err != nil {
		return "", nil, fmt.Errorf("store a %s for %s: %w", kind, p.Name, err)
	}
	prefix := prefixSession
	if kind == passwords.CredentialToken {
		prefix = prefixToken
	}
	c, err := parseCredential(sec)
	if err != nil {
		return "", nil, err
	}
	return prefix + id + "_" + secret, c, nil
}

// userLabel is a user name as a label value: names that are not valid
// label values (OIDC emails with '@') are hashed; the Secret's data keeps
// the name itself.
func userLabel(name string) string {
	ok := len(name) <= 63
	for _, r := range name {
		if !isLabelRune(r) {
			ok = false
		}
	}
	if ok && name != "" {
		return name
	}
	return "h-" + hashSecret(name)[:40]
}

func parseCredential(sec *corev1.Secret) (*credential, error) {
	c := &credential{
		secret: sec, Kind: sec.Labels[passwords.LabelCredential],
		User: string(sec.Data[keyUser]), Method: string(sec.Data[keyMethod]), Name: string(sec.Data[keyName]),
		Created: sec.CreationTimestamp.Time, pwFP: string(sec.Data[keyPassword]), uid: string(sec.Data[keyUID]),
	}
	c.ID = strings.TrimPrefix(sec.Name, c.Kind+"-")
	if len(sec.Data[keyGroups]) > 0 {
		if err := json.Unmarshal(sec.Data[keyGroups], &c.Groups); err != nil {
			return nil, fmt.Errorf("secret %s: bad groups: %w", sec.Name, err)
		}
	}
	exp, err := time.Parse(time.RFC3339, string(sec.Data[keyExpires]))
	if err != nil {
		return nil, fmt.Errorf("secret %s: bad expiry: %w", sec.Name, err)
	}
	c.Expires = exp
	if u, err := time.Parse(time.RFC3339, sec.Annotations[annotationUsed]); err == nil {
		c.Used = &u
	}
	if c.Created.IsZero() {
		c.Created = time.Now()
	}
	return c, nil
}

// parseToken splits an opaque token; ok is false for anything malformed.
func parseToken(tok string) (kind, id, secret string, ok bool) {
	switch {
	case strings.HasPrefix(tok, prefixSession):
		kind = passwords.CredentialSession
	case strings.HasPrefix(tok, prefixToken):
		kind = passwords.CredentialToken
	default:
		return "", "", "", false
	}
	rest := tok[4:]
	if len(rest) != idLen+1+secretLen || rest[idLen] != '_' || !isHex(rest[:idLen]) || !isHex(rest[idLen+1:]) {
		return "", "", "", false
	}
	return kind, rest[:idLen], rest[idLen+1:], true
}

func isHex(s string) bool {
	for _, r := range s {
		if !isHexRune(r) {
			return false
		}
	}
	return true
}

// getCached reads from the cache, then (if the cache has not seen it yet,
// e.g. a session made a moment ago) from the API server.
func (s *server) getCached(ctx context.Context, key client.ObjectKey, obj client.Object) error {
	err := s.Cache.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) {
		err = s.Own.Get(ctx, key, obj)
	}
	return err
}

// lookup verifies an opaque token and returns its credential, or nil.
func (s *server) lookup(ctx context.Context, tok string) (*credential, error) {
	kind, id, secret, ok := parseToken(tok)
	if !ok {
		return nil, nil
	}
	if s.isRevoked(secretNameOf(kind, id)) {
		return nil, nil
	}
	sec := &corev1.Secret{}
	if err := s.getCached(ctx, client.ObjectKey{Namespace: passwords.Namespace, Name: secretNameOf(kind, id)}, sec); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	if sec.Labels[passwords.LabelCredential] != kind || sec.Labels[tenancyv1.LabelManagedBy] != tenancyv1.ManagedByValue ||
		subtle.ConstantTimeCompare([]byte(hashSecret(secret)), sec.Data[passwords.KeyHash]) != 1 {
		return nil, nil
	}
	c, err := parseCredential(sec)
	if err != nil {
		return nil, err
	}
	if !s.Now().Before(c.Expires) {
		return nil, nil
	}
	return c, nil
}

// revoke deletes a credential. It is refused by this replica at once,
// before its cache sees the deletion (other replicas follow within their
// watch's delay, typically milliseconds).
func (s *server) revoke(ctx context.Context, c *credential) error {
	s.revokedMu.Lock()
	now := s.Now()
	if len(s.revoked) > 10000 {
		for k, at := range s.revoked {
			if now.Sub(at) > 10*time.Minute {
				delete(s.revoked, k)
			}
		}
	}
	s.revoked[c.secret.Name] = now
	s.revokedMu.Unlock()
	var opts []client.DeleteOption
	if c.secret.UID != "" {
		opts = append(opts, client.Preconditions{UID: &c.secret.UID})
	}
	err := s.Own.Delete(ctx, c.secret, opts...)
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

func (s *server) isRevoked(name string) bool {
	s.revokedMu.Lock()
	defer s.revokedMu.Unlock()
	_, ok := s.revoked[name]
	return ok
}

// credentials lists p's credentials of kind: from the cache, or (live)
// from the API server, for revocations that must not miss one made a
// moment ago.
func (s *server) credentials(ctx context.Context, p *Principal, kind string, live bool) ([]*credential, error) {
	list := &corev1.SecretList{}
	r := client.Reader(s.Cache)
	if live {
		r = s.Own
	}
	if err := r.List(ctx, list, client.InNamespace(passwords.Namespace),
		client.MatchingLabels(passwords.Labels(userLabel(p.Name), kind))); err != nil {
		return nil, err
	}
	var out []*credential
	for i := range list.Items {
		c, err := parseCredential(&list.Items[i])
		if err != nil || c.User != p.Name || s.isRevoked(c.secret.Name) {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// touch records a token's last use, at most once a minute per token.
func (s *server) touch(c *credential) {
	now := s.Now().UTC().Truncate(time.Second)
	if c.Used != nil && now.Sub(*c.Used) < time.Minute {
		return
	}
	// The cache lags the patch: remember the write here too, so that a
	// burst of requests with one token sends one patch, not one each.
	s.touchedMu.Lock()
	if last, ok := s.touched[c.ID]; ok && now.Sub(last) < time.Minute {
		s.touchedMu.Unlock()
		return
	}
	if len(s.touched) > 10000 {
		clear(s.touched)
	}
	s.touched[c.ID] = now
	s.touchedMu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, annotationUsed, now.Format(time.RFC3339))
		obj := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: c.secret.Name, Namespace: c.secret.Namespace}}
		if err := s.Own.Patch(ctx, obj, client.RawPatch("application/merge-patch+json", patch), client.FieldOwner(FieldManager)); err != nil && !apierrors.IsNotFound(err) {
			s.Log.Error(err, "Record token use", "token", c.ID)
		}
	}()
}

func isLabelRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
}

func isHexRune(r rune) bool { return r >= '0' && r <= '9' || r >= 'a' && r <= 'f' }
