"""`trayd root install/remove/status` against real NSS databases (certutil, vfychain)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from rig.trayd_cli import run_trayd
from trayd.core import trust_roots
from trayd.core.certificates import colon_hex



def mkdb(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{path}", "--empty-password"], check=True)
    return path


def certutil_L(db: Path) -> str:
    return subprocess.run(["certutil", "-L", "-d", f"sql:{db}"], capture_output=True,
                          text=True, check=True).stdout


def trust_line(db: Path, nickname: str) -> str | None:
    for line in certutil_L(db).splitlines():
        if line.startswith(nickname + " "):
            return line[len(nickname):].strip()
    return None


def vfychain_ok(db: Path, pem: Path) -> bool:
    proc = subprocess.run(["vfychain", "-d", f"sql:{db}", "-pp", "-u", "1", "-a", str(pem)],
                          capture_output=True, text=True)
    return proc.returncode == 0


@pytest.fixture
def user_dbs(home):
    """A Chromium database, one Firefox profile and one snap Firefox profile."""
    dbs = [mkdb(home / ".pki/nssdb"), mkdb(home / ".mozilla/firefox/a1.default"),
           mkdb(home / "snap/firefox/common/.mozilla/firefox/s1.default")]
    return dbs


def test_install_yes_trusts_root_in_every_database_then_remove_restores(cli_env, user_dbs, own_pki):
    before = {db: certutil_L(db) for db in user_dbs}
    for db in user_dbs:
        assert not vfychain_ok(db, own_pki.path("server"))
    proc = run_trayd("root", "install", "--file", str(own_pki.path("root")), "--yes",
                     env=cli_env)
    assert proc.returncode == 0, proc.stderr
    fp = trust_roots.facts(own_pki.der["root"]).sha256
    # the warning facts were shown before installing
    assert "trayd Test Root CA" in proc.stdout
    assert colon_hex(fp) in proc.stdout
    nick = "trayd Test Root CA (trayd)"
    for db in user_dbs:
        assert trust_line(db, nick) == "C,,", certutil_L(db)
        # certutil -L -n finds it (the verification trayd itself does)
        subprocess.run(["certutil", "-L", "-d", f"sql:{db}", "-n", nick], check=True,
                       capture_output=True)
        assert vfychain_ok(db, own_pki.path("server"))
    status = json.loads(run_trayd("root", "status", "--json", env=cli_env).stdout)
    assert status["installed_by_trayd"] == [{"sha256": fp, "subject": trust_roots.facts(
        own_pki.der["root"]).subject}]
    # installing again changes nothing
    again = run_trayd("root", "install", "--file", str(own_pki.path("root")), "--yes",
                      env=cli_env)
    assert again.returncode == 0 and "Already trusted" in again.stdout
    # remove → the certificate lists are exactly as before
    rm = run_trayd("root", "remove", "--sha256", colon_hex(fp).lower(), env=cli_env)
    assert rm.returncode == 0, rm.stderr
    for db in user_dbs:
        assert certutil_L(db) == before[db]
        assert not vfychain_ok(db, own_pki.path("server"))
    # nothing left to remove
    rm2 = run_trayd("root", "remove", "--sha256", fp, env=cli_env)
    assert rm2.returncode == 2 and "did not install" in rm2.stderr


def test_interactive_no_installs_nothing(cli_env, user_dbs, own_pki):
    before = {db: certutil_L(db) for db in user_dbs}
    proc = run_trayd("root", "install", "--file", str(own_pki.path("root")), env=cli_env,
                     input="n\n")
    assert proc.returncode == 6
    assert "[y/N]" in proc.stdout and "Not installed" in proc.stdout
    assert {db: certutil_L(db) for db in user_dbs} == before
    # end of input (no terminal, no --yes) is a no as well
    proc = run_trayd("root", "install", "--file", str(own_pki.path("root")), env=cli_env)
    assert proc.returncode == 6
    assert {db: certutil_L(db) for db in user_dbs} == before
    proc = run_trayd("root", "install", "--file", str(own_pki.path("root")), env=cli_env,
                     input="y\n")
    assert proc.returncode == 0
    assert all(trust_line(db, "trayd Test Root CA (trayd)") == "C,," for db in user_dbs)


@pytest.mark.parametrize("name,reason", [
    ("server", "Basic Constraints say it is not a CA"),
    ("leaf_selfsigned_noca", "Basic Constraints say it is not a CA"),
])
def test_non_ca_certificate_is_refused_with_reason(cli_env, user_dbs, own_pki, name, reason):
    before = {db: certutil_L(db) for db in user_dbs}
    proc = run_trayd("root", "install", "--file", str(own_pki.path(name)), "--yes", env=cli_env)
    assert proc.returncode == 1
    assert "not a CA certificate" in proc.stderr and reason in proc.stderr
    assert {db: certutil_L(db) for db in user_dbs} == before


def test_garbage_file_is_a_clear_error(cli_env, user_dbs, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("hello")
    proc = run_trayd("root", "install", "--file", str(bad), "--yes", env=cli_env)
    assert proc.returncode == 2 and "No certificate could be read" in proc.stderr
    proc = run_trayd("root", "install", "--file", str(tmp_path / "missing.pem"), "--yes",
                     env=cli_env)
    assert proc.returncode == 2


def test_creates_pki_nssdb_when_none_and_japanese_output(cli_env, home, own_pki):
    cli_env["TRAYD_LANGUAGE"] = "ja"
    proc = run_trayd("root", "install", "--file", str(own_pki.path("v1root")), "--yes",
                     env=cli_env)
    assert proc.returncode == 0, proc.stderr
    assert "拇印" in proc.stdout  # the Windows dialog's word for the SHA-1 thumbprint
    assert trust_line(home / ".pki/nssdb", "trayd v1 Root (trayd)") == "C,,"


def test_existing_untrusted_copy_gets_trust_and_remove_restores_it(cli_env, user_dbs, own_pki):
    db = user_dbs[0]
    subprocess.run(["certutil", "-A", "-d", f"sql:{db}", "-n", "user copy", "-t", ",,",
                    "-a", "-i", str(own_pki.path("root"))], check=True)
    before = certutil_L(db)
    proc = run_trayd("root", "install", "--file", str(own_pki.path("root")), "--yes",
                     env=cli_env)
    assert proc.returncode == 0, proc.stderr
    assert trust_line(db, "user copy") == "C,,"
    fp = trust_roots.facts(own_pki.der["root"]).sha256
    assert run_trayd("root", "remove", "--sha256", fp, env=cli_env).returncode == 0
    assert certutil_L(db) == before  # the user's copy is still there, untrusted as before


def test_remove_all_for_uninstall(cli_env, user_dbs, own_pki):
    before = {db: certutil_L(db) for db in user_dbs}
    for name in ("root", "otherroot"):
        assert run_trayd("root", "install", "--file", str(own_pki.path(name)), "--yes",
                         env=cli_env).returncode == 0
    proc = run_trayd("root", "remove", "--all", "--json", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["removed"]) == 2
    assert {db: certutil_L(db) for db in user_dbs} == before


def test_system_install_with_private_layout(home, own_pki, tmp_path):
    """update-ca-certificates for real, pointed at a private tree (we are root in tests)."""
    import os

    from trayd.platform import system_trust

    if os.geteuid() != 0:
        pytest.skip("needs root to run update-ca-certificates without pkexec")
    local, etc, share, hooks = (tmp_path / n for n in ("local", "etc", "share", "hooks"))
    for d in (local, etc, share, hooks):
        d.mkdir()
    conf = tmp_path / "ca-certificates.conf"
    conf.write_text("# empty\n")
    # another local CA, as on a real system (the bundle is rebuilt only when not empty)
    (local / "other.crt").write_bytes(own_pki.path("otherroot").read_bytes())
    layout = system_trust.Layout(local_certs=local, extra_args=[
        "--localcertsdir", str(local), "--etccertsdir", str(etc), "--certsdir", str(share),
        "--hooksdir", str(hooks), "--certsconf", str(conf)])
    cert = trust_roots.facts(own_pki.der["root"])
    result = system_trust.install(cert, layout)
    assert Path(result.path).parent == local / "trayd"
    bundle = (etc / "ca-certificates.crt").read_text()
    assert own_pki.path("root").read_text().strip().splitlines()[1] in bundle
    system_trust.remove(cert.sha256, layout)
    assert not Path(result.path).exists()
    assert own_pki.path("root").read_text().strip().splitlines()[1] not in \
        (etc / "ca-certificates.crt").read_text()


def test_status_text_with_token(epass2003, trayd_env, home):
    """`trayd root status` names the token's CA certificate and where it is trusted."""
    env = dict(trayd_env, TRAYD_LANGUAGE="en")
    mkdb(home / ".pki/nssdb")
    tok = epass2003()
    out = run_trayd("root", "status", env=env)
    assert out.returncode == 0, out.stderr
    assert "CN=EPPCERT Test Root CA" in out.stdout
    assert f"on token {tok.serial}" in out.stdout
    assert "not trusted" in out.stdout
    assert run_trayd("root", "install", "--yes", env=env).returncode == 0
    out = run_trayd("root", "status", env=env).stdout
    assert "trusted (C,,) installed by trayd" in out
    ja = run_trayd("root", "status", env=dict(env, TRAYD_LANGUAGE="ja")).stdout
    assert "信頼されています (C,,) trayd がインストール" in ja
    # declined earlier → status says so (the prompt won't ask on insertion)
    from trayd.core import trust_roots, trust_state

    trust_state.decline(trust_roots.facts(tok.root_cert_der).sha256)
    assert "Declined earlier" in run_trayd("root", "status", env=env).stdout


