#!/usr/bin/env bash
# A Debian 13 (trixie) root built from Debian's own packages, for the CI matrix.
#   packaging/debian13-root.sh build          make sure the cached root exists, print its path
#   packaging/debian13-root.sh test           run the README's `make test` in a fresh copy
#   packaging/debian13-root.sh shell          interactive shell in a fresh copy (checkout in /src)
#   packaging/debian13-root.sh run CMD...     run CMD in /src of a fresh copy
# PYTEST_ARGS (e.g. PYTEST_ARGS=tests/test_doctor.py) is passed through to `make test`.
#
# Why a root and not a container image: the host is Debian 12 with nothing but apt; the
# project builds the other release itself with debootstrap from the same Debian mirror
# the host's apt uses, so CI needs no registry and no daemon. Why cached: debootstrap +
# the package list take minutes; the tarball in /var/cache/trayd is keyed on a hash of
# packaging/apt-packages.txt and this script, so a changed list rebuilds it.
# Why a fresh overlay per run: tests write everywhere (/root, /tmp, /etc/opensc...), and
# each run must start from the packaged state. Why its own mount + PID namespace: every
# mount (proc, dev, overlay, pip cache) disappears with the run, and a test that leaves a
# process behind dies with the namespace's init. `/` of the root is a mount point (the
# overlay, bind-mounted onto itself) so the rig's `unshare -m` for pcscd works inside.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

suite=trixie
cache=${TRAYD_CACHE:-/var/cache/trayd}
[ "$(id -u)" -eq 0 ] || { echo "debian13-root: must run as root (debootstrap, mounts)" >&2; exit 1; }

# The mirror the host's apt already uses (deb822 or one-line format), else Debian's CDN.
host_mirror() {
  local uri
  uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk '{print $2}' | grep -E '/debian/?$' | head -1)
  [ -n "$uri" ] || uri=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '{print $2}' | grep -E '/debian/?$' | head -1)
  echo "${uri:-http://deb.debian.org/debian}"
}
mirror=$(host_mirror)
mirror=${mirror%/}
security=${mirror%/debian}/debian-security

