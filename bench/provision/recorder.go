package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tenancyv1 "github.com/tenancy-dev/tenancy/api/v1alpha1"
)

// recorder notes when each workspace was created and first seen with a
// condition True for its current generation (Ready, and PodsReady), from
// the driver's watch of Workspaces, or from the ceiling client itself.
type recorder struct {
	want      int
	prefix    string
	mu        sync.Mutex
	createdAt map[string]time.Time
	at        map[string]map[string]time.Time // condition → workspace → when
	done      map[string]chan struct{}
}

func newRecorder(want int, prefix string, conditions ...string) *recorder {
	r := &recorder{want: want, prefix: prefix, createdAt: map[string]time.Time{},
		at: map[string]map[string]time.Time{}, done: map[string]chan struct{}{}}
	for _, c := range conditions {
		r.at[c] = map[string]time.Time{}
		r.done[c] = make(chan struct{})
	}
	return r
}

func (r *recorder) created(name string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.createdAt[name] = at
}

// mark records that name reached condition at now.
func (r *recorder) mark(condition, name string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := r.at[condition]
	if _, ok := seen[name]; ok {
		return
	}
	seen[name] = now
	if len(seen) == r.want {
		close(r.done[condition])
	}
}

// observe is the watch handler.
func (r *recorder) observe(obj any) {
	ws, ok := obj.(*tenancyv1.Workspace)
	if !ok || !strings.HasPrefix(ws.Name, r.prefix) {
		return
	}
	now := time.Now()
	for cond := range r.at {
		c := ws.Condition(cond)
		if c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == ws.Generation {
			r.mark(cond, ws.Name, now)
		}
	}
}

func (r *recorder) count(condition string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.at[condition])
}

// last is when the last workspace reached condition.
func (r *recorder) last(condition string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var t time.Time
	for _, at := range r.at[condition] {
		if at.After(t) {
			t = at
		}
	}
	return t
}

// latencies are create → condition per workspace, sorted.
func (r *recorder) latencies(condition string) []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]time.Duration, 0, len(r.at[condition]))
	for name, at := range r.at[condition] {
		if c, ok := r.createdAt[name]; ok {
			out = append(out, at.Sub(c))
		}
	}
	slices.Sort(out)
	return out
}

// since are the times condition was reached, relative to t0, sorted: the
// curve of the chart.
func (r *recorder) since(condition string, t0 time.Time) []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]time.Duration, 0, len(r.at[condition]))
	for _, at := range r.at[condition] {
		out = append(out, at.Sub(t0))
	}
	slices.Sort(out)
	return out
}

// workspaceChanges tallies, while active, what changed in Workspace update
// events: which part of the object, and a few examples.
type workspaceChanges struct {
	active   atomic.Bool
	mu       sync.Mutex
	parts    map[string]int
	examples []string
}

func (w *workspaceChanges) observe(oldObj, newObj any) {
	if !w.active.Load() {
		return
	}
	o, ok1 := oldObj.(*tenancyv1.Workspace)
	n, ok2 := newObj.(*tenancyv1.Workspace)
	if !ok1 || !ok2 || o.ResourceVersion == n.ResourceVersion {
		return
	}
	var parts []string
	if o.Generation != n.Generation {
		parts = append(parts, "spec")
	}
	if !equality.Semantic.DeepEqual(o.Labels, n.Labels) || !equality.Semantic.DeepEqual(o.Annotations, n.Annotations) ||
		!slices.Equal(o.Finalizers, n.Finalizers) {
		parts = append(parts, "metadata")
	}
	if !equality.Semantic.DeepEqual(o.Status.Quota, n.Status.Quota) {
		parts = append(parts, "status.quota")
	}
	if !equality.Semantic.DeepEqual(o.Status.Conditions, n.Status.Conditions) {
		parts = append(parts, "status.conditions")
	}
	if len(parts) == 0 {
		parts = append(parts, "other (managedFields or status fields not compared)")
	}
	key := strings.Join(parts, "+")
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.parts == nil {
		w.parts = map[string]int{}
	}
	w.parts[key]++
	if len(w.examples) < 5 {
		w.examples = append(w.examples, n.Name+": "+key)
	}
}

func (w *workspaceChanges) summary() (total int, lines []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, v := range w.parts {
		total += v
		lines = append(lines, fmt.Sprintf("%s: %d", k, v))
	}
	slices.Sort(lines)
	return total, append(lines, w.examples...)
}

// results is what -json writes.
type results struct {
	Workspaces int    `json:"workspaces"`
	Version    string `json:"version"`
	Machine    string `json:"machine"`
	// ControlPlanes says whether Tenancy and the ceilings ran on one
	// control plane or each on its own ("" when only one was measured).
	ControlPlanes     string             `json:"controlPlanes,omitempty"`
	Tenancy           *tenancyResults    `json:"tenancy,omitempty"`
	Ceiling           ceilingResults     `json:"ceiling"`
	CreateOnlyCeiling ceilingResults     `json:"createOnlyCeiling"`
	Ratios            map[string]float64 `json:"ratios"`
}

