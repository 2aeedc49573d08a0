"""`trayd autostart enable|disable|status` in a temporary HOME, with and without the
packaged XDG entry (XDG_CONFIG_DIRS points at a private copy of /etc/xdg)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from rig.trayd_cli import run_trayd
from trayd.platform import autostart

ROOT = Path(__file__).resolve().parent.parent
PACKAGED_ENTRY = ROOT / "packaging" / "trayd-autostart.desktop"


@pytest.fixture
def xdg_dirs(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty system config dir (no package installed) as XDG_CONFIG_DIRS."""
    etc = tmp_path / "etc-xdg"
    (etc / "autostart").mkdir(parents=True)
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(etc))
    return etc


@pytest.fixture
def packaged(xdg_dirs: Path) -> Path:
    """The package's entry, as /etc/xdg/autostart holds it after installation."""
    entry = xdg_dirs / "autostart" / autostart.ENTRY_NAME
    shutil.copy(PACKAGED_ENTRY, entry)
    return entry


def validate(path: Path) -> None:
    r = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
    assert r.returncode == 0 and not r.stdout.strip(), r.stdout + r.stderr


def test_packaged_entry_is_on_by_default(packaged: Path) -> None:
    st = autostart.status()
    assert st.method == "xdg" and st.xdg_enabled and not st.systemd_enabled
    assert st.system_entry == str(packaged) and st.user_entry is None


def test_disable_hides_packaged_entry_and_enable_restores_it(home: Path, packaged: Path) -> None:
    st = autostart.disable()
    assert st.method == "none"
    user_entry = autostart.user_entry_path()
    values = autostart.read_entry(user_entry)
    assert values["Hidden"] == "true" and values[autostart.MARKER_KEY] == "true"
    validate(user_entry)
    st = autostart.enable()
    assert st.method == "xdg" and not user_entry.exists()
    assert packaged.exists()  # never touches the system file


def test_systemd_mode_hides_xdg_entry_and_links_unit(home: Path, packaged: Path) -> None:
    st = autostart.enable(systemd=True)
    assert st.method == "systemd" and st.systemd_enabled and not st.xdg_enabled
    link = autostart.unit_link_path()
    assert link.is_symlink()
    assert link.parent.name == "graphical-session.target.wants"
    unit_text = Path(st.unit).read_text()
    assert "WantedBy=graphical-session.target" in unit_text and " run" in unit_text
    assert autostart.read_entry(autostart.user_entry_path())["Hidden"] == "true"
    # Back to XDG: link and the generated unit go, the override goes.
    st = autostart.enable()
    assert st.method == "xdg" and not link.exists() and not link.is_symlink()
    assert not (autostart.user_unit_dir() / autostart.UNIT_NAME).exists()


def test_unit_enabled_by_hand_skips_packaged_entry(home: Path, packaged: Path) -> None:
    """`systemctl --user enable trayd.service` without trayd: the entry's
    AutostartCondition=unless-exists … makes the XDG start skip itself."""
    unit = home / "unit" / autostart.UNIT_NAME
    unit.parent.mkdir()
    unit.write_text("[Service]\nExecStart=/bin/true\n")
    link = autostart.unit_link_path()
    link.parent.mkdir(parents=True)
    link.symlink_to(unit)
    cond = autostart.read_entry(packaged)["AutostartCondition"]
    assert cond == f"unless-exists systemd/user/{autostart.TARGET_WANTS}/{autostart.UNIT_NAME}"
    assert (home / ".config" / cond.split(" ", 1)[1]).is_symlink()
    assert autostart.status().method == "systemd"


def test_without_package_enable_writes_full_entry(home: Path, xdg_dirs: Path) -> None:
    assert autostart.status().method == "none"
    st = autostart.enable()
    assert st.method == "xdg"
    entry = autostart.user_entry_path()
    values = autostart.read_entry(entry)
    assert values["Exec"].endswith(" run") and values["NoDisplay"] == "true"
    assert "Hidden" not in values
    validate(entry)
    st = autostart.disable()
    assert st.method == "none" and not entry.exists()


def test_users_own_files_survive_cleanup(home: Path, xdg_dirs: Path) -> None:
    entry = autostart.user_entry_path()
    entry.parent.mkdir(parents=True)
    entry.write_text("[Desktop Entry]\nType=Application\nName=mine\nExec=trayd run\n")
    assert autostart.remove_user_files() == []
    assert entry.exists()
    assert autostart.status().method == "xdg"


def test_cleanup_removes_what_enable_wrote(home: Path, packaged: Path) -> None:
    autostart.enable(systemd=True)
    removed = autostart.remove_user_files()
    assert {p.name for p in removed} == {autostart.UNIT_NAME, autostart.ENTRY_NAME}
    assert not (home / ".config" / "systemd").exists()
    assert autostart.status().method == "xdg"


def test_cli_status_json_and_text(trayd_env: dict[str, str], packaged: Path) -> None:
    env = dict(trayd_env, XDG_CONFIG_DIRS=str(packaged.parent.parent))
    r = run_trayd("autostart", "disable", "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["method"] == "none"
    r = run_trayd("autostart", "status", env=env)
    assert r.returncode == 0 and "ログイン時に起動しない" in r.stdout, r.stdout + r.stderr
    r = run_trayd("--language", "en", "autostart", "enable", env=env)
    assert r.returncode == 0 and "XDG autostart entry" in r.stdout, r.stdout + r.stderr
    r = run_trayd("autostart", "status", "--json", env=env)
    assert json.loads(r.stdout)["method"] == "xdg"
