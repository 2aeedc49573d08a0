#!/usr/bin/env bash
# Set up everything trayd needs on a Debian/Ubuntu machine; safe to run again.
#   packaging/bootstrap.sh          apt packages (via sudo unless root) + .venv with trayd
# Why a script and not only the Makefile: .ci/run, `make run` and `make test` share it,
# and it has to work on a machine that has nothing yet.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

mapfile -t wanted < <(grep -vE '^\s*(#|$)' packaging/apt-packages.txt)
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing apt packages: ${missing[*]}"
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The virtual environment uses Debian's Python so it matches what the .deb runs on.
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
stamp=.venv/.trayd-installed
want="$(sha256sum pyproject.toml | cut -c1-16)-$($py -c 'import sys; print(sys.version.split()[0])')"
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: creating .venv with $py"
  [ -x .venv/bin/python ] || "$py" -m venv .venv
  .venv/bin/pip install -q --upgrade pip setuptools wheel
  .venv/bin/pip install -q -e '.[test]'
  echo "$want" > "$stamp"
else
  # Catalogues are build products: refresh them without a reinstall.
  .venv/bin/python packaging/compile_catalogues.py >/dev/null
fi
# The tray's icon theme for runs from the checkout (IconThemePath = build/icons).
.venv/bin/python packaging/render_icons.py build/icons/hicolor >/dev/null
