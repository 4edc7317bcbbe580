package v1alpha1

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSubjectIsAndMatches(t *testing.T) {
	sa := Subject{Kind: ServiceAccountKind, Namespace: "ci", Name: "bot"}
	if !sa.Is(Subject{Kind: ServiceAccountKind, Namespace: "ci", Name: "bot"}) || sa.Is(Subject{Kind: ServiceAccountKind, Namespace: "ml", Name: "bot"}) {
		t.Error("ServiceAccounts compare by namespace too")
	}
	if (Subject{Kind: UserKind, Name: "bob"}).Is(Subject{Kind: GroupKind, Name: "bob"}) {
		t.Error("a user is not the group of the same name")
	}
	ws := &Workspace{Spec: WorkspaceSpec{Owner: &Subject{Kind: UserKind, Name: "jane"}, Contributors: []Contributor{
		{Subject: Subject{Kind: GroupKind, Name: "ml-team"}, Role: RoleEdit},
		{Subject: sa, Role: RoleView},
	}}}
	for _, tc := range []struct {
		user   string
		groups []string
		want   bool
	}{
		{"jane", nil, true},
		{"maya", []string{"ml-team"}, true},
		{"system:serviceaccount:ci:bot", nil, true},
		{"bob", []string{"other"}, false},
	} {
		if got := ws.Involves(tc.user, tc.groups); got != tc.want {
			t.Errorf("Involves(%s, %v) = %v, want %v", tc.user, tc.groups, got, tc.want)
		}
	}
	if !ws.IsOwnedByUser("jane") || ws.IsOwnedByUser("maya") || !ws.NamesUser("jane") || ws.NamesUser("maya") {
		t.Error("owner and user predicates")
	}
}

func TestDefaultClass(t *testing.T) {
	at := func(name string, age time.Duration, def bool) WorkspaceClass {
		c := WorkspaceClass{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(time.Unix(1e9, 0).Add(-age))}}
		if def {
			c.Annotations = map[string]string{AnnotationIsDefaultClass: "true"}
		}
		return c
	}
	if DefaultClass([]WorkspaceClass{at("a", 0, false)}) != nil {
		t.Error("no class is marked default")
	}
	got := DefaultClass([]WorkspaceClass{at("z", time.Hour, true), at("b", 2*time.Hour, true), at("a", 2*time.Hour, true), at("old", 9*time.Hour, false)})
	if got == nil || got.Name != "a" {
		t.Errorf("DefaultClass = %v, want the oldest, then first by name: a", got)
	}
}
