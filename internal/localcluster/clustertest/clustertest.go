// Package clustertest runs a test package against one local control
// plane. It lives apart from localcluster so that the tenancy binary, which
// imports localcluster, does not link the testing package.
package clustertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tenancy-dev/tenancy/internal/localcluster"
)

// Main runs a test package against one control plane: it starts a
// cluster with o (etcd without fsync), calls
// setup (e.g. to keep the *Cluster in a package variable and install CRDs),
// runs the tests, stops the cluster and removes the directory. It returns
// the exit code for os.Exit:
//
//	func TestMain(m *testing.M) {
//		os.Exit(clustertest.Main(m, localcluster.Options{}, func(c *localcluster.Cluster) error {
//			cluster = c
//			return nil
//		}))
//	}
//
// o.DataDir may be empty (a new temporary directory, removed afterwards).
// When tests fail, the data directory is kept without its etcd data and the
// location of the component logs printed. TENANCY_KEEP_CLUSTER=1 keeps the
// whole directory, etcd data included.
func Main(m *testing.M, o localcluster.Options, setup func(*localcluster.Cluster) error) int {
	temp := o.DataDir == ""
	if temp {
		dir, err := os.MkdirTemp("", "localcluster-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "localcluster:", err)
			return 1
		}
		o.DataDir = dir
	}
	if o.Progress == nil {
		o.Progress = os.Stderr
	}
	o.UnsafeNoFsync = true
	keep := os.Getenv("TENANCY_KEEP_CLUSTER") == "1"
	logs := filepath.Join(o.DataDir, "logs")
	// finish cleans up the data directory, keeping the logs on failure.
	finish := func(code int) int {
		switch {
		case keep:
			fmt.Fprintf(os.Stderr, "localcluster: kept %s (TENANCY_KEEP_CLUSTER=1); admin kubeconfig %s, logs in %s\n",
				o.DataDir, filepath.Join(o.DataDir, "admin.kubeconfig"), logs)
		case code != 0:
			_ = os.RemoveAll(filepath.Join(o.DataDir, "etcd"))
			fmt.Fprintf(os.Stderr, "localcluster: FAIL; component logs in %s (TENANCY_KEEP_CLUSTER=1 keeps etcd data too)\n", logs)
		case temp:
			_ = os.RemoveAll(o.DataDir)
		}
		return code
	}

	// Building the binaries the first time takes long; starting does not.
	if err := localcluster.EnsureBinaries(context.Background(), o.BinDir, o.Progress); err != nil {
		fmt.Fprintln(os.Stderr, "localcluster:", err)
		if temp {
			_ = os.RemoveAll(o.DataDir)
		}
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	c, err := localcluster.Start(ctx, o)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "localcluster: start control plane: %v\n", err)
		return finish(1)
	}
	code := 1
	if setup != nil {
		err = setup(c)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "localcluster: test setup: %v\n", err)
	} else {
		code = m.Run()
	}
	start := time.Now()
	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "localcluster: stop:", err)
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "localcluster: stopped in %s\n", time.Since(start).Round(10*time.Millisecond))
	}
	return finish(code)
}

// startTimeout bounds the start of a test's control plane.
const startTimeout = 3 * time.Minute
