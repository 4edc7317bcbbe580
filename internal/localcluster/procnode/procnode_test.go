package procnode_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/utils/exec"

	"github.com/tenancy-dev/tenancy/internal/localcluster"
	"github.com/tenancy-dev/tenancy/internal/localcluster/clustertest"
	"github.com/tenancy-dev/tenancy/internal/localcluster/provisioner"
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
	// kubectl too: the tests run it as a person would (logs job/NAME,
	// exec, cp). It builds from the same module as the control plane.
	if err := localcluster.EnsureBinaries(context.Background(), localcluster.DefaultBinDir(), os.Stderr, localcluster.Kubectl); err != nil {
		fmt.Fprintln(os.Stderr, "procnode:", err)
		os.Exit(1)
	}
	os.Exit(clustertest.Main(m, o, func(c *localcluster.Cluster) error {
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
		if slices.Contains(phases, pod.Status.Phase) {
			return true, nil
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
			Template:     corev1.PodTemplateSpec{Spec: shPod("", "echo hello; exit 3").Spec},
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
	{
		out, err := exec.Command(kubectlPath(), "--kubeconfig", cluster.AdminKubeconfig(), "-n", ns, "logs", "job/hello").CombinedOutput()
		if err != nil || string(out) != "hello\n" {
			t.Errorf("kubectl logs job/hello = %q, %v; want hello", out, err)
		}
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
		`echo "secret=$(cat /etc/secret/pw)"`,
		`echo "labels=$(cat /etc/podinfo/labels)"`,
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
		{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
		{Name: "podinfo", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
		}}}},
	}
	pod.Labels = map[string]string{"team": "ml"}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
		{Name: "conf", MountPath: "/etc/conf"},
		{Name: "scratch", MountPath: "/scratch"},
		{Name: "secret", MountPath: "/etc/secret", ReadOnly: true},
		{Name: "podinfo", MountPath: "/etc/podinfo"},
	}
	if _, err := cs.CoreV1().Secrets(ns).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds"}, Data: map[string][]byte{"pw": []byte("hunter2")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
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
		"uid=" + podUID(),
		"token=yes",
		"ns-file=" + ns,
		"scratch=data",
		"pwd=/pod",
		"secret=hunter2",
		`labels=team="ml"`,
	} {
		if !strings.Contains(logs, want+"\n") {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

// execIn runs argv in the pod's container through the API server and the
// node's kubelet API, as kubectl exec does.
func execIn(t *testing.T, cs kubernetes.Interface, ns, pod string, stdin io.Reader, argv ...string) (string, string, error) {
	t.Helper()
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Command: argv, Stdin: stdin != nil, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(cluster.Config(), http.MethodPost, req.URL())
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: &out, Stderr: &errOut})
	return out.String(), errOut.String(), err
}

func createPod(t *testing.T, cs kubernetes.Interface, ns string, pod *corev1.Pod) {
	t.Helper()
	if _, err := cs.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", pod.Name, err)
	}
}

func waitReady(t *testing.T, cs kubernetes.Interface, ns, name string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventually(t, 2*time.Minute, "pod "+name+" Ready", func(ctx context.Context) (bool, error) {
		var err error
		if pod, err = cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return false, err
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, fmt.Errorf("phase %s, statuses %+v", pod.Status.Phase, pod.Status.ContainerStatuses)
	})
	return pod
}

