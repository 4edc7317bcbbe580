package install

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
	"github.com/tenancy-dev/tenancy/config"
)

// The components `tenancy install --components` takes.
const (
	// ComponentCRDs is the API: the system namespace, the CRDs, the
	// ClusterRoles people are bound to and the admission policies.
	ComponentCRDs = "crds"
	// ComponentController is the workspace controller's Deployment, its
	// ServiceAccount and RBAC.
	ComponentController = "controller"
	// ComponentServer is the web UI and REST API: Deployment, Service,
	// ServiceAccount and RBAC.
	ComponentServer = "server"
)

// Components are all components, in the order they are applied.
var Components = []string{ComponentCRDs, ComponentController, ComponentServer}

// Names of the objects of the controller and server components. Each
// Deployment's pods are labelled app.kubernetes.io/name=<its name>.
const (
	ControllerName = "tenancy-controller"
	ServerName     = "tenancy-server"
	// LabelName selects a Deployment's pods.
	LabelName = "app.kubernetes.io/name"
	// ControllerProbePort serves the controller's /healthz and /readyz.
	ControllerProbePort = 8081
	// ServerPort is the server's container port; its Service listens on 80.
	ServerPort = 8090
	// NonRootUID is the uid (and gid) the pods run as: the image's user.
	NonRootUID = 65532
	// LeaseNamespace holds the controller's leader election Lease.
	LeaseNamespace = SystemNamespace
)

// Image is the image reference this binary was built into, stamped by
// `make image` with -ldflags "-X github.com/tenancy-dev/tenancy/internal/install.Image=REF".
// Empty in a binary built otherwise.
var Image string

// UnstampedImage is the image a binary that carries none installs: the
// one `make image` names by default.
const UnstampedImage = "ghcr.io/tenancy-dev/tenancy:dev"

// DefaultImage is the image that matches this binary.
func DefaultImage() string {
	if Image != "" {
		return Image
	}
	return UnstampedImage
}

// Options say what Render renders.
type Options struct {
	// Components, of Components; all when empty.
	Components []string
	// Image runs the controller and the server; DefaultImage() when "".
	Image string
	// Replicas of each Deployment; 2 when 0.
	Replicas int32
	// MutatingPolicies includes the MutatingAdmissionPolicies (Kubernetes
	// 1.36 on; see MutatingServed).
	MutatingPolicies bool
	// Path, when set, is the PATH of the containers. `tenancy up
	// --in-cluster` sets it so that the local process nodes, which run the
	// command on this machine instead of in the image, find this binary.
	Path string
}

// Validate checks the options, saying how to fix what is wrong.
func (o Options) Validate() error {
	for _, c := range o.Components {
		if !slices.Contains(Components, c) {
			return fmt.Errorf("unknown component %q: choose from %s", c, strings.Join(Components, ","))
		}
	}
	if o.Replicas < 0 || o.Replicas > 10 {
		return fmt.Errorf("replicas must be between 1 and 10, got %d", o.Replicas)
	}
	return nil
}

func (o Options) has(c string) bool {
	return len(o.Components) == 0 || slices.Contains(o.Components, c)
}

// Render returns the objects of the components chosen, in the order they
// are applied, each as it is applied (server-side apply) and printed by
// `tenancy install --dry-run -o yaml`: the one source of both. Every object
// carries the labels app.kubernetes.io/managed-by=tenancy and
// app.kubernetes.io/component=install, by which `tenancy uninstall` finds
// them.
func Render(o Options) ([]*unstructured.Unstructured, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Image == "" {
		o.Image = DefaultImage()
	}
	if o.Replicas == 0 {
		o.Replicas = 2
	}
	var objs []any
	if o.has(ComponentCRDs) {
		objs = append(objs, systemNamespace())
		docs, err := config.CRDs()
		if err != nil {
			return nil, err
		}
		for _, doc := range docs {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := yaml.UnmarshalStrict(doc, crd); err != nil {
				return nil, fmt.Errorf("decode embedded CRD: %w", err)
			}
			crd.APIVersion, crd.Kind = "apiextensions.k8s.io/v1", "CustomResourceDefinition"
			objs = append(objs, crd)
		}
		for _, ac := range AdmissionObjects(o.MutatingPolicies) {
			objs = append(objs, ac)
		}
		for _, ac := range SelfServeObjects() {
			objs = append(objs, ac)
		}
	}
	if o.has(ComponentController) {
		c, err := controllerObjects(o)
		if err != nil {
			return nil, err
		}
		objs = append(objs, c...)
	}
	if o.has(ComponentServer) {
		s, err := serverObjects(o)
		if err != nil {
			return nil, err
		}
		objs = append(objs, s...)
	}
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, obj := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return nil, fmt.Errorf("render %T: %w", obj, err)
		}
		prune(m)
		delete(m, "status")
		u := &unstructured.Unstructured{Object: m}
		labels := u.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		maps.Copy(labels, managedLabels())
		u.SetLabels(labels)
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("render %T: no kind or apiVersion", obj)
		}
		out = append(out, u)
	}
	return out, nil
}

