package localcluster

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// kwokManifests are copies from sigs.k8s.io/kwok@v0.8.0 (Apache-2.0):
// crd/ from kustomize/crd/bases (only the Stage CRD is used), stages/ the
// "fast" set from kustomize/stage/fast (node/fast, node/heartbeat-with-lease,
// pod/fast). See toolmods/update.sh.
//
//go:embed kwok/crd/*.yaml kwok/stages/*.yaml
var kwokManifests embed.FS

const fieldManager = "localcluster"

var (
	crdGVR   = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	stageGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "stages"}
)

func validateNodes(nodes []Node) error {
	seen := map[string]bool{}
	for _, n := range nodes {
		if n.Name == "" {
			return errors.New("node without a name")
		}
		if seen[n.Name] {
			return fmt.Errorf("node %q listed twice", n.Name)
		}
		seen[n.Name] = true
		if n.GPUs < 0 {
			return fmt.Errorf("node %q: GPUs must not be negative", n.Name)
		}
		for what, q := range map[string]string{"CPU": n.CPU, "Memory": n.Memory} {
			if q == "" {
				continue
			}
			if _, err := resource.ParseQuantity(q); err != nil {
				return fmt.Errorf("node %q: %s %q is not a quantity (e.g. \"8\", \"500m\", \"32Gi\")", n.Name, what, q)
			}
		}
	}
	return nil
}

// startNodes installs kwok's Stage CRD and fast stages, starts kwok and
// applies the nodes, then waits until they are Ready.
func (c *Cluster) startNodes(ctx context.Context, cs kubernetes.Interface) error {
	dyn, err := dynamic.NewForConfig(c.Config())
	if err != nil {
		return err
	}
	if err := applyManifests(ctx, dyn, crdGVR, "kwok/crd"); err != nil {
		return fmt.Errorf("install kwok Stage CRD: %w", err)
	}
	if err := waitCRDEstablished(ctx, dyn, "stages.kwok.x-k8s.io"); err != nil {
		return err
	}
	if err := applyManifests(ctx, dyn, stageGVR, "kwok/stages"); err != nil {
		return fmt.Errorf("apply kwok stages: %w", err)
	}
	// KWOK_WORKDIR keeps kwok away from a ~/.kwok/kwok.yaml of the user.
	kwok, err := c.startProcess("kwok", kwokArgs(c.layout), []string{"KWOK_WORKDIR=" + c.layout.kwokWorkDir()})
	if err != nil {
		return err
	}
	if err := applyNodes(ctx, cs, c.opts.Nodes); err != nil {
		return err
	}
	return waitFor(ctx, kwok, "to make the nodes Ready", func(ctx context.Context) (bool, error) {
		for _, n := range c.opts.Nodes {
			node, err := cs.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
			if err != nil || !nodeReady(node) {
				return false, err
			}
		}
		return true, nil
	})
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// applyManifests server-side applies every YAML document in dir of
// kwokManifests as a cluster-scoped object of resource gvr.
func applyManifests(ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource, dir string) error {
	entries, err := fs.ReadDir(kwokManifests, dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		data, err := kwokManifests.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var obj unstructured.Unstructured
			if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return fmt.Errorf("%s: %w", e.Name(), err)
			}
			if len(obj.Object) == 0 {
				continue
			}
			body, err := obj.MarshalJSON()
			if err != nil {
				return err
			}
			force := true
			_, err = dyn.Resource(gvr).Patch(ctx, obj.GetName(), types.ApplyPatchType, body,
				metav1.PatchOptions{FieldManager: fieldManager, Force: &force})
			if err != nil {
				return fmt.Errorf("apply %s %s: %w", obj.GetKind(), obj.GetName(), err)
			}
		}
	}
	return nil
}

func waitCRDEstablished(ctx context.Context, dyn dynamic.Interface, name string) error {
	for {
		crd, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conds {
				if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRD %s not established: %w", name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// applyNodes applies each node (status included: nodes take status on
// create, and it is applied again through the status subresource for nodes
// that exist) and deletes kwok nodes no longer listed.
func applyNodes(ctx context.Context, cs kubernetes.Interface, nodes []Node) error {
	force := metav1.ApplyOptions{FieldManager: fieldManager, Force: true}
	for _, n := range nodes {
		ac := nodeApplyConfig(n)
		if _, err := cs.CoreV1().Nodes().Apply(ctx, ac, force); err != nil {
			return fmt.Errorf("apply node %s: %w", n.Name, err)
		}
		st := corev1ac.Node(n.Name).WithStatus(ac.Status)
		if _, err := cs.CoreV1().Nodes().ApplyStatus(ctx, st, force); err != nil {
			return fmt.Errorf("apply node %s status: %w", n.Name, err)
		}
	}
	existing, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, node := range existing.Items {
		if node.Annotations[kwokNodeAnnotation] != kwokNodeAnnotationValue ||
			slices.ContainsFunc(nodes, func(n Node) bool { return n.Name == node.Name }) {
			continue
		}
		if err := cs.CoreV1().Nodes().Delete(ctx, node.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete node %s: %w", node.Name, err)
		}
	}
	return nil
}

// nodeApplyConfig is the desired Node for n.
func nodeApplyConfig(n Node) *corev1ac.NodeApplyConfiguration {
	labels := map[string]string{
		"kubernetes.io/hostname": n.Name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "amd64",
		"type":                   "kwok",
	}
	maps.Copy(labels, n.Labels)
	cpu, mem := n.CPU, n.Memory
	if cpu == "" {
		cpu = "8"
	}
	if mem == "" {
		mem = "32Gi"
	}
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(cpu),
		corev1.ResourceMemory: resource.MustParse(mem),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	if n.GPUs > 0 {
		res["nvidia.com/gpu"] = *resource.NewQuantity(int64(n.GPUs), resource.DecimalSI)
	}
	spec := corev1ac.NodeSpec()
	for _, t := range n.Taints {
		tac := corev1ac.Taint().WithKey(t.Key).WithValue(t.Value).WithEffect(t.Effect)
		if t.TimeAdded != nil {
			tac.WithTimeAdded(*t.TimeAdded)
		}
		spec.WithTaints(tac)
	}
	return corev1ac.Node(n.Name).
		WithLabels(labels).
		WithAnnotations(map[string]string{kwokNodeAnnotation: kwokNodeAnnotationValue}).
		WithSpec(spec).
		WithStatus(corev1ac.NodeStatus().WithCapacity(res).WithAllocatable(res))
}
