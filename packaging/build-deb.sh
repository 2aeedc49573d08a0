#!/usr/bin/env bash
# Build the Debian package: `make deb` -> dist/trayd_<version>+<release>_<arch>.deb
# (`packaging/build-deb.sh --path` prints that name without building).
#
# Why a staging copy: the Debian packaging lives in packaging/debian (the repository
# root stays a plain Python project), and dpkg-buildpackage wants debian/ at the top of
# the source tree. The copy holds every file git knows or would add (tracked plus
# untracked, not ignored) under trayd/, po/ and packaging/, so whatever the tree holds
# is shipped. The build is skipped when the inputs' hash matches the last build
# (FORCE=1 rebuilds).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' trayd/__init__.py)
deb_version=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
if [ "$version" != "$deb_version" ]; then
  echo "build-deb: trayd/__init__.py says $version but packaging/debian/changelog says $deb_version" >&2
  exit 1
fi
arch=$(dpkg --print-architecture)
# One package per release (its venv holds that release's Python): +deb12, +deb13,
# +ubuntu24.04, so the packages of several releases can sit in dist/ side by side.
release_suffix() {
  local ID="" VERSION_ID=""
  # shellcheck disable=SC1091
  [ -r /etc/os-release ] && . /etc/os-release
  if [ -z "$VERSION_ID" ]; then  # testing/unstable: name it after the interpreter
    /usr/bin/python3 -c 'import sys; print("py%d%d" % sys.version_info[:2])'
  elif [ "$ID" = debian ]; then
    echo "deb${VERSION_ID%%.*}"
  else
    echo "$ID$VERSION_ID"
  fi
}
suffix=$(release_suffix)
deb_full="${version}+${suffix}"
out="dist/trayd_${deb_full}_${arch}.deb"
if [ "${1:-}" = "--path" ]; then
  echo "$out"
  exit 0
fi

list_inputs() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -co --exclude-standard -- trayd po packaging pyproject.toml README.md 'LICENSE*'
  else
    find trayd po packaging pyproject.toml README.md -type f
  fi | grep -vE '(^|/)__pycache__/|\.py[co]$|^trayd/locale/' | LC_ALL=C sort -u |
    while read -r f; do [ -f "$f" ] && echo "$f"; done
}

mapfile -t inputs < <(list_inputs)
stamp="dist/.trayd-deb-${suffix}.stamp"
hash=$( (printf '%s\n' "$arch" "$(/usr/bin/python3 -c 'import sys; print(sys.version)')";
         sha256sum "${inputs[@]}") | sha256sum | cut -c1-32)
if [ -z "${FORCE:-}" ] && [ -f "$out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$hash" ]; then
  echo "build-deb: $out is up to date"
  exit 0
fi

stage="build/deb"
src="$stage/trayd-$version"
rm -rf "$stage"
mkdir -p "$src" dist
tar -cf - "${inputs[@]}" | tar -xf - -C "$src"
cp -a packaging/debian "$src/debian"
echo "build-deb: building in $src (${#inputs[@]} files)"
(
  cd "$src"
  # Debian's tools and interpreter, whatever python3 comes first on PATH.
  env PATH="/usr/sbin:/usr/bin:/sbin:/bin" TRAYD_DEB_VERSION="$deb_full" \
    dpkg-buildpackage -b -us -uc --no-sign
)
rm -f dist/trayd_*+"${suffix}"_*.deb "dist/trayd_${version}_${arch}.deb"
cp "$stage/trayd_${deb_full}_${arch}.deb" "$out"
echo "$hash" > "$stamp"
echo "build-deb: wrote $out"
