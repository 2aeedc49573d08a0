"""PIN hygiene: a sentinel PIN never shows up in output, logs, argv/environment of any
process, or any file the run writes (temporary HOME, output directory)."""
from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

from rig.trayd_cli import TRAYD

SENTINEL = "Zq8#SENTINEL7x"  # 14 characters: a valid ePass2003 PIN
WRONG = "Wq8#WRONGPIN7y"
NEW = "Nq8#NEWSECRET7z"
SECRETS = (SENTINEL, WRONG, NEW)


class ProcScanner(threading.Thread):
    """Reads every process's cmdline and environ while the child runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.hits: list[str] = []
        self.scans = 0

    def run(self) -> None:
        me = str(os.getpid())
        while not self.stop.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit() or pid == me:
                    continue
                for name in ("cmdline", "environ"):
                    try:
                        data = Path(f"/proc/{pid}/{name}").read_bytes()
                    except OSError:
                        continue
                    for s in SECRETS:
                        if s.encode() in data:
                            self.hits.append(f"{pid}/{name}")
            self.scans += 1


def run_watched(args, env, stdin_text):
    scanner = ProcScanner()
    scanner.start()
    try:
        r = subprocess.run([*TRAYD, "-v", *args], env=env, input=stdin_text,
                           capture_output=True, text=True, timeout=120)
    finally:
        scanner.stop.set()
        scanner.join(10)
    return r, scanner


def files_containing_secrets(*roots: Path) -> list[str]:
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                if any(s.encode() in data or s.encode("utf-16-le") in data for s in SECRETS):
                    found.append(str(path))
    return found


def test_pin_never_leaks(trayd_env, epass2003, home, tmp_path):
    tok = epass2003(pin=SENTINEL)
    out = tmp_path / "out"
    out.mkdir()
    steps = [
        (["login", "--pin-stdin"], WRONG + "\n", 4),
        (["login", "--pin-stdin"], SENTINEL + "\n", 0),
        (["change-pin", "--pin-stdin"], f"{WRONG}\n{NEW}\n{NEW}\n", 4),
        (["change-pin", "--pin-stdin"], f"{SENTINEL}\n{NEW}\n{NEW}x\n", 2),
        (["change-pin", "--pin-stdin"], f"{SENTINEL}\n{NEW}\n{NEW}\n", 0),
        (["login", "--pin-stdin", "--json"], NEW + "\n", 0),
        (["export", "--id", "01", "-o", str(out / "u.cer")], None, 0),
        (["tokens", "--json"], None, 0),
    ]
    scans = 0
    for args, stdin_text, code in steps:
        r, scanner = run_watched(args, trayd_env, stdin_text)
        assert r.returncode == code, (args, r.stderr)
        # -v really logs at debug level (an empty stderr would prove nothing below)
        assert "\nDEBUG " in "\n" + r.stderr, (args, r.stderr)
        for s in SECRETS:
            assert s not in r.stdout and s not in r.stderr, args
        assert scanner.hits == [], (args, scanner.hits)
        scans += scanner.scans
    assert scans >= len(steps)  # the scanner really looked while the children ran
    assert tok.pin_matches(NEW)
    assert files_containing_secrets(home, out) == []
    assert (home / ".local/state/trayd/pin-failures.json").exists()  # the run did write files