// YAML is objs as YAML documents, for review or GitOps.
func YAML(objs []*unstructured.Unstructured) ([]byte, error) {
	var b bytes.Buffer
	for i, u := range objs {
		if i > 0 {
			b.WriteString("---\n")
		}
		y, err := yaml.Marshal(u.Object)
		if err != nil {
			return nil, err
		}
		b.Write(y)
	}
	return b.Bytes(), nil
}

// prune drops nulls: what a typed object's unset fields leave in its
// unstructured form (creationTimestamp: null). Empty maps stay: some mean
// something (a CRD's subresources.status: {}).
func prune(m map[string]any) {
	for k, v := range m {
		switch vv := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			prune(vv)
		case []any:
			for _, e := range vv {
				if em, ok := e.(map[string]any); ok {
					prune(em)
				}
			}
		}
	}
}

func objectMeta(name, namespace string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: managedLabels()}
}

func systemNamespace() *corev1.Namespace {
	return &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: objectMeta(SystemNamespace, "")}
}

func serviceAccount(name string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: objectMeta(name, SystemNamespace)}
}

var rbacTypeMeta = func(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: kind}
}

// bindings bind the ClusterRole and Role named name to the
// ServiceAccount of that name.
func bindings(name string, role bool) []any {
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: SystemNamespace}}
	out := []any{&rbacv1.ClusterRoleBinding{
		TypeMeta: rbacTypeMeta("ClusterRoleBinding"), ObjectMeta: objectMeta(name, ""),
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}, Subjects: subjects,
	}}
	if role {
		out = append(out, &rbacv1.RoleBinding{
			TypeMeta: rbacTypeMeta("RoleBinding"), ObjectMeta: objectMeta(name, SystemNamespace),
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}, Subjects: subjects,
		})
	}
	return out
}

// controllerObjects: the controller's identity, with exactly the rights of
// config/rbac/role.yaml, its Lease Role moved to tenancy-system, and its
// Deployment.
func controllerObjects(o Options) ([]any, error) {
	cr, roles, err := config.ControllerRoles()
	if err != nil {
		return nil, err
	}
	cr.TypeMeta = rbacTypeMeta("ClusterRole")
	out := []any{serviceAccount(ControllerName), cr}
	if len(roles) != 1 || roles[0].Name != ControllerName {
		return nil, fmt.Errorf("config/rbac/role.yaml: want one Role %s (leader election), got %d", ControllerName, len(roles))
	}
	role := roles[0]
	role.TypeMeta = rbacTypeMeta("Role")
	role.Namespace = LeaseNamespace
	out = append(out, &role)
	out = append(out, bindings(ControllerName, true)...)
	// The image's tenancy-controller is the controller alone (it maps a
	// third of the whole CLI's pages); the local nodes of `tenancy up
	// --in-cluster` run this very binary instead, as `tenancy controller`.
	command, args := []string{"tenancy-controller"}, []string{}
	if o.Path != "" {
		command, args = []string{"tenancy"}, []string{"controller"}
	}
	args = append(args,
		"--leader-elect",
		"--leader-election-namespace="+LeaseNamespace,
		fmt.Sprintf("--health-probe-bind-address=$(POD_IP):%d", ControllerProbePort),
		// Not authenticated: off, as on a laptop it listens on loopback only.
		"--metrics-bind-address=0",
	)
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("probes")}},
			PeriodSeconds: 10, TimeoutSeconds: 3, FailureThreshold: 3,
		}
	}
	c := container(o, "controller", command, args, corev1.ContainerPort{Name: "probes", ContainerPort: ControllerProbePort, Protocol: corev1.ProtocolTCP})
	c.LivenessProbe, c.ReadinessProbe = probe("/healthz"), probe("/readyz")
	c.LivenessProbe.InitialDelaySeconds = 15
	c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}
	c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}
	out = append(out, deployment(o, ControllerName, c), pdb(ControllerName))
	return out, nil
}

