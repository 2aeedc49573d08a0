"""Run every benchmark: `python -m benchmarks [--quick] [NAME ...]`.

Each `benchmarks/bench_<name>.py` exposes `main(argv: list[str]) -> int` and prints its
own table; NAME picks some (e.g. `hotplug`). Options after the names go to every
benchmark (`--quick` = fewer rounds, for a smoke run).
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def discover() -> list[str]:
    here = Path(__file__).resolve().parent
    return sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([str(here)])
                  if m.name.startswith("bench_"))


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-")]
    options = [a for a in argv if a.startswith("-")]
    available = discover()
    unknown = [n for n in names if n not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}",
              file=sys.stderr)
        return 2
    status = 0
    for name in names or available:
        print(f"\n=== benchmark: {name} ===", flush=True)
        t0 = time.monotonic()
        try:
            module = importlib.import_module(f"benchmarks.bench_{name}")
            rc = int(module.main(list(options)) or 0)
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others
            import traceback

            traceback.print_exc()
            print(f"benchmark {name} failed: {exc}", file=sys.stderr)
            rc = 1
        print(f"=== {name}: {'ok' if rc == 0 else f'exit {rc}'} in "
              f"{time.monotonic() - t0:.0f} s ===", flush=True)
        status = status or rc
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
