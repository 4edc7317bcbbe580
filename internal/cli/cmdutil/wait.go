package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/internal/scheme"
)

var clientScheme = scheme.New()

// PollInterval is how often the wait engine looks.
const PollInterval = 250 * time.Millisecond

// Condition says whether what is awaited holds, and if not, why not (for
// the error when time is up).
type Condition func(ctx context.Context) (done bool, why string)

// Until is the one wait engine: it checks cond now and then every
// PollInterval until it holds, ctx ends or timeout passes (0: only ctx).
// The error is "WHAT after TIMEOUT: WHY".
func Until(ctx context.Context, timeout time.Duration, what string, cond Condition) error {
	return until(ctx, timeout, func() string { return what }, cond)
}

// until is Until with what named when time is up.
func until(ctx context.Context, timeout time.Duration, what func() string, cond Condition) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var why string
	err := wait.PollUntilContextCancel(ctx, PollInterval, true, func(ctx context.Context) (bool, error) {
		done, w := cond(ctx)
		if ctx.Err() == nil && w != "" {
			why = w
		}
		return done, nil
	})
	if err == nil {
		return nil
	}
	if why == "" {
		why = "no answer yet"
	}
	if timeout > 0 && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s after %s: %s", what(), timeout, why)
	}
	return fmt.Errorf("%s: %w (%s)", what(), err, why)
}

// ForReady waits until the named workspaces are Ready for their current
// generation; the error says why the first one that is not, is not.
func ForReady(ctx context.Context, c client.Client, timeout time.Duration, names ...string) error {
	var name string
	what := func() string { return "workspace " + name + " is not Ready" }
	return until(ctx, timeout, what, func(ctx context.Context) (bool, string) {
		for _, name = range names {
			ws := &tenancyv1.Workspace{}
			if err := c.Get(ctx, client.ObjectKey{Name: name}, ws); err != nil {
				return false, err.Error()
			}
			cond := meta.FindStatusCondition(ws.Status.Conditions, tenancyv1.ConditionReady)
			switch {
			case cond == nil || cond.ObservedGeneration != ws.Generation:
				return false, "the controller has not reconciled it yet (is 'tenancy controller' running?)"
			case cond.Status != metav1.ConditionTrue:
				return false, cond.Reason + ": " + cond.Message
			}
		}
		return true, ""
	})
}

// ForDeleted waits until every obj is gone (a Workspace goes once its
// namespace is gone and the controller lets it).
func ForDeleted(ctx context.Context, c client.Client, timeout time.Duration, objs ...client.Object) error {
	var name string
	what := func() string { return name + " is not gone" }
	return until(ctx, timeout, what, func(ctx context.Context) (bool, string) {
		for _, obj := range objs {
			name = Describe(obj)
			err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj)
			switch {
			case apierrors.IsNotFound(err):
				continue
			case err != nil:
				return false, err.Error()
			}
			why := "still terminating"
			if ws, ok := obj.(*tenancyv1.Workspace); ok {
				if cond := ws.Condition(tenancyv1.ConditionReady); cond != nil && cond.Message != "" {
					why += ": " + cond.Message
				}
			}
			return false, why
		}
		return true, ""
	})
}

// Describe names an object for a person: "Workspace ml", "Job ws/train".
func Describe(obj client.Object) string {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	if kind == "" {
		if gvks, _, err := clientScheme.ObjectKinds(obj); err == nil && len(gvks) > 0 {
			kind = gvks[0].Kind
		}
	}
	name := obj.GetName()
	if ns := obj.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	return strings.TrimSpace(kind + " " + name)
}

// ValidateTimeout is every command's check of its --timeout.
func ValidateTimeout(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", d)
	}
	return nil
}
