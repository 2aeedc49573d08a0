"""Shared fixtures: a private pcscd with vpcd, a temporary HOME, the trayd command.

Every component is real and started here (see tests/rig/). Feature areas add their own
fixtures in tests/rig/ modules and expose them below.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from rig.pcscd import PrivatePcscd  # noqa: E402
from rig.ports import free_port_pair  # noqa: E402
from rig.trayd_cli import base_env  # noqa: E402

ARTIFACTS = ROOT / "tests" / "_artifacts"

# Each feature area keeps its fixtures in tests/rig/fixtures_<area>.py; all are loaded.
pytest_plugins = sorted(
    f"rig.{p.stem}" for p in (ROOT / "tests" / "rig").glob("fixtures_*.py")
) + ["rig.skip_guard"]  # a skip not named in tests/allowed_skips.txt fails the run


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory):
    """pcscd with two vpcd readers (`Virtual PCD 00 00`/`00 01`) on private ports."""
    daemon = PrivatePcscd(tmp_path_factory.mktemp("pcscd"), free_port_pair(),
                          debug=bool(os.environ.get("TRAYD_TEST_PCSCD_DEBUG")))
    # Before any libpcsclite call in this process: it caches the socket name.
    os.environ.update(daemon.env)
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture
def pcscd_up(pcscd: PrivatePcscd) -> PrivatePcscd:
    """The session pcscd, restarted if an earlier test stopped it."""
    if not pcscd.running:
        pcscd.start()
    return pcscd


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary HOME with XDG directories, for anything that writes user files."""
    h = tmp_path / "home"
    for sub in (".config", ".local/share", ".local/state", ".cache", "run"):
        (h / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(h / "run", 0o700)
    env = {
        "HOME": str(h),
        "XDG_CONFIG_HOME": str(h / ".config"),
        "XDG_DATA_HOME": str(h / ".local/share"),
        "XDG_STATE_HOME": str(h / ".local/state"),
        "XDG_CACHE_HOME": str(h / ".cache"),
        "XDG_RUNTIME_DIR": str(h / "run"),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return h


@pytest.fixture
def trayd_env(home: Path, pcscd_up: PrivatePcscd) -> dict[str, str]:
    """Environment for a `trayd` child process: temporary HOME, the private pcscd, Japanese."""
    env = base_env()
    env.update(pcscd_up.env)
    env["TRAYD_LANGUAGE"] = "ja"
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where tests save screenshots and logs worth looking at (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