func TestExecAndCopyRoundTripAFile(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	createPod(t, cs, ns, shPod("box", "sleep 3600"))
	waitReady(t, cs, ns, "box")

	content := "line one\nline two " + strconv.Itoa(rand.Int()) + "\n"
	// In: what kubectl cp local pod:/pod/dir does (tar into the container).
	var archive bytes.Buffer
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f.txt"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	tarOut, err := exec.Command("tar", "cf", "-", "-C", src, "f.txt").Output()
	if err != nil {
		t.Fatal(err)
	}
	archive.Write(tarOut)
	if _, stderr, err := execIn(t, cs, ns, "box", &archive, "sh", "-c", "mkdir -p /pod/in && tar xmf - -C /pod/in"); err != nil {
		t.Fatalf("tar into the pod: %v (%s)", err, stderr)
	}
	got, stderr, err := execIn(t, cs, ns, "box", nil, "cat", "/pod/in/f.txt")
	if err != nil || got != content {
		t.Fatalf("cat in the pod = %q, %v (%s); want %q", got, err, stderr, content)
	}
	// Out: kubectl cp pod:/pod/in/f.txt local (tar out of the container).
	out, stderr, err := execIn(t, cs, ns, "box", nil, "tar", "cf", "-", "-C", "/pod/in", "f.txt")
	if err != nil {
		t.Fatalf("tar out of the pod: %v (%s)", err, stderr)
	}
	dst := t.TempDir()
	untar := exec.Command("tar", "xf", "-", "-C", dst)
	untar.Stdin = strings.NewReader(out)
	if b, err := untar.CombinedOutput(); err != nil {
		t.Fatalf("untar: %v %s", err, b)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "f.txt")); err != nil || string(b) != content {
		t.Fatalf("copied back %q, %v; want %q", b, err, content)
	}
	// The exit code of an exec'd command comes back.
	_, _, err = execIn(t, cs, ns, "box", nil, "sh", "-c", "exit 7")
	var ee utilexec.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 7 {
		t.Errorf("exec exit 7: err = %v, want exit status 7", err)
	}
	// With a terminal (kubectl exec -it).
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name("box").SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Command: []string{"tty"}, Stdin: true, Stdout: true, TTY: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(cluster.Config(), http.MethodPost, req.URL())
	if err != nil {
		t.Fatal(err)
	}
	var ttyOut bytes.Buffer
	if err := ex.StreamWithContext(t.Context(), remotecommand.StreamOptions{Stdin: strings.NewReader(""), Stdout: &ttyOut, Tty: true}); err != nil {
		t.Errorf("exec -t tty: %v", err)
	}
	if !strings.HasPrefix(ttyOut.String(), "/dev/pts/") {
		t.Errorf("exec -t tty printed %q, want a terminal /dev/pts/N", ttyOut.String())
	}
	// Exec runs in the pod's namespaces: its hostname, its mounts.
	if got, _, err := execIn(t, cs, ns, "box", nil, "hostname"); err != nil || got != "box\n" {
		t.Errorf("hostname in exec = %q, %v; want box", got, err)
	}
	{
		kubectl, kc := kubectlPath(), cluster.AdminKubeconfig()
		local := filepath.Join(t.TempDir(), "k.txt")
		if err := os.WriteFile(local, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		run := func(args ...string) string {
			t.Helper()
			out, err := exec.Command(kubectl, append([]string{"--kubeconfig", kc, "-n", ns}, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("kubectl %v: %v\n%s", args, err, out)
			}
			return string(out)
		}
		run("cp", local, "box:/pod/k.txt")
		back := filepath.Join(t.TempDir(), "back.txt")
		run("cp", "box:/pod/k.txt", back)
		if b, err := os.ReadFile(back); err != nil || string(b) != content {
			t.Errorf("kubectl cp round trip = %q, %v; want %q", b, err, content)
		}
		if got := run("exec", "box", "--", "cat", "/pod/k.txt"); got != content {
			t.Errorf("kubectl exec cat = %q, want %q", got, content)
		}
	}
}

// kubectlPath is the kubectl TestMain made sure of.
func kubectlPath() string {
	return filepath.Join(localcluster.DefaultBinDir(), localcluster.Kubectl)
}

func TestPortForwardReachesAServerInThePod(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	pod := shPod("web", `mkdir -p /pod/site && echo "served by $HOSTNAME" > /pod/site/index.html && exec python3 -m http.server --bind "$POD_IP" --directory /pod/site 8080`)
	pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}}
	pod.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	pod.Spec.Containers[0].ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http")}},
		PeriodSeconds: 1,
	}
	createPod(t, cs, ns, pod)
	waitReady(t, cs, ns, "web")

	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name("web").SubResource("portforward")
	transport, upgrader, err := spdy.RoundTripperFor(cluster.Config())
	if err != nil {
		t.Fatal(err)
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, req.URL())
	stop, ready := make(chan struct{}), make(chan struct{})
	defer close(stop)
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("port-forward: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("port-forward not ready in 30s")
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) != 1 {
		t.Fatalf("forwarded ports %v, %v", ports, err)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", ports[0].Local))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(body) != "served by web\n" {
		t.Errorf("through port-forward: %q, want %q", body, "served by web\n")
	}

	// And with kubectl, as a person would.
	kpf := exec.Command(kubectlPath(), "--kubeconfig", cluster.AdminKubeconfig(), "-n", ns, "port-forward", "pod/web", ":8080")
	stdout, err := kpf.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := kpf.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = kpf.Process.Kill(); _ = kpf.Wait() }()
	line := make(chan string, 1)
	go func() {
		b := make([]byte, 256)
		n, _ := stdout.Read(b) // "Forwarding from 127.0.0.1:PORT -> 8080"
		line <- string(b[:n])
	}()
	var addr string
	select {
	case l := <-line:
		_, rest, ok := strings.Cut(l, "Forwarding from ")
		addr, _, _ = strings.Cut(rest, " ")
		if !ok || addr == "" {
			t.Fatalf("kubectl port-forward said %q", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("kubectl port-forward said nothing in 30s")
	}
	resp, err = http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("through kubectl port-forward: %v", err)
	}
	body, _ = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(body) != "served by web\n" {
		t.Errorf("through kubectl port-forward: %q", body)
	}
}

