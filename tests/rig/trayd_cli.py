"""Run the real `trayd` command as a child process, as a user or a script would."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

TRAYD = [sys.executable, "-m", "trayd"]


def run_trayd(*args: str, env: Mapping[str, str], input: str | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRAYD, *args], env=dict(env), input=input, capture_output=True, text=True,
        timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL,
    )


def run_on_pty(args, env, answers, timeout=60.0):
    """Run trayd with a pseudo-terminal as its controlling terminal; type `answers` at
    each prompt. Returns (exit status, everything the terminal showed)."""
    import pty
    import select
    import time

    pid, fd = pty.fork()
    if pid == 0:  # child
        os.execve(TRAYD[0], [*TRAYD, *args], env)
    shown = b""
    pending = list(answers)
    answered = 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                shown += chunk
            # Answer each prompt once, when it is on screen (getpass flushes typed-ahead
            # input, so an answer sent before its prompt would be lost).
            fresh = shown[answered:].rstrip()
            if pending and (fresh.endswith(b":") or fresh.endswith(b"]")):
                os.write(fd, pending.pop(0).encode() + b"\n")
                shown += b"\n"
                answered = len(shown)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode("utf-8", "replace")


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    return env
