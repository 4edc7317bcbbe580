package procnode

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// volumeSet is a pod's volumes as host paths, and the service-account
// tokens in them that need refreshing.
type volumeSet struct {
	paths  map[string]string // volume name → host path
	tokens []tokenFile
}

// tokenFile is a projected service-account token written to path.
type tokenFile struct {
	path     string
	sa       string
	audience []string
	seconds  int64
	expires  time.Time
	mode     os.FileMode
}

// errVolumeNotReady means a volume's source does not exist (yet): the pod
// waits, as on a kubelet.
var errVolumeNotReady = errors.New("volume not ready")

// prepareVolumes writes each volume of pod under dir (configMaps, secrets,
// tokens and downward API as files) or finds its host path (claims, host
// paths). uid and gid own what the pod may write.
func prepareVolumes(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, dir string, uid, gid int) (*volumeSet, error) {
	vs := &volumeSet{paths: map[string]string{}}
	for _, v := range pod.Spec.Volumes {
		path := filepath.Join(dir, v.Name)
		var err error
		switch {
		case v.EmptyDir != nil:
			err = os.MkdirAll(path, 0o777)
			if err == nil {
				err = errors.Join(os.Chmod(path, 0o777), os.Chown(path, uid, gid))
			}
		case v.ConfigMap != nil:
			err = writeConfigMap(ctx, cs, pod.Namespace, path, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional, mode(v.ConfigMap.DefaultMode))
		case v.Secret != nil:
			err = writeSecret(ctx, cs, pod.Namespace, path, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, mode(v.Secret.DefaultMode))
		case v.DownwardAPI != nil:
			err = writeDownwardAPI(pod, path, v.DownwardAPI.Items, mode(v.DownwardAPI.DefaultMode))
		case v.Projected != nil:
			err = vs.writeProjected(ctx, cs, pod, path, v.Projected)
		case v.PersistentVolumeClaim != nil:
			path, err = claimPath(ctx, cs, pod.Namespace, v.PersistentVolumeClaim.ClaimName)
		case v.HostPath != nil:
			path = v.HostPath.Path
			if t := v.HostPath.Type; t != nil && *t == corev1.HostPathDirectoryOrCreate {
				err = os.MkdirAll(path, 0o755)
			}
		default:
			err = fmt.Errorf("volume %q: only emptyDir, configMap, secret, downwardAPI, projected, persistentVolumeClaim and hostPath volumes work on process nodes", v.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		vs.paths[v.Name] = path
	}
	return vs, nil
}

func mode(m *int32) os.FileMode {
	if m == nil {
		return 0o644
	}
	return os.FileMode(*m)
}

func writeConfigMap(ctx context.Context, cs kubernetes.Interface, ns, dir, name string, items []corev1.KeyToPath, optional *bool, m os.FileMode) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if optional != nil && *optional {
			return nil
		}
		return fmt.Errorf("ConfigMap %s: %w: %w", name, errVolumeNotReady, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	maps.Copy(data, cm.BinaryData)
	return writeKeys(dir, data, items, m, "ConfigMap "+name)
}

func writeSecret(ctx context.Context, cs kubernetes.Interface, ns, dir, name string, items []corev1.KeyToPath, optional *bool, m os.FileMode) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	s, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if optional != nil && *optional {
			return nil
		}
		return fmt.Errorf("secret %s: %w: %w", name, errVolumeNotReady, err)
	}
	return writeKeys(dir, s.Data, items, m, "secret "+name)
}