func TestDeploymentBecomesAvailable(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	labels := map[string]string{"app": "web"}
	tmpl := shPod("", `exec python3 -m http.server --bind "$POD_IP" 8080`).Spec
	tmpl.RestartPolicy = corev1.RestartPolicyAlways
	c := &tmpl.Containers[0]
	c.Env = []corev1.EnvVar{{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}}
	c.ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
		PeriodSeconds: 1,
	}
	// Two replicas on two nodes, each binding its own node's address.
	tmpl.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: labels}, TopologyKey: "kubernetes.io/hostname",
		}},
	}}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: tmpl},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(t.Context(), dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "Deployment web Available", func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue && d.Status.AvailableReplicas == 2 {
				return true, nil
			}
		}
		return false, fmt.Errorf("status %+v", d.Status)
	})
	pods, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		resp, err := http.Get("http://" + p.Status.PodIP + ":8080/")
		if err != nil {
			t.Errorf("pod %s at %s:8080: %v", p.Name, p.Status.PodIP, err)
			continue
		}
		_ = resp.Body.Close()
	}
}

func TestGPUPodsGetDifferentDevices(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	for _, name := range []string{"gpu-a", "gpu-b"} {
		pod := shPod(name, `echo "nvidia=$NVIDIA_VISIBLE_DEVICES cuda=$CUDA_VISIBLE_DEVICES"; sleep 3600`)
		pod.Spec.NodeSelector = map[string]string{localcluster.PoolLabel: "gpu"}
		pod.Spec.Containers[0].Resources.Limits = corev1.ResourceList{localcluster.GPUResource: resource.MustParse("3")}
		createPod(t, cs, ns, pod)
	}
	seen := map[string]string{}
	for _, name := range []string{"gpu-a", "gpu-b"} {
		pod := waitReady(t, cs, ns, name)
		if !slices.ContainsFunc(pod.Spec.Tolerations, func(tol corev1.Toleration) bool { return tol.Key == localcluster.GPUResource }) {
			t.Errorf("pod %s has no toleration for the GPU taint (ExtendedResourceToleration): %+v", name, pod.Spec.Tolerations)
		}
		var line string
		eventually(t, 30*time.Second, name+" prints its devices", func(context.Context) (bool, error) {
			line = strings.TrimSpace(podLogs(t, cs, ns, name, nil))
			return line != "", nil
		})
		nv, cuda, _ := strings.Cut(strings.TrimPrefix(line, "nvidia="), " cuda=")
		if nv != cuda || len(strings.Split(nv, ",")) != 3 {
			t.Fatalf("pod %s: %q, want 3 devices, the same in both variables", name, line)
		}
		for d := range strings.SplitSeq(nv, ",") {
			if other, dup := seen[d]; dup {
				t.Errorf("device %s given to %s and %s", d, other, name)
			}
			seen[d] = name
		}
	}
}

