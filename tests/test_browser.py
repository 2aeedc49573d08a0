"""`trayd browser register/unregister/status` on real NSS databases, and Chromium's view of
the trust trayd installs (headless Chromium reading the temporary HOME's NSS database)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from rig.trayd_cli import run_trayd
from trayd.platform import browser_module, nss

OPENSC = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"


def mkdb(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{path}", "--empty-password"], check=True)
    return path


def modutil_list(db: Path, env) -> str:
    return subprocess.run(["modutil", "-dbdir", f"sql:{db}", "-list"], capture_output=True,
                          text=True, check=True, env=env).stdout


def test_register_then_unregister_leaves_module_lists_as_before(cli_env, home):
    dbs = [mkdb(home / ".pki/nssdb"), mkdb(home / ".local/share/pki/nssdb"),
           mkdb(home / ".mozilla/firefox/p.default"),
           mkdb(home / ".var/app/org.mozilla.firefox/.mozilla/firefox/f.default")]
    before = {db: modutil_list(db, cli_env) for db in dbs}
    before_txt = {db: (db / "pkcs11.txt").read_text() for db in dbs}
    proc = run_trayd("browser", "register", "--json", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["module"].endswith("opensc-pkcs11.so")
    assert [d["state"] for d in out["databases"]] == ["registered_by_trayd"] * 4
    for db in dbs:
        listing = modutil_list(db, cli_env)
        assert "OpenSC (trayd)" in listing and "opensc-pkcs11.so" in listing
    # registering twice adds nothing
    again = json.loads(run_trayd("browser", "register", "--json", env=cli_env).stdout)
    assert [d["state"] for d in again["databases"]] == ["registered_by_trayd"] * 4
    assert all((db / "pkcs11.txt").read_text().count("opensc-pkcs11.so") == 1 for db in dbs)
    st = run_trayd("browser", "status", env=cli_env)
    assert st.stdout.count("registered by trayd") == 4
    proc = run_trayd("browser", "unregister", env=cli_env)
    assert proc.returncode == 0 and proc.stdout.count("removed") == 4
    for db in dbs:
        assert modutil_list(db, cli_env) == before[db]
        assert (db / "pkcs11.txt").read_text() == before_txt[db]
    assert "trayd has registered nothing" in run_trayd("browser", "unregister",
                                                      env=cli_env).stdout


def test_existing_opensc_registration_is_kept_and_not_duplicated(cli_env, home):
    db = mkdb(home / ".pki/nssdb")
    subprocess.run(["modutil", "-dbdir", f"sql:{db}", "-add", "My Smartcard", "-libfile",
                    OPENSC, "-force"], check=True, capture_output=True, env=cli_env)
    before = modutil_list(db, cli_env)
    out = json.loads(run_trayd("browser", "register", "--json", env=cli_env).stdout)
    assert out["databases"][0]["state"] == "registered"
    assert out["databases"][0]["module"] == "My Smartcard"
    run_trayd("browser", "unregister", env=cli_env)
    assert modutil_list(db, cli_env) == before  # the user's own module stays


def test_p11kit_proxy_providing_opensc_is_reported(home, tmp_path, monkeypatch):
    """A database with p11-kit-proxy (Fedora style) and OpenSC in p11-kit's config."""
    db = mkdb(home / ".pki/nssdb")
    with open(db / "pkcs11.txt", "a") as f:  # what `modutil -add` writes, without loading it
        f.write("\nlibrary=/usr/lib64/pkcs11/p11-kit-proxy.so\nname=p11-kit-proxy\n")
    mods = tmp_path / "modules"
    mods.mkdir()
    monkeypatch.setattr(browser_module, "P11KIT_MODULE_DIRS", (mods,))
    d = nss.find_databases()[0]
    assert browser_module.db_status(d).state == "absent"  # proxy, but no OpenSC behind it
    (mods / "opensc.module").write_text("module: opensc-pkcs11.so\n")
    st = browser_module.db_status(d)
    assert (st.state, st.module) == ("p11-kit-proxy", "p11-kit-proxy")
    (mods / "opensc.module").write_text("module: opensc-pkcs11.so\ndisable-in: p11-kit-proxy\n")
    assert browser_module.db_status(d).state == "absent"
    # a user override re-enables it
    user = home / ".config/pkcs11/modules"
    user.mkdir(parents=True)
    (user / "opensc.module").write_text("module: opensc-pkcs11.so\n")
    assert browser_module.db_status(d).state == "p11-kit-proxy"
    before = (db / "pkcs11.txt").read_text()
    monkeypatch.setenv("PCSCLITE_CSOCK_NAME", str(home / "none.sock"))
    result = browser_module.register(OPENSC)
    assert [s.state for s in result] == ["p11-kit-proxy"]
    assert (db / "pkcs11.txt").read_text() == before


def test_register_creates_pki_nssdb(cli_env, home):
    proc = run_trayd("browser", "register", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    assert (home / ".pki/nssdb/cert9.db").is_file()
    assert "OpenSC (trayd)" in modutil_list(home / ".pki/nssdb", cli_env)


# ------------------------------------------------------------------ Chromium

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def https_server(own_pki, tmp_path):
    """openssl s_server -www on 127.0.0.1 with a certificate issued by the test root."""
    port = _free_port()
    log = open(tmp_path / "s_server.log", "wb")
    proc = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert",
         str(own_pki.path("server")), "-key", str(own_pki.dir / "server.key"), "-www"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"https://127.0.0.1:{port}/"
    proc.send_signal(signal.SIGTERM)
    proc.wait(5)
    log.close()


def chromium_load(url: str, home: Path, tmp: Path, artifacts: Path, tag: str) -> tuple[str, str]:
    """(DOM, stderr) of headless Chromium loading `url` with HOME=home."""
    env = dict(os.environ, HOME=str(home))
    env.pop("DISPLAY", None)
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    proc = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp / ('chromium-' + tag)}", "--dump-dom", url],
        capture_output=True, text=True, timeout=120, env=env)
    (artifacts / f"chromium-{tag}.log").write_text(proc.stderr + "\n---\n" + proc.stdout)
    return proc.stdout, proc.stderr


@pytest.mark.skipif(not shutil.which("chromium"), reason="chromium not installed")
def test_chromium_trusts_test_server_only_after_root_install(cli_env, home, own_pki,
                                                             https_server, tmp_path, artifacts):
    dom, err = chromium_load(https_server, home, tmp_path, artifacts, "before")
    assert "ERR_CERT_AUTHORITY_INVALID" in err
    assert "s_server" not in dom  # the page itself did not load
    proc = run_trayd("root", "install", "--file", str(own_pki.path("root")), "--yes",
                     env=cli_env)
    assert proc.returncode == 0, proc.stderr
    dom, err = chromium_load(https_server, home, tmp_path, artifacts, "after")
    assert "ERR_CERT" not in err
    assert "s_server" in dom and "Ciphers supported" in dom  # openssl -www status page
    # and after `root remove` Chromium refuses again
    from trayd.core import trust_roots

    fp = trust_roots.facts(own_pki.der["root"]).sha256
    assert run_trayd("root", "remove", "--sha256", fp, env=cli_env).returncode == 0
    dom, err = chromium_load(https_server, home, tmp_path, artifacts, "removed")
    assert "ERR_CERT_AUTHORITY_INVALID" in err
