"""Fixture for running the trayd command with no pcscd behind it (one copy for every
test file that drives the CLI against NSS databases only)."""
from __future__ import annotations

from pathlib import Path

import pytest

from rig.trayd_cli import base_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_env(home):
    """English output, the checkout's trayd, and a pcscd socket that does not exist: the
    system pcscd is never reached (modutil loads OpenSC, which then sees no card)."""
    env = base_env()
    env["PYTHONPATH"] = str(ROOT)
    env["TRAYD_LANGUAGE"] = "en"
    env["PCSCLITE_CSOCK_NAME"] = str(home / "no-pcscd.sock")
    return env
