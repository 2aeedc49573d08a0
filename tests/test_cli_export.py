"""`trayd export` (§4.4): public certificate only, DER or PEM, atomic, no overwrite."""
from __future__ import annotations

import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from rig.trayd_cli import run_trayd
from trayd.core.export import default_filename, write_certificate
from trayd.errors import FileExistsRefused, UsageError


def test_export_der_and_pem(trayd_env, epass2003, tmp_path):
    tok = epass2003()
    out = tmp_path / "user.cer"
    r = run_trayd("export", "--token", tok.serial, "--id", "01", "-o", str(out), env=trayd_env)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == tok.user_cert_der
    assert "エクスポート" in r.stdout
    assert oct(out.stat().st_mode & 0o777) in ("0o644", "0o640", "0o600")
    pem = tmp_path / "root.pem"
    r = run_trayd("export", "--id", "02", "-o", str(pem), "--format", "pem", env=trayd_env)
    assert r.returncode == 0, r.stderr
    cert = x509.load_pem_x509_certificate(pem.read_bytes())
    assert cert.public_bytes(Encoding.DER) == tok.root_cert_der
    # The private key object was never read: no PIN, and nothing but certificates.
    assert b"PRIVATE KEY" not in pem.read_bytes()


def test_export_refuses_overwrite_without_force(trayd_env, epass2003, tmp_path):
    tok = epass2003()
    out = tmp_path / "user.cer"
    out.write_bytes(b"keep me")
    r = run_trayd("export", "--id", "01", "-o", str(out), env=trayd_env)
    assert r.returncode == 1 and "--force" in r.stderr and out.read_bytes() == b"keep me"
    r = run_trayd("export", "--id", "01", "-o", str(out), "--force", env=trayd_env)
    assert r.returncode == 0 and out.read_bytes() == tok.user_cert_der


def test_export_errors(trayd_env, epass2003, tmp_path):
    tok = epass2003()
    r = run_trayd("export", "--id", "7f", "-o", str(tmp_path / "x.cer"), env=trayd_env)
    assert r.returncode == 3 and "7f" in r.stderr
    r = run_trayd("export", "--token", "ffff", "--id", "01", "-o", str(tmp_path / "x.cer"),
                  env=trayd_env)
    assert r.returncode == 3
    r = run_trayd("export", "--id", "01", "-o", str(tmp_path / "x.cer"), "--format", "txt",
                  env=trayd_env)
    assert r.returncode == 2
    r = run_trayd("export", "--id", "01", "-o", str(tmp_path / "no" / "dir" / "x.cer"),
                  env=trayd_env)
    assert r.returncode == 2
    assert not (tmp_path / "x.cer").exists()
    assert tok.inserted


def test_token_pulled_during_export(trayd_env, epass2003, tmp_path):
    tok = epass2003(insert=False)
    tok.pull_on_read_binary(6)  # while OpenSC reads the certificates of the fresh token
    tok.insert()
    outdir = tmp_path / "out"
    outdir.mkdir()
    r = run_trayd("export", "--token", tok.serial, "--id", "01", "-o", str(outdir / "u.cer"),
                  env=trayd_env)
    assert tok.pulled.is_set()
    assert r.returncode in (1, 3), r.stderr
    assert "トークン" in r.stderr and "Traceback" not in r.stderr
    assert list(outdir.iterdir()) == []


def test_write_certificate_is_atomic_and_careful(tmp_path):
    der = b"\x30\x03\x02\x01\x01"  # DER export writes the bytes as they are
    p = write_certificate(der, tmp_path / "a.cer")
    assert p.read_bytes() == der
    with pytest.raises(FileExistsRefused):
        write_certificate(der, tmp_path / "a.cer")
    os.symlink(tmp_path / "missing", tmp_path / "link.cer")
    with pytest.raises(FileExistsRefused):  # a dangling symlink is not followed
        write_certificate(der, tmp_path / "link.cer")
    with pytest.raises(UsageError):
        write_certificate(der, tmp_path)
    with pytest.raises(Exception):
        write_certificate(b"garbage", tmp_path / "b.pem", fmt="pem")  # PEM parses first
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.cer", "link.cer"]


def test_default_filename():
    assert default_filename("ES0123", "User") == "ES0123.cer"
    assert default_filename(None, "User Certificate", "pem") == "User_Certificate.pem"
    assert default_filename(None, "../../etc") == "etc.cer"
    assert default_filename(None, None) == "certificate.cer"


def test_export_into_a_folder_names_the_file_after_the_certificate_id(trayd_env, epass2003,
                                                                      tmp_path):
    tok = epass2003()
    folder = tmp_path / "certs"
    folder.mkdir()
    r = run_trayd("export", "--id", "01", "-o", str(folder), env=trayd_env)
    assert r.returncode == 0, r.stderr
    assert (folder / "ES0123456789AB.cer").read_bytes() == tok.user_cert_der
    r = run_trayd("export", "--id", "02", "-o", str(folder), "--format", "pem", env=trayd_env)
    assert r.returncode == 0 and (folder / "Root_CA_Certificate.pem").exists()