// serverObjects: the server's identity with the rights of
// config/rbac/server_role.yaml, its Deployment and Service.
func serverObjects(o Options) ([]any, error) {
	docs := bytes.Split(config.ServerRBAC, []byte("\n---\n"))
	if len(docs) != 2 {
		return nil, fmt.Errorf("config/rbac/server_role.yaml: want a ClusterRole and a Role, got %d documents", len(docs))
	}
	cr, role := &rbacv1.ClusterRole{}, &rbacv1.Role{}
	if err := yaml.UnmarshalStrict(docs[0], cr); err != nil {
		return nil, fmt.Errorf("decode the server's ClusterRole: %w", err)
	}
	if err := yaml.UnmarshalStrict(docs[1], role); err != nil {
		return nil, fmt.Errorf("decode the server's Role: %w", err)
	}
	if cr.Name != ServerName || role.Name != ServerName || role.Namespace != SystemNamespace {
		return nil, fmt.Errorf("config/rbac/server_role.yaml: want ClusterRole and Role %s/%s", SystemNamespace, ServerName)
	}
	out := []any{serviceAccount(ServerName), cr, role}
	out = append(out, bindings(ServerName, true)...)
	args := []string{"serve", fmt.Sprintf("--address=$(POD_IP):%d", ServerPort)}
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}},
			PeriodSeconds: 10, TimeoutSeconds: 3, FailureThreshold: 3,
		}
	}
	c := container(o, "server", []string{"tenancy"}, args, corev1.ContainerPort{Name: "http", ContainerPort: ServerPort, Protocol: corev1.ProtocolTCP})
	c.LivenessProbe, c.ReadinessProbe = probe("/healthz"), probe("/readyz")
	c.LivenessProbe.InitialDelaySeconds = 15
	c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}
	c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(ServerName, SystemNamespace),
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{LabelName: ServerName},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
		},
	}
	out = append(out, deployment(o, ServerName, c), svc, pdb(ServerName))
	return out, nil
}

// container runs COMMAND ARGS as the image's non-root user with nothing
// it does not need: no privilege escalation, no capability, a read-only
// root (a /tmp of its own), seccomp RuntimeDefault. POD_IP is the pod's
// address (downward API): it listens there, so that replicas on nodes that
// share a network (the local process nodes) never collide. GOMEMLIMIT is
// the container's memory limit, so that Go's garbage collector works
// harder as the process nears it instead of letting it be killed.
func container(o Options, name string, command, args []string, port corev1.ContainerPort) corev1.Container {
	env := []corev1.EnvVar{
		{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		{Name: "GOMEMLIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory"}}},
	}
	if o.Path != "" {
		env = append(env, corev1.EnvVar{Name: "PATH", Value: o.Path})
	}
	return corev1.Container{
		Name:            name,
		Image:           o.Image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         command,
		Args:            args,
		Env:             env,
		Ports:           []corev1.ContainerPort{port},
		VolumeMounts:    []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                ptr.To[int64](NonRootUID),
			RunAsGroup:               ptr.To[int64](NonRootUID),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

// deployment runs c, o.Replicas times, never two on one node (required
// anti-affinity; a rolling update replaces one pod at a time, with no
// surge, so it needs no spare node), spread over zones where there are.
func deployment(o Options, name string, c corev1.Container) *appsv1.Deployment {
	sel := map[string]string{LabelName: name}
	podLabels := map[string]string{LabelName: name, tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue}
	maxUnavailable, maxSurge := intstr.FromInt32(1), intstr.FromInt32(0)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: objectMeta(name, SystemNamespace),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(o.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &maxUnavailable, MaxSurge: &maxSurge},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					ServiceAccountName:            name,
					AutomountServiceAccountToken:  ptr.To(true),
					TerminationGracePeriodSeconds: ptr.To[int64](30),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To[int64](NonRootUID),
						RunAsGroup:     ptr.To[int64](NonRootUID),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{c},
					Volumes:    []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("64Mi"))}}}},
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
							LabelSelector: &metav1.LabelSelector{MatchLabels: sel},
							TopologyKey:   corev1.LabelHostname,
						}},
					}},
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
						MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.ScheduleAnyway,
						LabelSelector: &metav1.LabelSelector{MatchLabels: sel},
					}},
				},
			},
		},
	}
}

// pdb keeps at least one of name's pods through voluntary disruptions
// (node drains).
func pdb(name string) *policyv1.PodDisruptionBudget {
	one := intstr.FromInt32(1)
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: objectMeta(name, SystemNamespace),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: &one,
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{LabelName: name}},
		},
	}
}
