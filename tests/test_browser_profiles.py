"""Browser databases where today's browsers put them: a fresh HOME, the real Firefox ESR
making its own profile, then `trayd browser status/register`, `trayd root status` and
`trayd doctor` naming it with its browser (issue 16)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from rig.browsers import CHROMIUM, FIREFOX, firefox_first_run
from rig.trayd_cli import run_trayd


pytestmark = pytest.mark.skipif(not FIREFOX, reason="firefox-esr not installed")


def _json(proc) -> dict:
    assert proc.returncode == 0, f"{proc.args}\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout)


def test_fresh_home_names_installed_browsers_without_profile(cli_env, home):
    out = _json(run_trayd("browser", "status", "--json", env=cli_env))
    assert out["databases"] == []
    families = [b["family"] for b in out["without_database"]]
    assert "firefox" in families
    assert ("chromium" in families) == bool(CHROMIUM)
    text = run_trayd("browser", "status", env=cli_env).stdout
    assert "Firefox is installed but has no profile yet" in text
    assert "Start the browser once" in text
    ja = run_trayd("browser", "status", env=dict(cli_env, TRAYD_LANGUAGE="ja")).stdout
    assert "Firefox はインストールされていますが、プロファイルがまだありません" in ja
    doctor = run_trayd("doctor", env=cli_env).stdout
    assert "Firefox is installed but has no profile yet" in doctor


def test_profile_made_by_real_firefox_is_found_registered_and_reported(cli_env, home,
                                                                     tmp_path):
    firefox_first_run(cli_env, tmp_path)
    assert not (home / ".mozilla").exists()  # Firefox ESR 153: XDG location for new users
    status = _json(run_trayd("browser", "status", "--json", env=cli_env))
    ff = [d for d in status["databases"] if d["kind"] == "firefox"]
    assert len(ff) == 1, status
    prof = Path(ff[0]["path"])
    assert prof.parent == home / ".config/mozilla/firefox"
    assert (prof / "cert9.db").is_file() and ff[0]["browser"] == "Firefox"
    assert ff[0]["profile"]  # the name from profiles.ini (e.g. "default-esr")
    assert "firefox" not in [b["family"] for b in status["without_database"]]
    reg = _json(run_trayd("browser", "register", "--json", env=cli_env))
    states = {d["path"]: d["state"] for d in reg["databases"]}
    assert states[str(prof)] == "registered_by_trayd"
    assert "opensc-pkcs11.so" in (prof / "pkcs11.txt").read_text()
    root = _json(run_trayd("root", "status", "--json", env=cli_env))
    assert str(prof) in [d["path"] for d in root["databases"]]
    doctor = run_trayd("doctor", env=cli_env).stdout
    assert f"Firefox {ff[0]['profile']} ({prof}): registered_by_trayd" in doctor
    text = run_trayd("browser", "status", env=cli_env).stdout
    assert f"Firefox {ff[0]['profile']} ({prof}): registered by trayd" in text
    run_trayd("browser", "unregister", env=cli_env)
    assert "opensc-pkcs11.so" not in (prof / "pkcs11.txt").read_text()


def test_legacy_mozilla_dir_keeps_being_used(cli_env, home, tmp_path):
    """A user who already has ~/.mozilla/firefox: Firefox keeps its profiles there (an
    empty ~/.mozilla alone is not enough: measured with Firefox ESR 153)."""
    (home / ".mozilla/firefox").mkdir(parents=True)
    firefox_first_run(cli_env, tmp_path)
    status = _json(run_trayd("browser", "status", "--json", env=cli_env))
    paths = [Path(d["path"]).parent for d in status["databases"] if d["kind"] == "firefox"]
    assert paths == [home / ".mozilla/firefox"], status


def test_register_and_root_install_while_firefox_runs(cli_env, home, tmp_path, pki,
                                                      monkeypatch):
    """NSS shared SQL databases: trayd writes while Firefox holds the profile open; nothing
    is corrupted, Firefox keeps what trayd wrote across its own shutdown, and the user is
    told to restart only because the browser is running."""
    import sqlite3
    import subprocess

    from rig.browsers import FIREFOX as FF
    from rig.browsers import WindowedBrowser, wait_for
    from trayd.core import trust_roots
    from trayd.platform import nss, trust_install

    firefox_first_run(cli_env, tmp_path)
    prof = next(d for d in nss.find_databases(home) if d.kind == "firefox")
    idle = run_trayd("browser", "register", env=cli_env)
    assert idle.returncode == 0 and "restart" not in idle.stdout.lower()  # not running
    run_trayd("browser", "unregister", env=cli_env)
    ff = WindowedBrowser([FF, "--headless", "--no-remote", "about:blank"],
                         dict(cli_env, DISPLAY=""), tmp_path / "firefox.log")
    try:
        wait_for(lambda: nss.in_use(prof), 90, "Firefox holding cert9.db open")
        reg = run_trayd("browser", "register", env=cli_env)
        assert reg.returncode == 0, reg.stderr
        assert "Firefox is running: restart the browser" in reg.stdout
        monkeypatch.setenv("PCSCLITE_CSOCK_NAME", str(home / "no-pcscd.sock"))
        trust_install.install_root(trust_roots.facts(pki.root_der))
        for name in ("cert9.db", "key4.db"):
            with sqlite3.connect(f"file:{prof.path / name}?mode=ro", uri=True) as con:
                assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        ff.stop()
    assert "opensc-pkcs11.so" in (prof.path / "pkcs11.txt").read_text()
    listing = subprocess.run(["certutil", "-L", "-d", prof.spec], capture_output=True,
                             text=True, check=True).stdout
    assert "(trayd)" in listing
    firefox_first_run(cli_env, tmp_path)  # Firefox starts fine on the profile afterwards
    assert "opensc-pkcs11.so" in (prof.path / "pkcs11.txt").read_text()