func TestReadWriteManyClaimIsSharedAcrossNodes(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "shared"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	pv := boundVolume(t, cs, ns, pvc)
	dir := pv.Spec.HostPath.Path
	mount := func(p *corev1.Pod, node string) *corev1.Pod {
		p.Spec.NodeName = node
		p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "shared"}}}}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		return p
	}
	createPod(t, cs, ns, mount(shPod("writer", "echo from-writer > /data/f"), "cpu-node-1"))
	if p := waitPhase(t, cs, ns, "writer", time.Minute, corev1.PodSucceeded, corev1.PodFailed); p.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("writer %s: %s", p.Status.Phase, podLogs(t, cs, ns, "writer", nil))
	}
	createPod(t, cs, ns, mount(shPod("reader", "cat /data/f"), "cpu-node-2"))
	waitPhase(t, cs, ns, "reader", time.Minute, corev1.PodSucceeded, corev1.PodFailed)
	if got := podLogs(t, cs, ns, "reader", nil); got != "from-writer\n" {
		t.Errorf("reader on cpu-node-2 read %q, want from-writer", got)
	}
	// Reclaim policy Delete: deleting the claim deletes the volume and
	// its directory.
	for _, p := range []string{"writer", "reader"} {
		_ = cs.CoreV1().Pods(ns).Delete(t.Context(), p, metav1.DeleteOptions{})
	}
	if err := cs.CoreV1().PersistentVolumeClaims(ns).Delete(t.Context(), "shared", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "volume "+pv.Name+" deleted with its directory", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		_, statErr := os.Stat(dir)
		return apierrors.IsNotFound(err) && errors.Is(statErr, os.ErrNotExist), err
	})
}

// pidNamespaceMembers are the host pids of processes in the PID namespace
// of process pid.
func pidNamespaceMembers(t *testing.T, pid int) (string, []int) {
	t.Helper()
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
	if err != nil {
		t.Fatalf("pid namespace of %d: %v", pid, err)
	}
	return ns, processesIn(ns)
}

func processesIn(ns string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err == nil && l == ns {
			pids = append(pids, pid)
		}
	}
	return pids
}

func containerPID(t *testing.T, pod *corev1.Pod) int {
	t.Helper()
	id := pod.Status.ContainerStatuses[0].ContainerID
	pid, err := strconv.Atoi(id[strings.LastIndex(id, "/")+1:])
	if err != nil {
		t.Fatalf("container ID %q has no pid", id)
	}
	return pid
}

