// Package integration tests Tenancy against a real control plane: etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler started once
// for the package by internal/localcluster, with the workspace controller
// running in the test binary under the ClusterRole it ships with
// (config/rbac/role.yaml). Every access check is made as a real,
// non-admin identity (a client certificate or a ServiceAccount token) and
// judged by the API server's own RBAC, quota and admission.
//
//	go test ./test/integration/... -count=1 -v
//
// The controller's log is written to tenancy-controller.log next to the
// component logs; when a test fails the log directory is kept and printed
// (TENANCY_KEEP_CLUSTER=1 keeps etcd's data too).
package integration
