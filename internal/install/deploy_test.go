package install

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

func TestRenderEveryObjectUninstallable(t *testing.T) {
	objs, err := Render(Options{MutatingPolicies: true})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, gvk := range installedKinds {
		kinds[gvk.GroupVersion().String()+" "+gvk.Kind] = true
	}
	for _, u := range objs {
		if !kinds[u.GetAPIVersion()+" "+u.GetKind()] {
			t.Errorf("%s %s: uninstall does not know the kind %s %s", u.GetKind(), u.GetName(), u.GetAPIVersion(), u.GetKind())
		}
		l := u.GetLabels()
		if l[tenancyv1.LabelComponent] != tenancyv1.ComponentInstall || l[tenancyv1.LabelManagedBy] != tenancyv1.ManagedByValue {
			t.Errorf("%s %s: labels %v, uninstall would not find it", u.GetKind(), u.GetName(), l)
		}
	}
	for i, gvk := range installedKinds {
		admission := gvk.Group == "admissionregistration.k8s.io" || gvk.Group == "apps" || gvk.Kind == "Service" || gvk.Kind == "PodDisruptionBudget"
		if admission != (i < admissionKinds) {
			t.Errorf("installedKinds[%d] %s: admissionKinds is %d", i, gvk.Kind, admissionKinds)
		}
	}
}

func TestRenderDeployments(t *testing.T) {
	objs, err := Render(Options{Components: []string{ComponentController, ComponentServer}, Image: "example.com/t:1", Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, u := range objs {
		if u.GetKind() == "CustomResourceDefinition" {
			t.Errorf("CRD rendered without the crds component")
		}
		if u.GetKind() == "Role" && u.GetName() == ControllerName && u.GetNamespace() != LeaseNamespace {
			t.Errorf("the controller's Lease Role is in %s, want %s", u.GetNamespace(), LeaseNamespace)
		}
		if u.GetKind() != "Deployment" {
			continue
		}
		d := &appsv1.Deployment{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, d); err != nil {
			t.Fatal(err)
		}
		seen[d.Name] = true
		pod := d.Spec.Template
		c := pod.Spec.Containers[0]
		switch {
		case *d.Spec.Replicas != 3:
			t.Errorf("%s: %d replicas", d.Name, *d.Spec.Replicas)
		case pod.Labels[LabelName] != d.Name || d.Spec.Selector.MatchLabels[LabelName] != d.Name:
			t.Errorf("%s: pods labelled %v", d.Name, pod.Labels)
		case pod.Spec.ServiceAccountName != d.Name:
			t.Errorf("%s: ServiceAccount %s", d.Name, pod.Spec.ServiceAccountName)
		case c.Image != "example.com/t:1":
			t.Errorf("%s: image %s", d.Name, c.Image)
		case c.LivenessProbe == nil || c.ReadinessProbe == nil || c.Resources.Requests.Cpu().IsZero():
			t.Errorf("%s: probes or requests missing", d.Name)
		case !*c.SecurityContext.RunAsNonRoot || !*c.SecurityContext.ReadOnlyRootFilesystem || *c.SecurityContext.AllowPrivilegeEscalation ||
			len(c.SecurityContext.Capabilities.Drop) != 1 || c.SecurityContext.Capabilities.Drop[0] != "ALL" || c.SecurityContext.SeccompProfile.Type != "RuntimeDefault":
			t.Errorf("%s: securityContext %+v", d.Name, c.SecurityContext)
		case pod.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey != "kubernetes.io/hostname":
			t.Errorf("%s: replicas not kept apart by node", d.Name)
		case !strings.Contains(strings.Join(c.Args, " "), "$(POD_IP):") || c.Env[0].ValueFrom.FieldRef.FieldPath != "status.podIP":
			t.Errorf("%s: does not listen on the pod's IP: %v", d.Name, c.Args)
		}
		for _, e := range c.Env {
			if e.Name == "PATH" {
				t.Errorf("%s: PATH set without Options.Path", d.Name)
			}
		}
	}
	if !seen[ControllerName] || !seen[ServerName] {
		t.Errorf("deployments rendered: %v", seen)
	}
	if _, err := Render(Options{Components: []string{"web"}}); err == nil || !strings.Contains(err.Error(), "crds,controller,server") {
		t.Errorf("an unknown component: %v", err)
	}
}