func TestDeletingAPodEndsItsProcessTree(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	// sh (PID 1 of the container) ignores SIGTERM; its children do not
	// matter: the grace period ends, SIGKILL takes the whole tree.
	createPod(t, cs, ns, shPod("tree", "sleep 1000 & sleep 1000 & (sleep 1000 &) ; wait"))
	pod := waitReady(t, cs, ns, "tree")
	pidNS, members := pidNamespaceMembers(t, containerPID(t, pod))
	eventually(t, 10*time.Second, "4 processes in the container", func(context.Context) (bool, error) {
		members = processesIn(pidNS)
		return len(members) >= 4, fmt.Errorf("%d processes", len(members))
	})
	if err := cs.CoreV1().Pods(ns).Delete(t.Context(), "tree", metav1.DeleteOptions{GracePeriodSeconds: new(int64(1))}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "pod tree gone from the API", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Pods(ns).Get(ctx, "tree", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	eventually(t, 10*time.Second, "every process of the pod gone", func(context.Context) (bool, error) {
		left := processesIn(pidNS)
		return len(left) == 0, fmt.Errorf("still running: %v", left)
	})
}

func TestInitContainersRunInOrderThenTheMainContainer(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	pod := shPod("init", "cat /work/order")
	pod.Spec.Volumes = []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	mounts := []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}
	pod.Spec.Containers[0].VolumeMounts = mounts
	for _, n := range []string{"first", "second"} {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{
			Name: n, Image: "busybox", Command: []string{"sh", "-c", "echo " + n + " >> /work/order"}, VolumeMounts: mounts,
		})
	}
	createPod(t, cs, ns, pod)
	got := waitPhase(t, cs, ns, "init", time.Minute, corev1.PodSucceeded, corev1.PodFailed)
	if logs := podLogs(t, cs, ns, "init", nil); got.Status.Phase != corev1.PodSucceeded || logs != "first\nsecond\n" {
		t.Errorf("phase %s, logs %q; want Succeeded, first then second", got.Status.Phase, logs)
	}
	if logs := podLogs(t, cs, ns, "init", &corev1.PodLogOptions{Container: "second"}); logs != "" {
		t.Errorf("init container second logged %q, want nothing", logs)
	}
	for _, st := range got.Status.InitContainerStatuses {
		if st.State.Terminated == nil || st.State.Terminated.ExitCode != 0 {
			t.Errorf("init container %s: %+v", st.Name, st.State)
		}
	}
}

func TestActiveDeadlineEndsThePod(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	pod := shPod("late", "sleep 1000")
	pod.Spec.ActiveDeadlineSeconds = new(int64(2))
	createPod(t, cs, ns, pod)
	got := waitPhase(t, cs, ns, "late", time.Minute, corev1.PodFailed, corev1.PodSucceeded)
	if got.Status.Phase != corev1.PodFailed || got.Status.Reason != "DeadlineExceeded" {
		t.Errorf("phase %s reason %q, want Failed DeadlineExceeded", got.Status.Phase, got.Status.Reason)
	}
}

func TestOnFailureRestartsAndPreviousLogs(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	// The first run fails, the second succeeds (the emptyDir survives).
	pod := shPod("retry", `if [ -e /state/ran ]; then echo second; else touch /state/ran; echo first; exit 1; fi`)
	pod.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	pod.Spec.Volumes = []corev1.Volume{{Name: "state", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "state", MountPath: "/state"}}
	createPod(t, cs, ns, pod)
	got := waitPhase(t, cs, ns, "retry", time.Minute, corev1.PodSucceeded, corev1.PodFailed)
	st := got.Status.ContainerStatuses[0]
	if got.Status.Phase != corev1.PodSucceeded || st.RestartCount != 1 {
		t.Fatalf("phase %s restarts %d, want Succeeded after 1 restart", got.Status.Phase, st.RestartCount)
	}
	if st.LastTerminationState.Terminated == nil || st.LastTerminationState.Terminated.ExitCode != 1 {
		t.Errorf("last termination %+v, want exit code 1", st.LastTerminationState)
	}
	if logs := podLogs(t, cs, ns, "retry", nil); logs != "second\n" {
		t.Errorf("logs %q, want second", logs)
	}
	if logs := podLogs(t, cs, ns, "retry", &corev1.PodLogOptions{Previous: true}); logs != "first\n" {
		t.Errorf("previous logs %q, want first", logs)
	}
}

