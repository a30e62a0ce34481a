#!/usr/bin/env bash
# Build kube-apiserver and etcd from the Go modules pinned in this folder (go.mod/go.sum), the way
# controller-runtime's envtest uses them: a real API server on loopback, no kubelet.
#
#   tools/kube/build.sh DEST_BIN_DIR
#
# The binaries are cached under ${XDG_CACHE_HOME:-~/.cache}/transit-operator/kube-$KUBE_VERSION/, keyed by
# the hash of go.mod, go.sum, etcd/main.go and this script, so a fresh clone on the same machine reuses
# them; DEST_BIN_DIR gets symlinks. Nothing is built when the cache already holds them.
# Cost on a fresh machine: ~750 MB of modules from the Go module proxy, then a compile of a few minutes
# (figures in README.md).
set -euo pipefail
KUBE_VERSION=v1.35.4   # k8s.io/kubernetes in go.mod; the staging modules are pinned to v0.35.4 by `replace`
ETCD_VERSION=v3.6.5    # go.etcd.io/etcd/server/v3 in go.mod: the version kubernetes v1.35.4 itself requires
HERE=$(cd "$(dirname "$0")" && pwd)
DEST=${1:?usage: build.sh DEST_BIN_DIR}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/transit-operator/kube-$KUBE_VERSION
KEY=$(cat "$HERE/go.mod" "$HERE/go.sum" "$HERE/etcd/main.go" "$HERE/build.sh" | sha256sum | cut -c1-16)
OUT=$CACHE/$KEY

log() { printf '[kube] %s\n' "$*" >&2; }

if [ ! -x "$OUT/kube-apiserver" ] || [ ! -x "$OUT/etcd" ]; then
  command -v go >/dev/null 2>&1 || { log "go not found: cannot build kube-apiserver/etcd"; exit 3; }
  log "building kube-apiserver $KUBE_VERSION and etcd $ETCD_VERSION into $OUT (first time: several minutes)"
  mkdir -p "$CACHE"
  tmp=$(mktemp -d "$CACHE/build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  major=${KUBE_VERSION#v}; major=${major%%.*}
  minor=${KUBE_VERSION#v"$major".}; minor=${minor%%.*}
  # What kubernetes' hack/lib/version.sh stamps into a release build, so `kubectl version` and helm see
  # the real version (without it the server reports v0.0.0-master).
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit= -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  started=$(date +%s)
  (cd "$HERE" && GOFLAGS=-mod=readonly go build -ldflags "$ldflags" -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
  (cd "$HERE" && GOFLAGS=-mod=readonly go build -ldflags "-s -w" -o "$tmp/etcd" ./etcd)
  "$tmp/kube-apiserver" --version | grep -qx "Kubernetes $KUBE_VERSION"
  "$tmp/etcd" --version | grep -q "etcd Version: ${ETCD_VERSION#v}"
  mkdir -p "$OUT"
  mv "$tmp/kube-apiserver" "$tmp/etcd" "$OUT/"
  log "built in $(( $(date +%s) - started )) s"
fi
mkdir -p "$DEST"
ln -sfn "$OUT/kube-apiserver" "$DEST/kube-apiserver"
ln -sfn "$OUT/etcd" "$DEST/etcd"
