#!/usr/bin/python3
"""Make the staged virtual environment relocatable to its installed path.

Why: the venv is created under debian/trayd/usr/lib/trayd but runs from /usr/lib/trayd.
pip and venv write the staging path into the script shebangs, pyvenv.cfg and
direct_url.json; the activate scripts are for interactive use only. Byte code is not
shipped (postinst compiles it, prerm removes it), so __pycache__ goes too. Fails if the
staging path is still anywhere in the tree afterwards.

Usage: finish_venv.py STAGE FINAL
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path


def main(stage: Path, final: str) -> int:
    old = str(stage).encode()
    bindir = stage / "bin"
    # /usr/bin/trayd runs `python3 -m trayd`: the venv needs no scripts of its own
    # (pip's would carry a /usr/lib/trayd/bin/python3 shebang), nor C headers.
    shutil.rmtree(stage / "include", ignore_errors=True)
    for name in ("activate", "activate.csh", "activate.fish", "Activate.ps1", "trayd"):
        (bindir / name).unlink(missing_ok=True)
    for p in list(bindir.iterdir()):
        if p.name.startswith(("pip", "easy_install")):
            p.unlink()
    for cache in list(stage.rglob("__pycache__")):
        shutil.rmtree(cache)
    for direct in stage.rglob("direct_url.json"):
        record = direct.parent / "RECORD"
        direct.unlink()
        if record.exists():
            lines = [ln for ln in record.read_text().splitlines()
                     if not ln.split(",")[0].endswith("/direct_url.json")]
            record.write_text("\n".join(lines) + "\n")
    # Entry-point scripts: the interpreter of the installed venv, without user site-packages.
    for script in bindir.iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        data = script.read_bytes()
        if data.startswith(b"#!") and old in data.split(b"\n", 1)[0]:
            rest = data.split(b"\n", 1)[1]
            script.write_bytes(f"#!{final}/bin/python3 -s\n".encode() + rest)
    leftovers = []
    for f in stage.rglob("*"):
        if f.is_symlink() or not f.is_file():
            continue
        data = f.read_bytes()
        if old in data:
            if f.name == "pyvenv.cfg" or f.suffix in (".py", ".txt", ".cfg", ""):
                f.write_bytes(data.replace(old, final.encode()))
            else:
                leftovers.append(f)
    for f in stage.rglob("*"):
        if f.is_symlink():
            target = str(f.readlink())
            if target.startswith(str(stage)):
                f.unlink()
                f.symlink_to(final + target[len(str(stage)):])
    if leftovers:
        print("finish_venv: staging path left in:", *leftovers, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve(), sys.argv[2].rstrip("/")))
