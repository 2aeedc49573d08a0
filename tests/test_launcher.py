"""The one window launcher (`trayd.platform.launcher`): language, package, PIN rule.

Real child processes (`python -m trayd.ui`), no display needed: `--help` exits at once.
"""
from __future__ import annotations

import sys

import pytest

from trayd.platform.launcher import Launcher


def test_language_goes_on_the_command_line_and_in_the_environment():
    launcher = Launcher("en")
    argv = launcher.argv(["manage"])
    assert argv[argv.index("--language") + 1] == "en"
    assert argv.index("--language") < argv.index("manage")
    assert launcher.child_env()["TRAYD_LANGUAGE"] == "en"


def test_an_unresolved_language_is_refused():
    with pytest.raises(ValueError):
        Launcher("auto")


def test_no_pin_on_a_command_line():
    with pytest.raises(ValueError):
        Launcher("ja").ui("login", "--pin", "1234")


def test_the_child_imports_the_starters_trayd_not_one_in_the_current_directory(
        tmp_path, monkeypatch):
    fake = tmp_path / "trayd" / "ui"
    fake.mkdir(parents=True)
    (tmp_path / "trayd" / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "__main__.py").write_text("raise SystemExit(42)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    assert Launcher("ja", python=sys.executable).run("--help") == 0
