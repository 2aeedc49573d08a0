"""End to end: the browser path with the virtual ePass2003.

`trayd root install --yes` reads the root certificate from the token (real pcscd, OpenSC,
emulator), `trayd browser register` adds OpenSC to the temporary HOME's NSS database, and
NSS `tstclnt` — the TLS stack Chromium and Firefox use — authenticates with the token's
certificate, signing on the token, to `openssl s_server -Verify 1`. The server logs the
client's subject. Then `unregister` and `root remove` leave the database as before.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from rig.fixtures_emulator import OPENSC_PKCS11
from rig.tls import tls_client_auth
from rig.trayd_cli import run_trayd

pytestmark = pytest.mark.skipif(
    not Path(OPENSC_PKCS11).exists() or not shutil.which("tstclnt"),
    reason="opensc-pkcs11 or NSS tools missing")


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"{proc.args}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_tstclnt_authenticates_with_the_token_after_register(epass2003, trayd_env, home, pki,
                                                             tmp_path, artifacts):
    env = dict(trayd_env, TRAYD_LANGUAGE="en")
    tok = epass2003()
    db = home / ".pki" / "nssdb"
    # The root comes from the token itself (TokenBackend.list_certificates/certificate_der).
    status = json.loads(_ok(run_trayd("root", "status", "--json", env=env)))
    fp = status["certificates"][0]["sha256"]
    assert status["certificates"][0]["source"] == "token"
    assert status["certificates"][0]["token_serial"] == tok.serial
    assert status["databases"] == []  # nothing yet
    _ok(run_trayd("root", "install", "--yes", "--sha256", fp, env=env))
    certutil_before = _ok(subprocess.run(["certutil", "-L", "-d", f"sql:{db}", "-h", "internal"],
                                         capture_output=True, text=True, env=env))
    modules_before = (db / "pkcs11.txt").read_text()
    # Before registration NSS has no way to the token's key.
    r, srv = tls_client_auth(env, db, f"{tok.label}:User Certificate", pki, tmp_path)
    assert r.returncode != 0
    reg = json.loads(_ok(run_trayd("browser", "register", "--json", env=env)))
    assert [d["state"] for d in reg["databases"]] == ["registered_by_trayd"]
    signatures = tok.card.signatures
    r, srv = tls_client_auth(env, db, f"{tok.label}:User Certificate", pki, tmp_path)
    (artifacts / "tstclnt-token.log").write_text(f"{r.stdout}\n{r.stderr}\n--- server\n{srv}")
    assert r.returncode == 0, f"tstclnt: {r.stdout}\n{r.stderr}\nserver: {srv}"
    user_cn = "ES0123456789AB"
    assert user_cn in srv, srv  # s_server's verify callback logged the client's subject
    assert tok.card.signatures > signatures  # the handshake signature came from the token
    # unregister + root remove: module and trust lists exactly as before trayd touched them
    _ok(run_trayd("browser", "unregister", env=env))
    assert (db / "pkcs11.txt").read_text() == modules_before
    _ok(run_trayd("root", "remove", "--sha256", fp, env=env))
    after = _ok(subprocess.run(["certutil", "-L", "-d", f"sql:{db}", "-h", "internal"],
                               capture_output=True, text=True, env=env))
    assert "(trayd)" in certutil_before and "(trayd)" not in after
    empty = ("\nCertificate Nickname                                         Trust Attributes\n"
             "                                                             SSL,S/MIME,JAR/XPI\n\n")
    assert after == empty


def test_trust_checks_do_not_touch_the_token_once_opensc_is_registered(
        epass2003, trayd_env, home, pki, monkeypatch):
    """certutil/modutil load every module in pkcs11.txt; trayd's own NSS calls must not bind
    the card (a second binder makes the ePass2003 re-authenticate and can drop a login)."""
    from trayd.core import trust_roots
    from trayd.platform import browser_module, trust_install

    for k, v in trayd_env.items():
        monkeypatch.setenv(k, v)
    tok = epass2003()
    browser_module.register(OPENSC_PKCS11)
    root = trust_roots.facts(pki.root_der)
    before = len(tok.apdu_log)
    trust_install.install_root(root)
    assert trust_install.trusted_everywhere(root)
    browser_module.status()
    trust_install.remove_root(root.sha256)
    browser_module.unregister()
    assert len(tok.apdu_log) == before, "trayd's NSS tool calls talked to the card"


P11KIT_PROXY = "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so"


@pytest.mark.skipif(not Path(P11KIT_PROXY).exists(), reason="p11-kit-modules not installed")
def test_p11kit_proxy_already_provides_opensc(epass2003, trayd_env, home, pki, tmp_path,
                                             artifacts):
    """A database that loads p11-kit-proxy (Fedora's default) already reaches OpenSC:
    `browser register` says so and adds nothing, and TLS client auth works through it."""
    env = dict(trayd_env, TRAYD_LANGUAGE="en")
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    _ok(subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"],
                       capture_output=True, text=True))
    _ok(subprocess.run(["modutil", "-dbdir", f"sql:{db}", "-add", "p11-kit-proxy", "-libfile",
                        P11KIT_PROXY, "-force"], capture_output=True, text=True,
                       env=dict(env, PCSCLITE_CSOCK_NAME="/nonexistent")))
    modules_before = (db / "pkcs11.txt").read_text()
    tok = epass2003()
    out = json.loads(_ok(run_trayd("browser", "register", "--json", env=env)))
    assert [(d["state"], d["module"]) for d in out["databases"]] == [
        ("p11-kit-proxy", "p11-kit-proxy")]
    assert (db / "pkcs11.txt").read_text() == modules_before
    text = _ok(run_trayd("browser", "status", env=env))
    assert "provided by p11-kit-proxy (not added again)" in text
    _ok(run_trayd("root", "install", "--yes", env=env))
    r, srv = tls_client_auth(env, db, f"{tok.label}:User Certificate", pki, tmp_path)
    (artifacts / "tstclnt-p11kit.log").write_text(f"{r.stdout}\n{r.stderr}\n--- server\n{srv}")
    assert r.returncode == 0, f"tstclnt: {r.stdout}\n{r.stderr}\nserver: {srv}"
    assert "ES0123456789AB" in srv
