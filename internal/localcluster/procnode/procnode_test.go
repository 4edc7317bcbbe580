package procnode_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tenancy-dev/tenancy/internal/localcluster"
)

// cluster runs the default pools as process nodes: cpu-node-1 (zone
// local-a), cpu-node-2 (local-b), gpu-node-1.
var cluster *localcluster.Cluster

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	o := localcluster.Options{
		ProcessNodes: localcluster.DefaultNodes(2, 1),
		// Another package's cluster may run process nodes at the same
		// time: use addresses of our own.
		NodeIPPrefix:    fmt.Sprintf("127.%d.1.", 10+rand.IntN(240)),
		StopGracePeriod: 2 * time.Second,
	}
	os.Exit(localcluster.TestMain(m, o, func(c *localcluster.Cluster) error {
		cluster = c
		return nil
	}))
}

func admin(t *testing.T) kubernetes.Interface {
	t.Helper()
	if cluster == nil {
		t.Skip("no control plane with -short")
	}
	cs, err := kubernetes.NewForConfig(cluster.Config())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func namespace(t *testing.T, cs kubernetes.Interface) string {
	t.Helper()
	ns, err := cs.CoreV1().Namespaces().Create(t.Context(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "pn-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Pods get a service-account token: wait for the ServiceAccount.
	eventually(t, time.Minute, "default ServiceAccount", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, err
	})
	return ns.Name
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	var lastErr error
	for {
		ok, err := cond(ctx)
		if ok {
			return
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %s (last error: %v); logs in %s", what, timeout, lastErr, cluster.LogDir())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func podLogs(t *testing.T, cs kubernetes.Interface, ns, pod string, o *corev1.PodLogOptions) string {
	t.Helper()
	if o == nil {
		o = &corev1.PodLogOptions{}
	}
	data, err := cs.CoreV1().Pods(ns).GetLogs(pod, o).DoRaw(t.Context())
	if err != nil {
		t.Fatalf("logs of %s/%s: %v", ns, pod, err)
	}
	return string(data)
}

func shPod(name string, script string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: new(int64(2)),
			Containers: []corev1.Container{{
				Name: "main", Image: "busybox", Command: []string{"sh", "-c", script},
			}},
		},
	}
}

func waitPhase(t *testing.T, cs kubernetes.Interface, ns, name string, timeout time.Duration, phases ...corev1.PodPhase) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventually(t, timeout, fmt.Sprintf("pod %s in phase %v", name, phases), func(ctx context.Context) (bool, error) {
		var err error
		pod, err = cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, p := range phases {
			if pod.Status.Phase == p {
				return true, nil
			}
		}
		return false, fmt.Errorf("phase %s", pod.Status.Phase)
	})
	return pod
}

func TestJobFailsWithExitCodeAndLogs(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "hello"},
		Spec: batchv1.JobSpec{
			BackoffLimit: new(int32(0)),
			Template: corev1.PodTemplateSpec{Spec: shPod("", "echo hello; exit 3").Spec},
		},
	}
	if _, err := cs.BatchV1().Jobs(ns).Create(t.Context(), job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "Job hello Failed", func(ctx context.Context) (bool, error) {
		j, err := cs.BatchV1().Jobs(ns).Get(ctx, "hello", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	pods, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "job-name=hello"})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("pods of job hello: %v, %v", pods, err)
	}
	pod := pods.Items[0]
	if pod.Status.Phase != corev1.PodFailed {
		t.Errorf("pod phase = %s, want Failed", pod.Status.Phase)
	}
	if len(pod.Status.ContainerStatuses) != 1 || pod.Status.ContainerStatuses[0].State.Terminated == nil {
		t.Fatalf("container status = %+v, want terminated", pod.Status.ContainerStatuses)
	}
	term := pod.Status.ContainerStatuses[0].State.Terminated
	if term.ExitCode != 3 || term.Reason != "Error" || term.StartedAt.IsZero() || term.FinishedAt.IsZero() {
		t.Errorf("terminated = %+v, want exit code 3, reason Error, timestamps", term)
	}
	if got := podLogs(t, cs, ns, pod.Name, nil); got != "hello\n" {
		t.Errorf("logs = %q, want %q", got, "hello\n")
	}
}

func TestPodEnvironmentHostnameAndVolumes(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(t.Context(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "conf"}, Data: map[string]string{"greeting": "hi there"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	script := strings.Join([]string{
		`echo "host=$(hostname) env=$HOSTNAME"`,
		`echo "ip=$POD_IP node=$NODE ns=$NS"`,
		`echo "api=$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"`,
		`echo "conf=$(cat /etc/conf/greeting)"`,
		`echo "uid=$(id -u)"`,
		`test -s /var/run/secrets/kubernetes.io/serviceaccount/token && echo token=yes`,
		`echo "ns-file=$(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace)"`,
		`echo data > /scratch/f && echo "scratch=$(cat /scratch/f)"`,
		`echo "pwd=$(pwd)"`,
	}, "; ")
	pod := shPod("env", script)
	pod.Spec.Containers[0].Env = []corev1.EnvVar{
		{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
		{Name: "NS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
	}
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
		{Name: "conf", MountPath: "/etc/conf"},
		{Name: "scratch", MountPath: "/scratch"},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitPhase(t, cs, ns, "env", 2*time.Minute, corev1.PodSucceeded, corev1.PodFailed)
	logs := podLogs(t, cs, ns, "env", nil)
	if got.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("phase %s; logs:\n%s", got.Status.Phase, logs)
	}
	ip := got.Status.PodIP
	if !strings.HasPrefix(ip, "127.") || got.Status.HostIP != ip {
		t.Errorf("podIP %q hostIP %q, want the node's loopback address", ip, got.Status.HostIP)
	}
	for _, want := range []string{
		"host=env env=env",
		"ip=" + ip + " node=" + got.Spec.NodeName + " ns=" + ns,
		fmt.Sprintf("api=127.0.0.1:%s", cluster.Host()[strings.LastIndex(cluster.Host(), ":")+1:]),
		"conf=hi there",
		"uid=65534",
		"token=yes",
		"ns-file=" + ns,
		"scratch=data",
		"pwd=/pod",
	} {
		if !strings.Contains(logs, want+"\n") {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

var _ = bytes.NewReader