func TestLogsTailAndFollow(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	createPod(t, cs, ns, shPod("count", "for i in 1 2 3 4 5; do echo $i; done; sleep 2; echo 6"))
	waitPhase(t, cs, ns, "count", time.Minute, corev1.PodRunning, corev1.PodSucceeded)
	tail := int64(2)
	eventually(t, 10*time.Second, "tail 2", func(context.Context) (bool, error) {
		got := podLogs(t, cs, ns, "count", &corev1.PodLogOptions{TailLines: &tail})
		return got == "4\n5\n" || got == "5\n6\n", fmt.Errorf("tail = %q", got)
	})
	// Follow returns once the container exits, with everything.
	rc, err := cs.CoreV1().Pods(ns).GetLogs("count", &corev1.PodLogOptions{Follow: true}).Stream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rc.Close() }()
	done := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(rc); done <- b }()
	select {
	case b := <-done:
		if string(b) != "1\n2\n3\n4\n5\n6\n" {
			t.Errorf("followed logs %q", b)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("logs -f did not end when the container did")
	}
}

func TestNodesCarryPoolZoneAndRuntimeNote(t *testing.T) {
	cs := admin(t)
	nodes, err := cs.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	zones := map[string]bool{}
	for _, n := range nodes.Items {
		zones[n.Labels[localcluster.ZoneLabel]] = true
		if n.Annotations["procnode.localcluster.dev/runtime"] == "" {
			t.Errorf("node %s does not say how it runs pods", n.Name)
		}
		gpu := n.Status.Capacity[localcluster.GPUResource]
		switch n.Labels[localcluster.PoolLabel] {
		case "gpu":
			if gpu.Value() != 8 || n.Labels[localcluster.GPUPresentLabel] != "true" || len(n.Spec.Taints) != 1 {
				t.Errorf("GPU node %s: gpus %s, labels %v, taints %v", n.Name, gpu.String(), n.Labels, n.Spec.Taints)
			}
		case "cpu":
			if !gpu.IsZero() {
				t.Errorf("CPU node %s has GPUs", n.Name)
			}
		default:
			t.Errorf("node %s has no pool label", n.Name)
		}
	}
	if len(nodes.Items) != 3 || len(zones) != 2 {
		t.Errorf("%d nodes over zones %v, want 3 over 2", len(nodes.Items), zones)
	}
}

func TestKubeletAPIRefusesAnonymousCallers(t *testing.T) {
	cs := admin(t)
	node, err := cs.CoreV1().Nodes().Get(t.Context(), "cpu-node-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("https://%s:%d/pods", node.Status.Addresses[0].Address, node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: insecureTLS()}}
	resp, err := insecure.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous GET %s: %d, want 401", url, resp.StatusCode)
	}
	// A user with a certificate of the cluster CA but no right to the
	// node's API (nodes/proxy) is authenticated, then refused.
	cfg, err := cluster.UserConfig("mallory")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(cfg.CertData, cfg.KeyData)
	if err != nil {
		t.Fatal(err)
	}
	tc := insecureTLS()
	tc.Certificates = []tls.Certificate{cert}
	resp, err = (&http.Client{Transport: &http.Transport{TLSClientConfig: tc}}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET %s as mallory: %d, want 403", url, resp.StatusCode)
	}
}

func insecureTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} } //nolint:gosec // only to reach the auth check

