"""`trayd doctor`: every check against the real component it probes (private pcscd with
the ePass2003 emulator, real OpenSC module, private D-Bus session with a notification
server, Xvfb with a real XEmbed tray host)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rig.trayd_cli import run_trayd
from trayd import doctor
from trayd.config import Config

ROOT = Path(__file__).resolve().parent.parent

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def doctor_json(env: dict[str, str], *checks: str, language: str | None = None) -> tuple[int, dict]:
    args = ["--language", language] if language else []
    args += ["doctor", "--json"]
    for c in checks:
        args += ["--check", c]
    r = run_trayd(*args, env=env)
    assert r.returncode in (0, 1), r.stderr
    data = json.loads(r.stdout)
    assert r.returncode == (0 if data["ok"] else 1)
    return r.returncode, data


def by_name(data: dict) -> dict[str, dict]:
    return {c["name"]: c for c in data["checks"]}


def test_json_contract_and_all_checks_present(trayd_env: dict[str, str]) -> None:
    _rc, data = doctor_json(trayd_env)
    names = [c["name"] for c in data["checks"]]
    for expected in ("python", "pcscd", "readers", "token", "opensc_module", "openssl_legacy",
                     "chromium_opensc_mlock",
                     "nss_tools", "browser", "root_certificate", "notifications", "tray",
                     "autostart", "agent"):
        assert expected in names
    for c in data["checks"]:
        assert set(c) == {"name", "title", "status", "ok", "detail", "fix"}
        assert c["status"] in ("ok", "warning", "error", "skipped")
        assert c["title"] and c["detail"]
        assert c["ok"] == (c["status"] in ("ok", "skipped"))
        if not c["ok"]:
            assert c["fix"], c
    assert data["ok"] == all(c["status"] != "error" for c in data["checks"])
    assert data["language"] == "ja"


def test_pcscd_up_then_down(trayd_env: dict[str, str], pcscd_up) -> None:
    rc, data = doctor_json(trayd_env, "pcscd", "readers", "token")
    checks = by_name(data)
    assert rc == 0 and checks["pcscd"]["status"] == "ok"
    assert checks["readers"]["status"] == "ok" and "Virtual PCD" in checks["readers"]["detail"]
    assert checks["token"]["status"] == "warning"  # nothing inserted
    pcscd_up.stop()
    try:
        rc, data = doctor_json(trayd_env, "pcscd", "readers")
        checks = by_name(data)
        assert rc == 1 and checks["pcscd"]["status"] == "error"
        assert "systemctl" in checks["pcscd"]["fix"] and JAPANESE.search(checks["pcscd"]["fix"])
        assert checks["readers"]["status"] == "skipped"
        _rc, data = doctor_json(trayd_env, "pcscd", language="en")
        fix = by_name(data)["pcscd"]["fix"]
        assert fix.startswith("Install and start pcscd") and not JAPANESE.search(fix)
        # Human output: the fix line follows the failed check; exit status 1.
        r = run_trayd("doctor", "--check", "pcscd", env=trayd_env)
        assert r.returncode == 1 and "[NG]" in r.stdout and "→" in r.stdout
    finally:
        pcscd_up.start()


def test_epass2003_recognised(trayd_env: dict[str, str], epass2003) -> None:
    epass2003()
    import time

    deadline = time.monotonic() + 10
    while True:
        rc, data = doctor_json(trayd_env, "pcscd", "readers", "token")
        token = by_name(data)["token"]
        if token["status"] == "ok" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert token["status"] == "ok", token
    assert "ATR 3B9F958131FE9F0066465305" in token["detail"]


def test_opensc_module_found_or_configured_wrong(trayd_env: dict[str, str], home) -> None:
    _rc, data = doctor_json(trayd_env, "opensc_module")
    check = by_name(data)["opensc_module"]
    assert check["status"] == "ok" and "opensc-pkcs11.so" in check["detail"]
    (home / ".config" / "trayd").mkdir(parents=True, exist_ok=True)
    (home / ".config" / "trayd" / "config.toml").write_text(
        'pkcs11_module = "/nonexistent/opensc-pkcs11.so"\n')
    rc, data = doctor_json(trayd_env, "opensc_module", language="en")
    check = by_name(data)["opensc_module"]
    assert rc == 1 and check["status"] == "error"
    assert "/nonexistent/opensc-pkcs11.so" in check["detail"]
    assert "opensc-pkcs11" in check["fix"]


def test_openssl_legacy_provider(trayd_env: dict[str, str], openssl_legacy_env, tmp_path) -> None:
    from trayd.core import opensc_version

    plain = tmp_path / "openssl-default.cnf"
    plain.write_text("# nothing activated: only the implicit default provider\n")
    _rc, data = doctor_json(dict(trayd_env, OPENSSL_CONF=str(plain)), "opensc_module",
                            "openssl_legacy", language="en")
    check = by_name(data)["openssl_legacy"]
    if not opensc_version.behaviour().des_needs_legacy_provider:
        # OpenSC 0.24+ brings its own: nothing to configure, whatever openssl.cnf says.
        version = opensc_version.text(opensc_version.installed())
        assert check["status"] == "skipped" and version in check["detail"], check
        return
    assert check["status"] == "warning" and "legacy" in check["fix"]
    _rc, data = doctor_json(dict(trayd_env, **openssl_legacy_env), "opensc_module",
                            "openssl_legacy", language="en")
    check = by_name(data)["openssl_legacy"]
    assert check["status"] == "ok" and "legacy provider active" in check["detail"]


def test_chromium_opensc_mlock(trayd_env: dict[str, str]) -> None:
    """OpenSC#3267: a warning with the /etc/chromium.d/ workaround where the installed
    OpenSC is affected and Chromium installed (Debian 12); skipped, naming the version,
    where it is fixed (Debian 13). That the workaround works: tests/test_browser_chromium.py."""
    from trayd.core import opensc_version
    from trayd.doctor.checks_opensc import chromium_memlock_snippet

    _rc, data = doctor_json(trayd_env, "opensc_module", "chromium_opensc_mlock",
                            language="en")
    check = by_name(data)["chromium_opensc_mlock"]
    version = opensc_version.text(opensc_version.installed())
    if not opensc_version.behaviour().secure_alloc_locks_foreign_pages:
        assert check["status"] == "skipped" and version in check["detail"], check
        return
    if chromium_memlock_snippet():  # this machine has the workaround already
        assert check["status"] == "ok", check
        return
    assert check["status"] == "warning", check
    assert "#3267" in check["detail"] and version in check["detail"]
    assert "ulimit -l 0" in check["fix"] and "/etc/chromium.d/" in check["fix"]
    _rc, data = doctor_json(trayd_env, "chromium_opensc_mlock")
    assert JAPANESE.search(by_name(data)["chromium_opensc_mlock"]["fix"])


@pytest.mark.parametrize("text, found", [
    ("ulimit -l 0\n", True),
    ("# comment\n  ulimit -H -l 0  # OpenSC#3267\n", True),
    ("ulimit -S -l 0\n", True),
    ("# ulimit -l 0\n", False),
    ("ulimit -l 64\n", False),
    ("ulimit -l 0 && something\n", False),
    # What the .deb installs as /etc/chromium.d/trayd-opensc-mlock (gated by OpenSC's version).
    ((ROOT / "packaging/chromium.d/trayd-opensc-mlock").read_text(), True),
])
def test_chromium_memlock_snippet_is_recognised(tmp_path, text: str, found: bool) -> None:
    """The launcher's own rules: every file but README and dpkg's leftovers is sourced."""
    from trayd.doctor.checks_opensc import chromium_memlock_snippet

    (tmp_path / "default-flags").write_text('export CHROMIUM_FLAGS="$CHROMIUM_FLAGS"\n')
    (tmp_path / "README").write_text("ulimit -l 0\n")
    (tmp_path / "old.dpkg-dist").write_text("ulimit -l 0\n")
    assert chromium_memlock_snippet(tmp_path) is None
    (tmp_path / "opensc-mlock").write_text(text)
    assert chromium_memlock_snippet(tmp_path) == (tmp_path / "opensc-mlock" if found else None)
    assert chromium_memlock_snippet(tmp_path / "missing") is None


def test_notifications_and_tray_host(trayd_env: dict[str, str], dbus_session,
                                     notification_server, xdisplay, tray_host) -> None:
    env = dict(trayd_env, **dbus_session.env, DISPLAY=xdisplay)
    _rc, data = doctor_json(env, "notifications", "tray")
    checks = by_name(data)
    assert checks["notifications"]["status"] == "ok", checks["notifications"]
    assert "org.freedesktop.Notifications" in checks["notifications"]["detail"]
    assert checks["tray"]["status"] == "ok", checks["tray"]
    assert xdisplay in checks["tray"]["detail"]


def test_tray_host_is_a_status_notifier_watcher(sni_desktop) -> None:
    """The SNI half of the tray probe (platform/tray_host, the one the tray uses): no X
    display for doctor, so only the watcher on the session bus can make it "ok"."""
    env = {k: v for k, v in sni_desktop.env.items() if k != "DISPLAY"}
    _rc, data = doctor_json(env, "tray", language="en")
    check = by_name(data)["tray"]
    assert check["status"] == "ok" and "org.kde.StatusNotifierWatcher" in check["detail"], check
    sni_desktop.stop_watcher()
    _rc, data = doctor_json(env, "tray", language="en")
    assert by_name(data)["tray"]["status"] == "warning"


def test_no_desktop_session(trayd_env: dict[str, str], tmp_path) -> None:
    env = {k: v for k, v in trayd_env.items() if k not in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS")}
    _rc, data = doctor_json(env, "notifications", "tray")
    checks = by_name(data)
    assert checks["notifications"]["status"] == "warning"
    assert checks["tray"]["status"] == "warning"
    assert "ePass2003 管理ツール" in checks["tray"]["fix"]


def test_bus_without_notification_server(trayd_env: dict[str, str], dbus_session) -> None:
    env = dict(trayd_env, **dbus_session.env)
    env.pop("DISPLAY", None)
    _rc, data = doctor_json(env, "notifications", "tray", language="en")
    checks = by_name(data)
    assert checks["notifications"]["status"] == "warning"
    assert "notification" in checks["notifications"]["fix"].lower()
    assert checks["tray"]["status"] == "warning"


def test_browser_check_without_databases(trayd_env: dict[str, str]) -> None:
    _rc, data = doctor_json(trayd_env, "nss_tools", "browser", "root_certificate")
    checks = by_name(data)
    assert checks["nss_tools"]["status"] == "ok"
    assert checks["browser"]["status"] == "warning"
    assert "trayd browser register" in checks["browser"]["fix"]
    assert checks["root_certificate"]["status"] == "ok"


def test_a_crashing_check_does_not_hide_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    doctor.load_checks()

    @doctor.check("zz_broken", lambda: "broken", order=1)
    def broken(ctx):
        raise RuntimeError("boom")

    try:
        results = doctor.run_all(Config(), ["zz_broken", "nss_tools"])
    finally:
        doctor._REGISTRY.pop("zz_broken", None)
    names = {r.name: r for r in results}
    assert names["zz_broken"].status == "error" and "boom" in names["zz_broken"].detail
    assert names["nss_tools"].status == "ok"
    assert not doctor.overall_ok(results)
