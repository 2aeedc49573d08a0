"""The skip guard: a run with an unexplained skip fails; a named, explained one passes."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rig.skip_guard import ALLOWLIST, Allowed, allowing_entry, debian_major, parse_allowlist

TESTS = Path(__file__).resolve().parent

INNER_CONFTEST = f"""
import sys
from pathlib import Path
sys.path.insert(0, {str(TESTS)!r})
import rig.skip_guard as guard
guard.ALLOWLIST = Path(__file__).parent / "allow.txt"
pytest_plugins = ["rig.skip_guard"]
"""

INNER_TESTS = """
import pytest

def test_runs():
    pass

@pytest.mark.parametrize("n", [1, 2])
def test_skips(n):
    pytest.skip("tool missing")

@pytest.mark.xfail(reason="known")
def test_xfails():
    assert False
"""


def run_inner(tmp_path: Path, allow: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(INNER_CONFTEST)
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    (tmp_path / "allow.txt").write_text(allow)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-W", "ignore::pytest.PytestAssertRewriteWarning", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_unexplained_skip_and_xfail_fail_the_run(tmp_path: Path) -> None:
    r = run_inner(tmp_path, "")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "SKIPPED test_inner.py::test_skips[1]: tool missing" in r.stdout
    assert "SKIPPED test_inner.py::test_xfails: xfail: known" in r.stdout


def test_named_skips_with_a_true_condition_pass(tmp_path: Path) -> None:
    allow = ("test_inner.py::test_skips | any | fixture-driven example\n"
             "test_inner.py::test_xfails | any | example\n")
    r = run_inner(tmp_path, allow)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "allowed skip (any): test_inner.py::test_skips[2]: fixture-driven example" in r.stdout


def test_an_entry_for_another_release_does_not_allow(tmp_path: Path) -> None:
    other = "debian-99"
    r = run_inner(tmp_path, f"test_inner.py::test_skips | {other} | only there\n"
                            "test_inner.py::test_xfails | any | example\n")
    assert r.returncode == 1, r.stdout
    assert "SKIPPED test_inner.py::test_skips[1]" in r.stdout


def test_malformed_allowlist_stops_the_run(tmp_path: Path) -> None:
    r = run_inner(tmp_path, "test_inner.py::test_skips | any\n")
    assert r.returncode == 4, r.stdout + r.stderr  # usage error, no test ran
    assert "want '<node id> | <when> | <reason>'" in r.stderr


def test_parse_and_match() -> None:
    entries = parse_allowlist("# c\n\na::b | root,any | why\n")
    assert entries == [Allowed("a::b", ("root", "any"), "why")]
    with pytest.raises(ValueError, match="unknown condition"):
        parse_allowlist("a::b | sometimes | why\n")
    here = f"debian-{debian_major()}"
    assert allowing_entry("a::b[x-1]", [Allowed("a::b", (here,), "r")]) is not None
    assert allowing_entry("a::bc", [Allowed("a::b", ("any",), "r")]) is None


def test_the_project_allowlist_parses() -> None:
    parse_allowlist(ALLOWLIST.read_text(encoding="utf-8"))
