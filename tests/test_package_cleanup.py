"""`trayd cleanup`: undoes exactly what trayd added for the user (real NSS databases and
tools, real OpenSC module path), keeps what the user added, restores changed trust."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from rig.trayd_cli import run_trayd
from trayd.core.trust_roots import facts
from trayd.platform import autostart, browser_module, nss, trust_install

OPENSC = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"


@pytest.fixture
def firefox_db(home: Path) -> nss.NssDatabase:
    return nss.create_database(home / ".mozilla" / "firefox" / "abcd1234.default-release")


def test_cleanup_undoes_trayd_changes_only(home: Path, tmp_path: Path, own_pki, firefox_db,
                                           trayd_env: dict[str, str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    etc = tmp_path / "etc-xdg"
    (etc / "autostart").mkdir(parents=True)
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(etc))
    root = facts(own_pki.der["root"])
    other = facts(own_pki.der["otherroot"])
    # The user's own things in Firefox: an unrelated root, and our root with no trust.
    nss.add_certificate(firefox_db, "users own root", own_pki.der["otherroot"], "C,,")
    nss.add_certificate(firefox_db, "users copy of the root", own_pki.der["root"], ",,")
    # What trayd does: trust the root, register OpenSC, autostart via systemd, a config.
    trust_install.install_root(root)
    browser_module.register(OPENSC)
    autostart.enable(systemd=True)
    (home / ".config" / "trayd" / "config.toml").parent.mkdir(parents=True, exist_ok=True)
    (home / ".config" / "trayd" / "config.toml").write_text('language = "en"\n')
    chromium = nss.NssDatabase(home / ".pki" / "nssdb", "pki")
    assert nss.find_by_sha256(chromium, root.sha256) is not None
    assert any(m.name == browser_module.MODULE_NAME for m in nss.list_modules(firefox_db))
    assert nss.find_by_sha256(firefox_db, root.sha256).ssl_ca_trusted

    env = dict(trayd_env, XDG_CONFIG_DIRS=str(etc))
    r = run_trayd("cleanup", "--dry-run", "--json", env=env)
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["dry_run"] and {a["outcome"] for a in plan["actions"]} == {"planned"}
    assert any(m.name == browser_module.MODULE_NAME for m in nss.list_modules(firefox_db))

    r = run_trayd("cleanup", "--json", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["ok"], report
    kinds = {a["what"] for a in report["actions"]}
    assert {"root", "module", "database", "autostart", "files"} <= kinds

    # Firefox: module gone, the user's root kept, the user's trust restored.
    assert not any(m.name == browser_module.MODULE_NAME for m in nss.list_modules(firefox_db))
    assert nss.find_by_sha256(firefox_db, other.sha256) is not None
    mine = nss.find_by_sha256(firefox_db, root.sha256)
    assert mine is not None and not mine.ssl_ca_trusted
    # Chromium's database existed only because trayd created it: gone.
    assert not (home / ".pki" / "nssdb" / "cert9.db").exists()
    # trayd's own files and autostart files: gone.
    assert not (home / ".local" / "state" / "trayd").exists()
    assert not (home / ".config" / "trayd").exists()
    assert not autostart.unit_link_path().is_symlink()
    assert not autostart.user_entry_path().exists()

    r = run_trayd("--language", "en", "cleanup", env=env)
    assert r.returncode == 0 and "nothing to undo" in r.stdout, r.stdout + r.stderr


def test_cleanup_keeps_config_on_request(home: Path, trayd_env: dict[str, str]) -> None:
    cfg = home / ".config" / "trayd" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text('language = "ja"\n')
    state = home / ".local" / "state" / "trayd" / "pin-failures.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text("{}\n")
    r = run_trayd("cleanup", "--keep-config", env=trayd_env)
    assert r.returncode == 0, r.stderr
    assert cfg.exists() and not state.exists()
    assert "元に戻しました" in r.stdout