def test_broken_profile_does_not_block_the_others(cli_env, home, own_pki):
    good = mkdb(home / ".pki/nssdb")
    broken = home / ".mozilla/firefox/broken.default"
    broken.mkdir(parents=True)
    (broken / "cert9.db").write_bytes(b"this is not sqlite")
    proc = run_trayd("root", "install", "--file", str(own_pki.path("root")), "--yes",
                     env=cli_env)
    assert proc.returncode == 1
    assert "certutil" in proc.stderr and str(broken) in proc.stderr
    assert trust_line(good, "trayd Test Root CA (trayd)") == "C,,"
    fp = trust_roots.facts(own_pki.der["root"]).sha256
    assert run_trayd("root", "remove", "--sha256", fp, env=cli_env).returncode == 0
    assert trust_line(good, "trayd Test Root CA (trayd)") is None



def test_status_reports_an_unreadable_database(epass2003, trayd_env, home):
    env = dict(trayd_env, TRAYD_LANGUAGE="en")
    mkdb(home / ".pki/nssdb")
    broken = home / ".mozilla/firefox/broken.default"
    broken.mkdir(parents=True)
    (broken / "cert9.db").write_bytes(b"junk")
    epass2003()
    proc = run_trayd("root", "status", env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(str(home / ".pki/nssdb") in ln and ln.endswith("not trusted") for ln in lines)
    assert any(str(broken) in ln and "unreadable: " in ln and "SEC_ERROR_BAD_DATABASE" in ln
               for ln in lines), proc.stdout