func TestDeletionSendsSIGTERMBeforeTheGracePeriodEnds(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	// PID 1 with a SIGTERM handler exits at once: deletion must not wait
	// out the 60 s grace period.
	pod := shPod("polite", `trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done`)
	pod.Spec.TerminationGracePeriodSeconds = new(int64(60))
	createPod(t, cs, ns, pod)
	waitReady(t, cs, ns, "polite")
	eventually(t, 10*time.Second, "polite says ready", func(context.Context) (bool, error) {
		return strings.Contains(podLogs(t, cs, ns, "polite", nil), "ready"), nil
	})
	start := time.Now()
	if err := cs.CoreV1().Pods(ns).Delete(t.Context(), "polite", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "pod polite gone well before its 60s grace period", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Pods(ns).Get(ctx, "polite", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	t.Logf("deleted in %s", time.Since(start).Round(10*time.Millisecond))
}

func TestIndexedJobGetsCompletionIndex(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	indexed := batchv1.IndexedCompletion
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "idx"},
		Spec: batchv1.JobSpec{
			CompletionMode: &indexed,
			Completions:    new(int32(2)),
			Parallelism:    new(int32(2)),
			Template:       corev1.PodTemplateSpec{Spec: shPod("", `echo "index=$JOB_COMPLETION_INDEX"`).Spec},
		},
	}
	if _, err := cs.BatchV1().Jobs(ns).Create(t.Context(), job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "Job idx Complete", func(ctx context.Context) (bool, error) {
		j, err := cs.BatchV1().Jobs(ns).Get(ctx, "idx", metav1.GetOptions{})
		return err == nil && j.Status.Succeeded == 2, err
	})
	pods, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "job-name=idx"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pods.Items {
		got = append(got, strings.TrimSpace(podLogs(t, cs, ns, p.Name, nil)))
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"index=0", "index=1"}) {
		t.Errorf("indices printed %v, want index=0 and index=1", got)
	}
}

func TestRetainReclaimPolicyKeepsTheData(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	retain := corev1.PersistentVolumeReclaimRetain
	immediate := storagev1.VolumeBindingImmediate
	class := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: "keep-" + ns},
		Provisioner:       provisioner.Name,
		ReclaimPolicy:     &retain,
		VolumeBindingMode: &immediate,
	}
	if _, err := cs.StorageV1().StorageClasses().Create(t.Context(), class, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "kept"},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &class.Name,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	pv := boundVolume(t, cs, ns, pvc)
	file := filepath.Join(pv.Spec.HostPath.Path, "precious")
	if err := os.WriteFile(file, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().PersistentVolumeClaims(ns).Delete(t.Context(), "kept", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "volume "+pv.Name+" Released", func(ctx context.Context) (bool, error) {
		got, err := cs.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		return err == nil && got.Status.Phase == corev1.VolumeReleased, err
	})
	if b, err := os.ReadFile(file); err != nil || string(b) != "keep me" {
		t.Errorf("retained data: %q, %v", b, err)
	}
}

func TestFailingLivenessProbeRestartsTheContainer(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	pod := shPod("sick", "touch /tmp/alive; sleep 2; rm /tmp/alive; sleep 1000")
	pod.Spec.RestartPolicy = corev1.RestartPolicyAlways
	pod.Spec.Containers[0].LivenessProbe = &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-e", "/tmp/alive"}}},
		PeriodSeconds:    1,
		FailureThreshold: 1,
	}
	createPod(t, cs, ns, pod)
	eventually(t, time.Minute, "sick restarted by its liveness probe", func(ctx context.Context) (bool, error) {
		got, err := cs.CoreV1().Pods(ns).Get(ctx, "sick", metav1.GetOptions{})
		if err != nil || len(got.Status.ContainerStatuses) == 0 {
			return false, err
		}
		st := got.Status.ContainerStatuses[0]
		return st.RestartCount >= 1 && st.LastTerminationState.Terminated != nil && st.LastTerminationState.Terminated.ExitCode == 137, nil
	})
}

// podUID is the uid pods see: "nobody" when the agent runs as root, else
// root inside a user namespace mapping the agent's own user.
func podUID() string {
	if os.Geteuid() == 0 {
		return "65534"
	}
	return "0"
}

// boundVolume creates pvc in ns and returns the volume it is bound to.
func boundVolume(t *testing.T, cs kubernetes.Interface, ns string, pvc *corev1.PersistentVolumeClaim) *corev1.PersistentVolume {
	t.Helper()
	if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(t.Context(), pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var volume string
	eventually(t, time.Minute, "claim "+pvc.Name+" Bound", func(ctx context.Context) (bool, error) {
		got, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, pvc.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		volume = got.Spec.VolumeName
		return got.Status.Phase == corev1.ClaimBound, nil
	})
	pv, err := cs.CoreV1().PersistentVolumes().Get(t.Context(), volume, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pv
}
