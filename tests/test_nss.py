"""Finding the user's NSS databases and the certutil/modutil wrappers (real NSS tools)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from trayd.errors import NssToolError
from trayd.platform import nss


def mkdb(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{path}", "--empty-password"], check=True)
    return path


def test_finds_every_location(home):
    mkdb(home / ".pki/nssdb")
    mkdb(home / ".local/share/pki/nssdb")
    ff = home / ".mozilla/firefox"
    mkdb(ff / "abcd.default-release")
    mkdb(ff / "elsewhere")  # not in profiles.ini but has a cert9.db
    (ff / "profiles.ini").write_text(
        "[General]\nStartWithLastProfile=1\n\n[Profile0]\nName=default-release\n"
        "IsRelative=1\nPath=abcd.default-release\nDefault=1\n\n"
        "[Profile1]\nName=never-started\nIsRelative=1\nPath=nocerts\n"
        f"\n[Profile2]\nName=absolute\nIsRelative=0\nPath={home}/abs-profile\n")
    (ff / "nocerts").mkdir()
    mkdb(home / "abs-profile")
    # Firefox >= 147 (ESR 153): new roots under $XDG_CONFIG_HOME/mozilla/firefox; the
    # install's profile named only in installs.ini (outside the root: absolute path).
    xdg = home / ".config/mozilla/firefox"
    mkdb(xdg / "x1y2.default-esr")
    (xdg / "profiles.ini").write_text(
        "[Profile0]\nName=default-esr\nIsRelative=1\nPath=x1y2.default-esr\n\n"
        "[General]\nStartWithLastProfile=1\nVersion=2\n\n"
        "[Install3B6073811A6ABF12]\nDefault=x1y2.default-esr\nLocked=1\n")
    mkdb(home / "installed-elsewhere")
    (xdg / "installs.ini").write_text(
        f"[3B6073811A6ABF12]\nDefault=x1y2.default-esr\n\n[ABCD]\n"
        f"Default={home}/installed-elsewhere\n")
    mkdb(home / "snap/firefox/common/.mozilla/firefox/snapprof.default")
    mkdb(home / ".var/app/org.mozilla.firefox/.mozilla/firefox/flat.default")
    mkdb(home / ".var/app/org.mozilla.firefox/config/mozilla/firefox/flatxdg.default")
    (home / "snap/firefox/common/.mozilla/firefox/legacy").mkdir()
    (home / "snap/firefox/common/.mozilla/firefox/legacy/cert8.db").write_bytes(b"")
    mkdb(home / ".thunderbird/tb.default-esr")
    mkdb(home / "snap/chromium/current/.pki/nssdb")

    dbs = nss.find_databases()
    got = [(d.kind, d.path.relative_to(home).as_posix(), d.profile) for d in dbs]
    assert got == [
        ("pki", ".pki/nssdb", None),
        ("pki-xdg", ".local/share/pki/nssdb", None),
        ("chromium-snap", "snap/chromium/current/.pki/nssdb", None),
        ("firefox", ".mozilla/firefox/abcd.default-release", "default-release"),
        ("firefox", "abs-profile", "absolute"),
        ("firefox", ".mozilla/firefox/elsewhere", "elsewhere"),
        ("firefox", ".config/mozilla/firefox/x1y2.default-esr", "default-esr"),
        ("firefox", "installed-elsewhere", "installed-elsewhere"),
        ("firefox-snap", "snap/firefox/common/.mozilla/firefox/snapprof.default",
         "snapprof.default"),
        ("firefox-flatpak", ".var/app/org.mozilla.firefox/.mozilla/firefox/flat.default",
         "flat.default"),
        ("firefox-flatpak",
         ".var/app/org.mozilla.firefox/config/mozilla/firefox/flatxdg.default",
         "flatxdg.default"),
        ("thunderbird", ".thunderbird/tb.default-esr", "tb.default-esr"),
    ]
    assert [d.browser for d in dbs][:4] == ["Chromium/Chrome", "Chromium", "Chromium (snap)",
                                            "Firefox"]
    assert dbs[3].display == f"Firefox default-release ({home}/.mozilla/firefox/abcd.default-release)"
    assert dbs[3].to_json()["browser"] == "Firefox"


def test_xdg_config_home_elsewhere_is_followed(home, tmp_path, monkeypatch):
    cfg = tmp_path / "cfg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(cfg))
    mkdb(cfg / "mozilla/firefox/p.default-esr")
    mkdb(home / ".config/mozilla/firefox/not-this-one")  # XDG_CONFIG_HOME points elsewhere
    assert [d.path for d in nss.find_databases()] == [cfg / "mozilla/firefox/p.default-esr"]


def test_installed_browser_without_database_is_named(home, tmp_path, monkeypatch):
    from trayd.platform import nss_locations

    bindir = tmp_path / "bin"
    bindir.mkdir()
    for exe in ("firefox-esr", "chromium"):
        (bindir / exe).write_text("#!/bin/sh\n")
        (bindir / exe).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    monkeypatch.setattr(nss_locations, "_PROGRAMS",
                        {k: tuple(e for e in v if (bindir / e).exists())
                         for k, v in nss_locations._PROGRAMS.items()})
    missing = nss_locations.without_database(nss.find_databases(), home)
    assert [(b.family, b.program) for b in missing] == [
        ("firefox", str(bindir / "firefox-esr")), ("chromium", str(bindir / "chromium"))]
    mkdb(home / ".local/share/pki/nssdb")  # Chromium >= 146 without ~/.pki
    missing = nss_locations.without_database(nss.find_databases(), home)
    assert [b.family for b in missing] == ["firefox"]
    # A profile listed but never started (no cert9.db) does not count as a database.
    (home / ".config/mozilla/firefox/new.default-esr").mkdir(parents=True)
    (home / ".config/mozilla/firefox/profiles.ini").write_text(
        "[Profile0]\nName=default-esr\nIsRelative=1\nPath=new.default-esr\n")
    assert [b.family for b in nss_locations.without_database(nss.find_databases(), home)] \
        == ["firefox"]
    mkdb(home / ".config/mozilla/firefox/new.default-esr")
    assert nss_locations.without_database(nss.find_databases(), home) == []


def test_creates_pki_nssdb_only_when_chromium_has_none(home):
    mkdb(home / ".mozilla/firefox/p1")
    assert [d.kind for d in nss.find_databases()] == ["firefox"]
    dbs, created = nss.ensure_databases()
    assert created is not None and created.path == home / ".pki/nssdb"
    assert (home / ".pki/nssdb/cert9.db").is_file()
    assert [d.kind for d in dbs] == ["pki", "firefox"]
    dbs2, created2 = nss.ensure_databases()
    assert created2 is None and dbs2 == dbs


def test_xdg_location_alone_is_enough(home):
    mkdb(home / ".local/share/pki/nssdb")
    _dbs, created = nss.ensure_databases()
    assert created is None and not (home / ".pki/nssdb").exists()


def test_certificate_wrappers(home, own_pki):
    db = nss.create_database(home / ".pki/nssdb")
    assert nss.list_certificates(db) == []
    nss.add_certificate(db, "My Root (trayd)", own_pki.der["root"], "C,,")
    assert nss.list_certificates(db) == [nss.NssCert("My Root (trayd)", "C,,")]
    assert nss.certificate_ders(db, "My Root (trayd)") == [own_pki.der["root"]]
    import hashlib

    fp = hashlib.sha256(own_pki.der["root"]).hexdigest()
    colon = ":".join(fp[i:i + 2] for i in range(0, 64, 2))
    assert nss.find_by_sha256(db, colon).nickname == "My Root (trayd)"
    assert nss.find_by_sha256(db, "00" * 32) is None
    nss.set_trust(db, "My Root (trayd)", "CT,C,")
    assert nss.trust_of(db, "My Root (trayd)") == "CT,C,"
    assert nss.NssCert("x", "CT,C,").ssl_ca_trusted and not nss.NssCert("x", ",C,").ssl_ca_trusted
    nss.delete_certificate(db, "My Root (trayd)")
    assert nss.list_certificates(db) == []


def test_clear_errors(home, monkeypatch):
    db = nss.NssDatabase(home / "does-not-exist", "pki")
    with pytest.raises(NssToolError) as exc:
        nss.list_certificates(db)
    assert exc.value.tool == "certutil" and str(db.path) in exc.value.database
    assert "SEC_ERROR_BAD_DATABASE" in exc.value.detail
    from trayd.messages import describe

    assert "certutil" in describe(exc.value) and str(db.path) in describe(exc.value)
    good = nss.create_database(home / ".pki/nssdb")
    with pytest.raises(NssToolError) as exc:
        nss.delete_certificate(good, "no such nickname")
    assert "could not find" in exc.value.detail.lower()
    monkeypatch.setenv("PATH", str(home))  # no NSS tools on PATH
    with pytest.raises(NssToolError) as exc:
        nss.list_certificates(good)
    assert exc.value.detail == "missing"
    assert "libnss3-tools" in describe(exc.value)


def test_module_wrappers(home):
    db = nss.create_database(home / ".pki/nssdb")
    assert [m.name for m in nss.list_modules(db)] == ["NSS Internal PKCS #11 Module"]
    lib = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
    if not Path(lib).exists():
        pytest.skip("opensc-pkcs11.so not at the Debian path")
    nss.add_module(db, "OpenSC (trayd)", lib)
    assert nss.NssModule("OpenSC (trayd)", lib) in nss.list_modules(db)
    assert "OpenSC (trayd)" in nss.modutil_list(db)
    nss.delete_module(db, "OpenSC (trayd)")
    assert [m.name for m in nss.list_modules(db)] == ["NSS Internal PKCS #11 Module"]
    with pytest.raises(NssToolError):
        nss.delete_module(db, "OpenSC (trayd)")
