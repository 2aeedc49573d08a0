"""Printing helpers shared by the commands: JSON for scripts, aligned text for people."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from trayd.i18n import _


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """`--json`, the same switch on every command that prints for scripts."""
    parser.add_argument("--json", action="store_true", help=_("machine-readable output"))


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")


def print_table(rows: list[tuple[str, str]]) -> None:
    """Two columns, label: value, labels padded by display width (CJK counts double)."""
    import unicodedata

    def width(s: str) -> int:
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)

    pad = max((width(k) for k, _ in rows), default=0)
    for key, value in rows:
        print(f"{key}{' ' * (pad - width(key))}  {value}")
