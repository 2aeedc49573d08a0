"""Reading PINs: a no-echo prompt on the terminal, or lines on standard input.

Why only these two: argv is visible to every user in /proc/*/cmdline and the
environment leaks into child processes and crash reports, so a PIN never comes from
either. `--pin-stdin` reads one PIN per line (scripts, the management window's pipe).
"""
from __future__ import annotations

import getpass
import os
import sys

from trayd.errors import Cancelled, PinPolicyError, UsageError
from trayd.i18n import _


def _from_stdin(count: int) -> list[str]:
    pins = []
    for _i in range(count):
        line = sys.stdin.readline()
        if not line:
            raise PinPolicyError(reason="empty")
        pins.append(line.rstrip("\r\n"))
    return pins


def _has_tty() -> bool:
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


def read_pins(prompts: list[str], from_stdin: bool) -> list[str]:
    """One PIN per prompt: from stdin lines, or typed at a no-echo terminal prompt."""
    if from_stdin:
        return _from_stdin(len(prompts))
    if not _has_tty():
        raise UsageError(detail=_("No terminal to ask for the PIN; use --pin-stdin."))
    pins = []
    try:
        for prompt in prompts:
            pins.append(getpass.getpass(prompt))
    except (EOFError, KeyboardInterrupt):
        raise Cancelled(what="pin") from None
    return pins


def interactive(from_stdin: bool) -> bool:
    """Can we ask the user a yes/no question?"""
    return not from_stdin and _has_tty()


def confirm(question: str) -> bool:
    """Ask a yes/no question on the terminal (default no)."""
    try:
        # Two streams: a text file opened "r+" must be seekable, and a terminal is not.
        with open("/dev/tty", "w", encoding="utf-8") as out, \
                open("/dev/tty", encoding="utf-8", errors="replace") as inp:
            out.write(f"{question} [y/N] ")
            out.flush()
            answer = inp.readline().strip().lower()
    except OSError:
        return False
    return answer in ("y", "yes", "はい")

