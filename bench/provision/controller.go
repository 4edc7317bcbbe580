package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tenancy-dev/tenancy/internal/childproc"
)

// controllerProcess is `tenancy controller` running as a child process,
// its output appended to logPath.
type controllerProcess struct {
	cmd         *exec.Cmd
	done        chan struct{}
	logPath     string
	metricsAddr string
	probeAddr   string
	spawn       *childproc.Spawner
}

func startController(binary, kubeconfig, logPath string, concurrency int) (*controllerProcess, error) {
	p := &controllerProcess{
		logPath:     logPath,
		metricsAddr: "127.0.0.1:" + strconv.Itoa(childproc.FreePort()),
		probeAddr:   "127.0.0.1:" + strconv.Itoa(childproc.FreePort()),
		spawn:       childproc.NewSpawner(),
		done:        make(chan struct{}),
	}
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer func() { _ = log.Close() }() // the child has its own descriptor
	args := []string{"controller",
		"--kubeconfig", kubeconfig,
		"--concurrency", strconv.Itoa(concurrency),
		"--metrics-bind-address", p.metricsAddr,
		"--health-probe-bind-address", p.probeAddr,
		"--dev-logs",
	}
	fmt.Fprintf(log, "==== %s %s %s\n", time.Now().Format(time.RFC3339), binary, strings.Join(args, " "))
	p.cmd = exec.Command(binary, args...)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	// If the benchmark dies, so does the controller (see childproc).
	if err := p.spawn.Start(p.cmd); err != nil {
		p.spawn.Close()
		return nil, fmt.Errorf("start controller: %w", err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *controllerProcess) pid() int { return p.cmd.Process.Pid }

func (p *controllerProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitReady polls /readyz until it answers 200.
func (p *controllerProcess) waitReady(ctx context.Context, timeout time.Duration) error {
	if err := childproc.WaitHTTPOK(ctx, "http://"+p.probeAddr+"/readyz", timeout, p.exited); err != nil {
		return fmt.Errorf("controller: %w; see %s", err, p.logPath)
	}
	return nil
}

// stop sends SIGTERM, then SIGKILL after grace, and waits for the exit.
func (p *controllerProcess) stop(grace time.Duration) {
	defer p.spawn.Close()
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// peakRSS is the process's high-water resident set size (VmHWM), in bytes.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/" + strconv.Itoa(pid) + "/status")
}

// requestCounts are the controller's API requests, from client-go's
// rest_client_requests_total counter: by HTTP method (LIST and WATCH are
// GETs to client-go) and by status code.
type requestCounts struct {
	byMethod map[string]float64
	byCode   map[string]float64
}

func (c requestCounts) total() float64 {
	var n float64
	for _, v := range c.byMethod {
		n += v
	}
	return n
}

// mutating counts POST, PUT, PATCH and DELETE.
func (c requestCounts) mutating() float64 {
	return c.byMethod["POST"] + c.byMethod["PUT"] + c.byMethod["PATCH"] + c.byMethod["DELETE"]
}

// sub is c - before.
func (c requestCounts) sub(before requestCounts) requestCounts {
	out := requestCounts{byMethod: map[string]float64{}, byCode: map[string]float64{}}
	for k, v := range c.byMethod {
		if d := v - before.byMethod[k]; d != 0 {
			out.byMethod[k] = d
		}
	}
	for k, v := range c.byCode {
		if d := v - before.byCode[k]; d != 0 {
			out.byCode[k] = d
		}
	}
	return out
}

// methods lists the methods in a fixed order, then any others.
func (c requestCounts) methods() []string {
	out := []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
	for m := range c.byMethod {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

func (c requestCounts) codes() string {
	codes := make([]string, 0, len(c.byCode))
	for k := range c.byCode {
		codes = append(codes, k)
	}
	slices.Sort(codes)
	parts := make([]string, 0, len(codes))
	for _, k := range codes {
		parts = append(parts, fmt.Sprintf("%s: %.0f", k, c.byCode[k]))
	}
	return strings.Join(parts, ", ")
}

// scrape reads rest_client_requests_total from the controller's /metrics.
func (p *controllerProcess) scrape(ctx context.Context) (requestCounts, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.metricsAddr+"/metrics", nil)
	if err != nil {
		return requestCounts{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return requestCounts{}, fmt.Errorf("scrape controller metrics: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return requestCounts{}, fmt.Errorf("scrape controller metrics: %s", resp.Status)
	}
	return parseRequestCounts(resp.Body)
}

// parseRequestCounts reads the Prometheus text format, keeping
// rest_client_requests_total{code,host,method} samples.
func parseRequestCounts(r io.Reader) (requestCounts, error) {
	out := requestCounts{byMethod: map[string]float64{}, byCode: map[string]float64{}}
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 64<<10), 1<<20)
	const name = "rest_client_requests_total{"
	for s.Scan() {
		line, ok := strings.CutPrefix(s.Text(), name)
		if !ok {
			continue
		}
		labelText, value, ok := strings.Cut(line, "} ")
		if !ok {
			return out, fmt.Errorf("cannot parse metric line %q", s.Text())
		}
		v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			return out, fmt.Errorf("cannot parse metric line %q: %w", s.Text(), err)
		}
		labels := parseLabels(labelText)
		out.byMethod[labels["method"]] += v
		out.byCode[labels["code"]] += v
	}
	return out, s.Err()
}

// parseLabels parses `a="x",b="y"` (values without escaped quotes, as
// client-go's are).
func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		k, rest, ok := strings.Cut(s, `="`)
		if !ok {
			break
		}
		v, rest, _ := strings.Cut(rest, `"`)
		out[strings.TrimPrefix(k, ",")] = v
		s = rest
	}
	return out
}
