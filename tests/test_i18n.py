"""Japanese first: every user-facing string in the code has a Japanese translation.

Collects the literal arguments of `_()` / `N_()` calls from the source with `ast` and
looks each up in the compiled Japanese catalogue (the build compiles po/ja/*.po).
"""
from __future__ import annotations

import ast
import gettext
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _msgids() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted((ROOT / "trayd").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("_", "N_") and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                found.setdefault(node.args[0].value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def _catalogue(lang: str) -> gettext.GNUTranslations:
    subprocess.run([sys.executable, str(ROOT / "packaging" / "compile_catalogues.py")],
                   check=True, capture_output=True)
    mo = ROOT / "trayd" / "locale" / lang / "LC_MESSAGES" / "trayd.mo"
    with open(mo, "rb") as f:
        return gettext.GNUTranslations(f)


def test_every_message_has_a_japanese_translation():
    ja = _catalogue("ja")
    msgids = _msgids()
    assert len(msgids) > 20
    missing = [f"{where}: {mid!r}" for mid, where in msgids.items() if ja.gettext(mid) == mid]
    assert not missing, "untranslated:\n" + "\n".join(missing)


def test_manual_wording_for_insert_and_remove():
    ja = _catalogue("ja")
    translated = {ja.gettext(m) for m in _msgids()}
    assert "トークンが挿入されました。" in translated
    assert "トークンが外されました。" in translated


def test_language_switch_changes_cli_text(tmp_path):
    from trayd import i18n

    try:
        assert i18n.set_language("en") == "en"
        en = i18n._("Cancelled.")
        assert i18n.set_language("ja") == "ja"
        ja = i18n._("Cancelled.")
    finally:
        i18n.set_language("auto")
    assert en == "Cancelled."
    assert ja != en and ja


def test_auto_language_falls_back_to_japanese(monkeypatch):
    from trayd import i18n

    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    assert i18n.resolve_language("auto") == "ja"
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    assert i18n.resolve_language("auto") == "en"
    monkeypatch.setenv("LANG", "C")
    assert i18n.resolve_language("auto") == "ja"


def test_build_compiler_agrees_with_gnu_msgfmt(tmp_path):
    """Our pure-Python .mo writer must read back exactly like GNU msgfmt's output."""
    sys.path.insert(0, str(ROOT / "packaging"))
    from compile_catalogues import parse_po, write_mo

    po = ROOT / "po" / "ja" / "base.po"
    ours = tmp_path / "ours.mo"
    write_mo(parse_po(po.read_text(encoding="utf-8")), ours)
    gnu = tmp_path / "gnu.mo"
    subprocess.run(["msgfmt", "-o", str(gnu), str(po)], check=True)
    with open(ours, "rb") as a, open(gnu, "rb") as b:
        t_ours, t_gnu = gettext.GNUTranslations(a), gettext.GNUTranslations(b)
    for mid in _msgids():
        assert t_ours.gettext(mid) == t_gnu.gettext(mid)
