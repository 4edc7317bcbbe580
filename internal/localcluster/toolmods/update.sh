#!/bin/sh
# Bump the versions the local control plane is built from.
#
# Each toolmods/<name>/ holds the go.mod and go.sum (stored as .txt so they can
# be embedded) of a tools module; EnsureBinaries writes them to
# <bin dir>/.build/<name>/ and runs go build there. A change here makes every
# bin dir rebuild that module's binaries (the stamp is a hash of both files).
#
# Usage: toolmods/update.sh <name> <module>@<version>
#   update.sh etcd go.etcd.io/etcd/server/v3@v3.6.9
#   update.sh kwok sigs.k8s.io/kwok@v0.8.1
#   update.sh kubernetes k8s.io/kubernetes@v1.36.4
#     (kubernetes: first change every "k8s.io/<staging> => k8s.io/<staging> v0.36.x"
#     replace in kubernetes/go.mod.txt to the matching v0.x release)
# After a kwok bump, refresh ../kwok/ (the Stage CRD and the "fast" stages)
# from the new module: see the copy commands at the end.
set -eu
name=$1 target=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$here/$name/go.mod.txt" "$tmp/go.mod"
cp "$here/$name/go.sum.txt" "$tmp/go.sum"
cd "$tmp"
GOWORK=off GOFLAGS=-mod=mod go get -tool "$target"
GOWORK=off go mod tidy
# Prove it builds before keeping it (kubernetes: ~15-25 min).
GOWORK=off CGO_ENABLED=0 go build tool
cp go.mod "$here/$name/go.mod.txt"
cp go.sum "$here/$name/go.sum.txt"
echo "updated $name to $target"
if [ "$name" = kwok ]; then
	kwok=$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
	cp "$kwok/kustomize/crd/bases/kwok.x-k8s.io_stages.yaml" "$here/../kwok/crd/"
	cp "$kwok/kustomize/stage/node/fast/node-initialize.yaml" \
	   "$kwok/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
	   "$kwok"/kustomize/stage/pod/fast/pod-*.yaml "$here/../kwok/stages/"
	chmod 644 "$here"/../kwok/*/*.yaml
	echo "refreshed ../kwok/ from $kwok"
fi
