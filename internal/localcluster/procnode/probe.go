package procnode

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeLoop runs a readiness or liveness probe against run pr of c until
// ctx ends. Readiness sets c.ready; a failed liveness probe kills the
// container, and its restart policy decides what follows.
func (p *podRuntime) probeLoop(ctx context.Context, c *container, pr *proc, probe *corev1.Probe, liveness bool) {
	period := secondsOr(probe.PeriodSeconds, 10)
	timeout := secondsOr(probe.TimeoutSeconds, 1)
	successes, failures := 0, 0
	successThreshold, failureThreshold := int(max(probe.SuccessThreshold, 1)), int(max(probe.FailureThreshold, 1))
	if probe.FailureThreshold == 0 {
		failureThreshold = 3
	}
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Duration(probe.InitialDelaySeconds) * time.Second):
	}
	for {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := p.probeOnce(pctx, c, probe)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			successes, failures = successes+1, 0
		} else {
			successes, failures = 0, failures+1
		}
		switch {
		case liveness && failures >= failureThreshold:
			killGroup(pr, 0)
			return
		case !liveness && successes >= successThreshold:
			p.setReady(c, pr, true)
		case !liveness && failures >= failureThreshold:
			p.setReady(c, pr, false)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(period):
		}
	}
}

func secondsOr(s int32, def int32) time.Duration {
	if s <= 0 {
		s = def
	}
	return time.Duration(s) * time.Second
}

func (p *podRuntime) setReady(c *container, pr *proc, ready bool) {
	p.mu.Lock()
	changed := c.running == pr && c.ready != ready
	if changed {
		c.ready = ready
	}
	p.mu.Unlock()
	if changed {
		p.notify()
	}
}

// probeOnce runs one probe: exec in the container, HTTP GET or a TCP
// connection to the pod's address.
func (p *podRuntime) probeOnce(ctx context.Context, c *container, probe *corev1.Probe) error {
	h := probe.ProbeHandler
	switch {
	case h.Exec != nil:
		return p.n.execIn(ctx, p, c, h.Exec.Command, nil)
	case h.HTTPGet != nil:
		port, err := p.resolvePort(c, h.HTTPGet.Port)
		if err != nil {
			return err
		}
		host := h.HTTPGet.Host
		if host == "" {
			host = p.n.cfg.IP.String()
		}
		scheme := "http"
		if h.HTTPGet.Scheme == corev1.URISchemeHTTPS {
			scheme = "https"
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, strconv.Itoa(port))+h.HTTPGet.Path, nil)
		if err != nil {
			return err
		}
		for _, hd := range h.HTTPGet.HTTPHeaders {
			req.Header.Add(hd.Name, hd.Value)
		}
		client := &http.Client{Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as the kubelet's probes
			DisableKeepAlives: true,
		}}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
		_ = resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP probe failed with status %d", resp.StatusCode)
		}
		return nil
	case h.TCPSocket != nil:
		port, err := p.resolvePort(c, h.TCPSocket.Port)
		if err != nil {
			return err
		}
		host := h.TCPSocket.Host
		if host == "" {
			host = p.n.cfg.IP.String()
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	}
	return errors.New("only exec, httpGet and tcpSocket probes work on process nodes")
}

// resolvePort turns a port number or a named container port into a number.
func (p *podRuntime) resolvePort(c *container, port intstr.IntOrString) (int, error) {
	if port.Type == intstr.Int {
		return port.IntValue(), nil
	}
	for _, cp := range c.spec.Ports {
		if cp.Name == port.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("container %s has no port named %q", c.spec.Name, port.StrVal)
}
