#!/usr/bin/env bash
# Builds the control-plane binaries (etcd, kube-apiserver, kube-scheduler,
# kube-controller-manager, kubectl) from the Go module proxy, at the Kubernetes
# version pinned in hack/kube/VERSION, into a cache directory outside the repo.
#
#   hack/kube/build.sh            build if needed; print the binary directory last on stdout
#   hack/kube/build.sh --print    print the cache directory (no build)
#
# Progress goes to stderr. A failure exits non-zero with the command that failed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=$(tr -d '[:space:]' <"$here/VERSION")
minor_patch=${version#v1.}                       # 37.2
staging_version="v0.${minor_patch}"              # v0.37.2
cache_root=${TOPOFIT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/topofit}
out_dir="$cache_root/kube/$version"
bin_dir="$out_dir/bin"
binaries=(etcd kube-apiserver kube-scheduler kube-controller-manager kubectl)

if [[ "${1:-}" == "--print" ]]; then
  echo "$bin_dir"
  exit 0
fi

log() { printf '[kube-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

have_all() {
  local b
  for b in "${binaries[@]}"; do [[ -x "$bin_dir/$b" ]] || return 1; done
  [[ -f "$bin_dir/.complete" ]]
}

if have_all; then
  log "using cached binaries in $bin_dir"
  echo "$bin_dir"
  exit 0
fi

command -v go >/dev/null || { log "go is not on PATH; install Go >= 1.26 to build the control plane"; exit 1; }

mkdir -p "$out_dir"
exec 9>"$out_dir/.lock"
if ! flock -n 9; then
  log "another build holds $out_dir/.lock; waiting for it"
  flock 9
  if have_all; then echo "$bin_dir"; exit 0; fi
fi

started=$(date +%s)
src="$out_dir/src"
rm -rf "$src" && mkdir -p "$src" "$bin_dir"
cd "$src"

log "resolving k8s.io/kubernetes@$version from the Go module proxy"
kube_gomod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
[[ -f "$kube_gomod" ]] || { log "could not download k8s.io/kubernetes@$version"; exit 1; }
etcd_version=$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2; exit}' "$kube_gomod")
[[ -n "$etcd_version" ]] || { log "k8s.io/kubernetes@$version does not name an etcd server version"; exit 1; }
go_directive=$(awk '$1=="go"{print $2; exit}' "$kube_gomod")

{
  echo "module topofit.local/kube-build"
  echo
  echo "go $go_directive"
  echo
  echo "require ("
  echo "	k8s.io/kubernetes $version"
  echo "	go.etcd.io/etcd/server/v3 $etcd_version"
  echo ")"
  echo
  echo "tool ("
  echo "	go.etcd.io/etcd/server/v3"
  echo "	k8s.io/kubernetes/cmd/kube-apiserver"
  echo "	k8s.io/kubernetes/cmd/kube-scheduler"
  echo "	k8s.io/kubernetes/cmd/kube-controller-manager"
  echo "	k8s.io/kubernetes/cmd/kubectl"
  echo ")"
  echo
  echo "// Generated from k8s.io/kubernetes@$version's go.mod: every staging module at $staging_version."
  echo "replace ("
  sed -n 's#^[[:space:]]*\(k8s.io/[A-Za-z0-9._-]*\) => ./staging/src/k8s.io/.*#\t\1 => \1 '"$staging_version"'#p' "$kube_gomod"
  echo ")"
} >go.mod
log "etcd $etcd_version, $(grep -c ' => ' go.mod) staging modules at $staging_version"

log "downloading modules (go mod tidy)"
go mod tidy >&2

ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor_patch%%.*} -X k8s.io/client-go/pkg/version.gitVersion=$version"
log "compiling kube-apiserver, kube-scheduler, kube-controller-manager, kubectl (a cold build takes many minutes on 2 cores)"
(
  while sleep 30; do log "  still compiling ($(( $(date +%s) - started ))s elapsed)"; done
) &
ticker=$!
trap 'kill $ticker 2>/dev/null || true' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin_dir/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kubectl
log "compiling etcd $etcd_version"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin_dir/etcd" go.etcd.io/etcd/server/v3
kill $ticker 2>/dev/null || true

for b in "${binaries[@]}"; do [[ -x "$bin_dir/$b" ]] || { log "missing $bin_dir/$b after build"; exit 1; }; done
echo "$version etcd=$etcd_version built in $(( $(date +%s) - started ))s" >"$bin_dir/.complete"
log "built in $(( $(date +%s) - started ))s: $bin_dir"
echo "$bin_dir"