// writeKeys writes data (all keys, or only items) as files in dir.
func writeKeys(dir string, data map[string][]byte, items []corev1.KeyToPath, m os.FileMode, what string) error {
	if len(items) == 0 {
		for k, v := range data {
			if err := writeFile(dir, k, v, m); err != nil {
				return err
			}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("%s has no key %q", what, it.Key)
		}
		fm := m
		if it.Mode != nil {
			fm = os.FileMode(*it.Mode)
		}
		if err := writeFile(dir, it.Path, v, fm); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes dir/rel atomically (rename), refusing paths that leave
// dir.
func writeFile(dir, rel string, data []byte, m os.FileMode) error {
	clean := filepath.Clean(rel)
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("path %q leaves the volume", rel)
	}
	path := filepath.Join(dir, clean)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, m); err != nil {
		return err
	}
	if err := os.Chmod(tmp, m); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func writeDownwardAPI(pod *corev1.Pod, dir string, items []corev1.DownwardAPIVolumeFile, m os.FileMode) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = podField(pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			c := findContainer(pod, it.ResourceFieldRef.ContainerName)
			if c == nil {
				return fmt.Errorf("downward API %s: no container %q", it.Path, it.ResourceFieldRef.ContainerName)
			}
			v, err = resourceField(c, it.ResourceFieldRef)
		}
		if err != nil {
			return fmt.Errorf("downward API %s: %w", it.Path, err)
		}
		fm := m
		if it.Mode != nil {
			fm = os.FileMode(*it.Mode)
		}
		if err := writeFile(dir, it.Path, []byte(v), fm); err != nil {
			return err
		}
	}
	return nil
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if name == "" || pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	return nil
}

// writeProjected writes a projected volume: service-account tokens (bound
// to the pod, from the TokenRequest API), configMaps, secrets and downward
// API files in one directory — kube-api-access-* is such a volume.
func (vs *volumeSet) writeProjected(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, dir string, p *corev1.ProjectedVolumeSource) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	m := mode(p.DefaultMode)
	for _, src := range p.Sources {
		var err error
		switch {
		case src.ServiceAccountToken != nil:
			t := src.ServiceAccountToken
			tf := tokenFile{path: filepath.Join(dir, t.Path), sa: pod.Spec.ServiceAccountName, mode: m, seconds: 3600}
			if t.ExpirationSeconds != nil {
				tf.seconds = *t.ExpirationSeconds
			}
			if t.Audience != "" {
				tf.audience = []string{t.Audience}
			}
			if tf.sa == "" {
				tf.sa = "default"
			}
			if err = tf.refresh(ctx, cs, pod); err == nil {
				vs.tokens = append(vs.tokens, tf)
			}
		case src.ConfigMap != nil:
			err = writeConfigMap(ctx, cs, pod.Namespace, dir, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional, m)
		case src.Secret != nil:
			err = writeSecret(ctx, cs, pod.Namespace, dir, src.Secret.Name, src.Secret.Items, src.Secret.Optional, m)
		case src.DownwardAPI != nil:
			err = writeDownwardAPI(pod, dir, src.DownwardAPI.Items, m)
		default:
			err = errors.New("only serviceAccountToken, configMap, secret and downwardAPI projections work on process nodes")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// refresh requests a new token bound to the pod and writes it.
func (tf *tokenFile) refresh(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod) error {
	tr, err := cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, tf.sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         tf.audience,
			ExpirationSeconds: &tf.seconds,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token for ServiceAccount %s: %w: %w", tf.sa, errVolumeNotReady, err)
	}
	tf.expires = tr.Status.ExpirationTimestamp.Time
	return writeFile(filepath.Dir(tf.path), filepath.Base(tf.path), []byte(tr.Status.Token), tf.mode)
}

// claimPath is the host directory of a bound claim's volume.
func claimPath(ctx context.Context, cs kubernetes.Interface, ns, claim string) (string, error) {
	pvc, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("claim %s: %w: %w", claim, errVolumeNotReady, err)
	}
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
		return "", fmt.Errorf("claim %s is %s: %w", claim, pvc.Status.Phase, errVolumeNotReady)
	}
	pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("volume %s: %w: %w", pvc.Spec.VolumeName, errVolumeNotReady, err)
	}
	switch {
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path, nil
	case pv.Spec.Local != nil:
		return pv.Spec.Local.Path, nil
	}
	return "", fmt.Errorf("volume %s is neither hostPath nor local: process nodes cannot mount it", pv.Name)
}