need_tools() {
  local missing=()
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v zstd >/dev/null || missing+=(zstd)
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
  if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

mapfile -t packages < <(grep -vE '^\s*(#|$)' packaging/apt-packages.txt)
# git: `make deb` and the build-input listing use it; make: the README's commands.
extra=(git make ca-certificates)
build_root() {
  [ -f "$tarball" ] && return 0
  need_tools
  mkdir -p "$cache/debian13"
  local tmp="$cache/build-$key.$$"
  rm -rf "$tmp"
  echo "debian13-root: debootstrap $suite from $mirror into $tmp" >&2
  local t0=$SECONDS
  debootstrap --variant=minbase --include="$(IFS=,; echo "${extra[*]}")" \
    --keyring=/usr/share/keyrings/debian-archive-keyring.gpg "$suite" "$tmp" "$mirror" >&2
  cat > "$tmp/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  rm -f "$tmp/etc/apt/sources.list"
  # No daemons start while packages install (dbus, pcscd): there is no init in the root.
  printf '#!/bin/sh\nexit 101\n' > "$tmp/usr/sbin/policy-rc.d"
  chmod +x "$tmp/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$tmp/etc/resolv.conf"
  echo "debian13-root: apt-get install ${#packages[@]} packages" >&2
  unshare --mount --propagation private -- sh -c '
    set -e; r=$1; shift
    mount -t proc proc "$r/proc"; mount --rbind /dev "$r/dev"; mount -t sysfs sys "$r/sys"
    chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
      LANG=C.UTF-8 sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends \"\$@\" && apt-get clean" \
      apt "$@"' sh "$tmp" "${packages[@]}" >&2
  rm -rf "$tmp/var/lib/apt/lists/"* "$tmp/var/cache/apt/"*.bin
  echo "debian13-root: packing $tarball" >&2
  tar --numeric-owner --xattrs -C "$tmp" -cf - . | zstd -q -T0 -3 -o "$tarball.tmp"
  mv "$tarball.tmp" "$tarball"
  rm -rf "$tmp"
  echo "debian13-root: built in $((SECONDS - t0)) s" >&2
}
# The cache key: the package list and the build steps above (not the run steps below,
# so working on how a run is set up does not rebuild the root).
key=$( (cat packaging/apt-packages.txt; declare -f build_root host_mirror; echo "$suite $mirror ${extra[*]}") |
      sha256sum | cut -c1-16)
tarball="$cache/debian13/root-$key.tar.zst"
lower="$cache/debian13/root-$key"

# Older keys are stale roots (their package list or this script changed); one still in use
# by a run (which holds a shared lock on <root>.lock) is left for a later cleanup.
remove_stale() {
  local old
  for old in "$cache"/debian13/root-*.lock; do
    [ -e "$old" ] || continue
    old=${old%.lock}
    [ "$old" = "$lower" ] && continue
    flock -n -x "$old.lock" rm -rf "$old" "$old.tmp" "$old.tar.zst" && rm -f "$old.lock" || true
  done
}

# Build (once, under an exclusive lock: parallel first runs wait for one build), unpack,
# then hold a shared lock on the root for as long as this script (and the run) lives.
prepare_root() {
  need_tools
  mkdir -p "$cache/debian13"
  exec 8>"$lower.lock"
  flock -x 8
  build_root
  unpack_lower
  flock -s 8
  remove_stale
}

# The read-only lower layer: the tarball unpacked once; every run gets a fresh overlay.
unpack_lower() {
  [ -f "$lower/.trayd-complete" ] && return 0
  rm -rf "$lower.tmp"
  mkdir -p "$lower.tmp"
  zstd -q -dc "$tarball" | tar --numeric-owner --xattrs -C "$lower.tmp" -xf -
  touch "$lower.tmp/.trayd-complete"
  rm -rf "$lower"
  mv "$lower.tmp" "$lower"
}

# Run "$@" as root inside a fresh copy with the checkout in /src.
run_in_root() {
  prepare_root
  mkdir -p "$cache/pip"
  local work  # (also removed on exit: see the trap)
  work=$(mktemp -d "${TMPDIR:-/var/tmp}/trayd-debian13.XXXXXX")
  _work=$work
  trap 'rm -rf "$_work"' EXIT
  mkdir -p "$work/upper" "$work/work" "$work/root"
  # The checkout as a fresh clone would see it (tracked + untracked, not ignored: no .venv).
  local src_tar="$work/src.tar"
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -co --exclude-standard -z | xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
      tar --null -T - -cf "$src_tar"
  else
    tar --exclude=./.venv --exclude=./build --exclude=./dist -cf "$src_tar" .
  fi
  local inner_env=(env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
                   LANG=C.UTF-8 TERM="${TERM:-dumb}" PYTEST_ARGS="${PYTEST_ARGS:-tests}")
  local v
  for v in $(compgen -e); do
    case "$v" in PIP_*|SSL_CERT_*|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|*_proxy|*_PROXY) inner_env+=("$v=${!v}");; esac
  done
  unshare --mount --pid --fork --propagation private -- bash -c '
    set -e
    lower=$1 work=$2 cache=$3; shift 3
    r=$work/root
    if ! mount -t overlay overlay -o "lowerdir=$lower,upperdir=$work/upper,workdir=$work/work" "$r" 2>/dev/null; then
      echo "debian13-root: no overlayfs here, copying the root" >&2
      cp -a "$lower/." "$r/"
    fi
    mount --bind "$r" "$r"
    mount -t proc proc "$r/proc"
    mount --rbind /dev "$r/dev"; mount --make-rslave "$r/dev"
    mount -t tmpfs -o mode=1777 tmpfs "$r/dev/shm"
    mount -o ro --rbind /sys "$r/sys"; mount --make-rslave "$r/sys"
    mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
    mount -t tmpfs tmpfs "$r/run"
    # The host CA certificates (a proxying registry may need them) and resolver.
    cp /etc/resolv.conf "$r/etc/resolv.conf"
    cp -a /etc/hosts "$r/etc/hosts"
    if [ -d /usr/local/share/ca-certificates ]; then
      cp -a /usr/local/share/ca-certificates/. "$r/usr/local/share/ca-certificates/"
    fi
    cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/ca-certificates.crt"
    # pip: the host'"'"'s configuration and local wheel directories, and a shared cache.
    if [ -f /etc/pip.conf ]; then cp /etc/pip.conf "$r/etc/pip.conf"; fi
    if [ -f "$HOME/.config/pip/pip.conf" ]; then
      mkdir -p "$r/root/.config/pip"; cp "$HOME/.config/pip/pip.conf" "$r/root/.config/pip/"
    fi
    for d in $(grep -hoE "(file://|= *)/[^ ]+" /etc/pip.conf "$HOME/.config/pip/pip.conf" 2>/dev/null |
               sed -E "s#^(file://|= *)##; s#/simple/*\$##" | sort -u); do
      if [ -d "$d" ]; then mkdir -p "$r$d"; mount -o ro --bind "$d" "$r$d"; fi
    done
    mkdir -p "$r/root/.cache/pip"; mount --bind "$cache/pip" "$r/root/.cache/pip"
    mkdir -p "$r/src"; tar -C "$r/src" -xf "$work/src.tar"
    # A fresh clone is a git work tree (make deb and the package test list files with git).
    chroot "$r" sh -c "cd /src && git init -q && git add -A && git -c user.name=ci \
      -c user.email=ci@localhost commit -qm checkout --no-gpg-sign" >/dev/null
    cd /; exec chroot "$r" "$@"' \
    sh "$lower" "$work" "$cache" "${inner_env[@]}" "$@"
}

cmd=${1:-test}
[ $# -gt 0 ] && shift
case "$cmd" in
  build) prepare_root; echo "$tarball" ;;
  test) run_in_root bash -c 'cd /src && exec make test PYTEST_ARGS="$PYTEST_ARGS" </dev/null' ;;
  shell) run_in_root bash -c 'cd /src && exec bash -i' ;;
  run) [ $# -gt 0 ] || { echo "usage: $0 run CMD..." >&2; exit 2; }
       run_in_root bash -c 'cd /src && exec "$@"' bash "$@" ;;
  *) echo "usage: $0 build|test|shell|run CMD..." >&2; exit 2 ;;
esac
