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


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    return env
