package procnode

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "1", "B": "two"}
	for in, want := range map[string]string{
		"plain":         "plain",
		"$(A)":          "1",
		"x$(A)y$(B)z":   "x1ytwoz",
		"$(MISSING)":    "$(MISSING)",
		"$$(A)":         "$(A)",
		"$(A":           "$(A",
		"cost $5":       "cost $5",
		"trailing $":    "trailing $",
		"$(A)$(A)$$$$x": "11$$x",
	} {
		if got := expand(in, env); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContainerEnv(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1",
			Labels:      map[string]string{"app": "web"},
			Annotations: map[string]string{"batch.kubernetes.io/job-completion-index": "4"}},
		Spec:   corev1.PodSpec{NodeName: "n1", ServiceAccountName: "sa"},
		Status: corev1.PodStatus{PodIP: "127.0.1.2"},
	}
	cs := fake.NewClientset(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "ns"}, Data: map[string]string{"k": "from-cm", "X": "x"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}, Data: map[string][]byte{"pw": []byte("secret")}},
	)
	field := func(p string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: p}}
	}
	c := &corev1.Container{
		EnvFrom: []corev1.EnvFromSource{{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}},
		Env: []corev1.EnvVar{
			{Name: "IP", ValueFrom: field("status.podIP")},
			{Name: "NAME", ValueFrom: field("metadata.name")},
			{Name: "APP", ValueFrom: field("metadata.labels['app']")},
			{Name: "NODE", ValueFrom: field("spec.nodeName")},
			{Name: "URL", Value: "http://$(IP):80/$(NAME)"},
			{Name: "K", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, Key: "k"}}},
			{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "pw"}}},
			{Name: "CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
			{Name: "OPT", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "none"}, Key: "k", Optional: new(true)}}},
		},
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")}},
	}
	env, err := containerEnv(t.Context(), cs, pod, c, map[string]string{"HOSTNAME": "p"})
	if err != nil {
		t.Fatal(err)
	}
	got := envMap(env)
	want := map[string]string{
		"HOSTNAME": "p", "CM_k": "from-cm", "CM_X": "x", "IP": "127.0.1.2", "NAME": "p", "APP": "web", "NODE": "n1",
		"URL": "http://127.0.1.2:80/p", "K": "from-cm", "PW": "secret", "CPU": "2",
		"JOB_COMPLETION_INDEX": "4", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: "BAD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "nope"}}})
	if _, err := containerEnv(t.Context(), cs, pod, c, nil); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("missing secret key: err = %v, want it named", err)
	}
}

func TestGPUAllocationNeverHandsOutAnIndexTwice(t *testing.T) {
	n := &Node{cfg: Config{Name: "g", GPUs: 8}, gpuOwner: map[int]types.UID{}}
	gpuPod := func(uid string, counts ...int64) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid)}}
		for _, c := range counts {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Resources: corev1.ResourceRequirements{
				Limits: corev1.ResourceList{GPUResource: *resource.NewQuantity(c, resource.DecimalSI)}}})
		}
		return p
	}
	a, err := n.allocateGPUsLocked(gpuPod("a", 2, 1))
	if err != nil || !cmp.Equal(a, []int{0, 1, 2}) {
		t.Fatalf("a = %v, %v", a, err)
	}
	b, err := n.allocateGPUsLocked(gpuPod("b", 4))
	if err != nil || !cmp.Equal(b, []int{3, 4, 5, 6}) {
		t.Fatalf("b = %v, %v", b, err)
	}
	if _, err := n.allocateGPUsLocked(gpuPod("c", 2)); err == nil {
		t.Fatal("c got 2 GPUs with 1 free")
	}
	n.releaseGPUsLocked("a")
	c, err := n.allocateGPUsLocked(gpuPod("c", 2))
	if err != nil || !cmp.Equal(c, []int{0, 1}) {
		t.Fatalf("c after a left = %v, %v", c, err)
	}
	p, err := newPodRuntime(n, gpuPod("d", 1, 2), []int{5, 6, 7})
	if err != nil {
		t.Fatal(err)
	}
	if got := [][]int{p.containers[0].gpus, p.containers[1].gpus}; !cmp.Equal(got, [][]int{{5}, {6, 7}}) {
		t.Errorf("containers' devices = %v, want disjoint [5] [6 7]", got)
	}
}

func TestSeekTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("a\nb\nc\nd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for n, want := range map[int]string{1: "d\n", 2: "c\nd\n", 4: "a\nb\nc\nd\n", 10: "a\nb\nc\nd\n"} {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := seekTail(f, n); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 100)
		k, _ := f.Read(b)
		_ = f.Close()
		if string(b[:k]) != want {
			t.Errorf("tail %d = %q, want %q", n, b[:k], want)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	if err := (&Config{}).validate(); err == nil || !strings.Contains(err.Error(), "Name") {
		t.Errorf("empty config: %v", err)
	}
	if err := (&Config{Name: "n"}).validate(); err == nil || !strings.Contains(err.Error(), "IP") {
		t.Errorf("no IP: %v", err)
	}
}