type tenancyResults struct {
	ReadySeconds        float64 `json:"readySeconds"`
	PodsReadySeconds    float64 `json:"podsReadySeconds,omitempty"`
	CPUSeconds          float64 `json:"cpuSeconds"`
	APIServerCPUSeconds float64 `json:"apiserverCPUSeconds"`
	PeakRSSBytes        int64   `json:"peakRSSBytes"`
	// GoMemLimit is the controller's GOMEMLIMIT (-gomemlimit), if set.
	GoMemLimit string  `json:"goMemLimit,omitempty"`
	IdleWrites float64 `json:"idleWrites"`
	// WritesPerWorkspace counts the Workspace's create and every write the
	// controller sent to steady state.
	WritesPerWorkspace   float64 `json:"writesPerWorkspace"`
	RequestsPerWorkspace float64 `json:"requestsPerWorkspace"`
	// ReadyTimes and PodsReadyTimes are when each workspace became Ready
	// (PodsReady), since the first create, sorted: the curves of the chart
	// (-chart-from redraws it).
	ReadyTimes     []float64       `json:"readyTimes,omitempty"`
	PodsReadyTimes []float64       `json:"podsReadyTimes,omitempty"`
	Restart        *restartResults `json:"restart,omitempty"`
	Delete         *deleteResults  `json:"delete,omitempty"`
}

type ceilingResults struct {
	Seconds             float64        `json:"seconds"`
	CPUSeconds          float64        `json:"cpuSeconds"`
	APIServerCPUSeconds float64        `json:"apiserverCPUSeconds"`
	WritesPerWorkspace  float64        `json:"writesPerWorkspace"`
	Delete              *deleteResults `json:"delete,omitempty"`
	// DoneSeconds are when each workspace was done, since the first
	// create, sorted: the curve of the chart (-chart-with draws it beside
	// another run's).
	DoneSeconds []float64 `json:"doneSeconds,omitempty"`
}

type restartResults struct {
	VerifiedSeconds float64 `json:"verifiedSeconds"`
	Reconciles      float64 `json:"reconciles"`
	Writes          float64 `json:"writes"`
	PeakRSSBytes    int64   `json:"peakRSSBytes"`
}

type deleteResults struct {
	Seconds    float64 `json:"seconds"`
	LeftBehind int     `json:"leftBehind"`
}

// seconds turns sorted durations into seconds, for the JSON.
func seconds(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = math.Round(d.Seconds()*1000) / 1000
	}
	return out
}

// durations is the inverse of seconds.
func durations(ss []float64) []time.Duration {
	out := make([]time.Duration, len(ss))
	for i, s := range ss {
		out[i] = time.Duration(s * float64(time.Second))
	}
	return out
}

// readResults reads a -json file of an earlier run.
func readResults(path string) (*results, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r results
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

func (r *results) write(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// series is one curve of the chart: the sorted times at which successive
// workspaces became ready.
type series struct {
	name, color string
	dash        bool
	times       []time.Duration
}

// writeSVG draws workspaces ready over time, one step curve per series.
func writeSVG(path, title string, n int, ss []series) error {
	const w, h, left, right, top, bottom = 760, 420, 70, 20, 40, 60
	var tmax time.Duration
	for _, s := range ss {
		if len(s.times) > 0 && s.times[len(s.times)-1] > tmax {
			tmax = s.times[len(s.times)-1]
		}
	}
	if tmax <= 0 {
		tmax = time.Second
	}
	step := niceStep(tmax.Seconds())
	xmax := step * float64(int(tmax.Seconds()/step)+1)
	x := func(sec float64) float64 { return left + sec/xmax*(w-left-right) }
	y := func(k int) float64 { return h - bottom - float64(k)/float64(n)*(h-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="14">%s</text>`+"\n", left, xmlEscape(title))
	for sec := 0.0; sec <= xmax+1e-9; sec += step {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/><text x="%.1f" y="%d" text-anchor="middle">%g s</text>`+"\n",
			x(sec), top, x(sec), h-bottom, x(sec), h-bottom+16, sec)
	}
	for i := 0; i <= 4; i++ {
		k := n * i / 4
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%d</text>`+"\n",
			left, y(k), w-right, y(k), left-6, y(k)+4, k)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">seconds since the first create</text>`+"\n", (w+left)/2, h-bottom+36)
	fmt.Fprintf(&b, `<text transform="translate(16 %d) rotate(-90)" text-anchor="middle">workspaces ready</text>`+"\n", (h+top-bottom)/2)
	for i, s := range ss {
		var pts strings.Builder
		fmt.Fprintf(&pts, "%.1f,%.1f", x(0), y(0))
		stride := max(1, len(s.times)/400) // at most ~400 points a curve
		for k := 0; k < len(s.times); k += stride {
			fmt.Fprintf(&pts, " %.1f,%.1f", x(s.times[k].Seconds()), y(k+1))
		}
		if len(s.times) > 0 {
			fmt.Fprintf(&pts, " %.1f,%.1f", x(s.times[len(s.times)-1].Seconds()), y(len(s.times)))
		}
		dash := ""
		if s.dash {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", s.color, dash, pts.String())
		ly := h - bottom - 16 - 18*(len(ss)-1-i) // bottom right, below the curves
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/><text x="%d" y="%d">%s</text>`+"\n",
			w-right-400, ly, w-right-370, ly, s.color, dash, w-right-364, ly+4, xmlEscape(s.name))
	}
	b.WriteString("</svg>\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// niceStep is a round axis step giving 5 to 10 ticks up to max.
func niceStep(maxSec float64) float64 {
	for _, s := range []float64{1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600} {
		if maxSec/s <= 10 {
			return s
		}
	}
	return 7200
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
