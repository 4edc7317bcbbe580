package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/rest"
)

// metrics is one scrape of a Prometheus endpoint, parsed by expfmt.
type metrics map[string]*dto.MetricFamily

func parseMetrics(r io.Reader) (metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return fams, nil
}

// scrapeURL reads a plain HTTP /metrics (the controller's).
func scrapeURL(ctx context.Context, url string) (metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	return parseMetrics(resp.Body)
}

// scrapeAPIServer reads the API server's /metrics through rc.
func scrapeAPIServer(ctx context.Context, rc rest.Interface) (metrics, error) {
	body, err := rc.Get().AbsPath("/metrics").Stream(ctx)
	if err != nil {
		return nil, fmt.Errorf("scrape API server metrics: %w", err)
	}
	defer func() { _ = body.Close() }()
	return parseMetrics(body)
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

// sum adds up family name's samples for which match holds (nil: all),
// keyed by key(sample).
func (ms metrics) sum(name string, key func(*dto.Metric) string, match func(*dto.Metric) bool) counts {
	out := counts{}
	for _, m := range ms[name].GetMetric() {
		if match == nil || match(m) {
			out[key(m)] += value(m)
		}
	}
	return out
}

// counts are counter values by key.
type counts map[string]float64

func (c counts) total() float64 {
	var n float64
	for _, v := range c {
		n += v
	}
	return n
}

// sub is c - before, keeping keys that changed.
func (c counts) sub(before counts) counts {
	out := counts{}
	for k, v := range c {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// lines lists "key: value" sorted by key.
func (c counts) lines() []string {
	out := make([]string, 0, len(c))
	for k, v := range c {
		out = append(out, fmt.Sprintf("%s: %.0f", k, v))
	}
	slices.Sort(out)
	return out
}

var writeMethods = []string{"POST", "PUT", "PATCH", "DELETE"}

// clientRequests is a client's rest_client_requests_total by HTTP method
// and by status code (client-go reports LIST and WATCH as GET).
type clientRequests struct{ byMethod, byCode counts }

func controllerRequests(ms metrics) clientRequests {
	const name = "rest_client_requests_total"
	return clientRequests{
		byMethod: ms.sum(name, func(m *dto.Metric) string { return label(m, "method") }, nil),
		byCode:   ms.sum(name, func(m *dto.Metric) string { return label(m, "code") }, nil),
	}
}

func (c clientRequests) sub(before clientRequests) clientRequests {
	return clientRequests{byMethod: c.byMethod.sub(before.byMethod), byCode: c.byCode.sub(before.byCode)}
}

func (c clientRequests) total() float64 { return c.byMethod.total() }

// writes counts POST, PUT, PATCH and DELETE.
func (c clientRequests) writes() float64 {
	var n float64
	for _, m := range writeMethods {
		n += c.byMethod[m]
	}
	return n
}

// methods lists the methods in a fixed order, then any others.
func (c clientRequests) methods() []string {
	out := []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
	for m := range c.byMethod {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// reconciles is controller-runtime's count of finished reconciles of the
// workspace controller, and its queue's depth and unfinished work.
type reconciles struct {
	total, depth float64
}

func workspaceReconciles(ms metrics) reconciles {
	isWS := func(m *dto.Metric) bool { return label(m, "controller") == "workspace" }
	byName := func(*dto.Metric) string { return "" }
	return reconciles{
		total: ms.sum("controller_runtime_reconcile_total", byName, isWS).total(),
		depth: ms.sum("workqueue_depth", byName, isWS).total() + ms.sum("controller_runtime_active_workers", byName, isWS).total(),
	}
}

// apiserverRequests is the API server's apiserver_request_total, summed by
// "VERB group/resource[/subresource]". Unlike a client's counter it tells
// LIST and WATCH from GET and APPLY from other PATCHes, and names the
// resource; but it counts every client.
func apiserverRequests(ms metrics) counts {
	return ms.sum("apiserver_request_total", func(m *dto.Metric) string {
		res := label(m, "resource")
		if g := label(m, "group"); g != "" {
			res = g + "/" + res
		}
		if sub := label(m, "subresource"); sub != "" {
			res += "/" + sub
		}
		return label(m, "verb") + " " + res
	}, nil)
}

// isWrite says whether an apiserverRequests key is a write.
func isWrite(key string) bool {
	verb, _, _ := strings.Cut(key, " ")
	switch verb {
	case "POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION", "CREATE", "UPDATE":
		return true
	}
	return false
}

// writesOnly keeps the writes of c.
func (c counts) writesOnly() counts {
	out := counts{}
	for k, v := range c {
		if isWrite(k) {
			out[k] = v
		}
	}
	return out
}

// withoutHousekeeping drops leases and events (the API server renews its
// own lease every few seconds).
func (c counts) withoutHousekeeping() counts {
	out := counts{}
	for k, v := range c {
		if strings.Contains(k, " coordination.k8s.io/leases") || strings.HasSuffix(k, " events") || strings.Contains(k, " events.k8s.io/events") {
			continue
		}
		out[k] = v
	}
	return out
}

// goMemory summarizes the Go runtime's view of a process's memory, from
// its go_memstats_* and go_gc_* gauges.
func goMemory(ms metrics) string {
	g := func(name string) float64 {
		return ms.sum(name, func(*dto.Metric) string { return "" }, nil).total() / (1 << 20)
	}
	return fmt.Sprintf("Go heap in use %.1f MiB, heap objects %.0f, next GC at %.1f MiB, stacks %.1f MiB, runtime total %.1f MiB",
		g("go_memstats_heap_inuse_bytes"), g("go_memstats_heap_objects"), g("go_memstats_next_gc_bytes"),
		g("go_memstats_stack_inuse_bytes"), g("go_memstats_sys_bytes"))
}
