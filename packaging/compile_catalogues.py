"""Compile `po/<lang>/*.po` fragments into one `trayd.mo` per language.

Pure Python (no `msgfmt` needed at build time), so `pip install .` works anywhere.
Fragments are merged in file-name order; the first translation of a msgid wins.
Run directly (`python packaging/compile_catalogues.py`) to refresh the catalogues in
a source tree.
"""
from __future__ import annotations

import ast
import os
import struct
import sys
from pathlib import Path


def parse_po(text: str) -> dict[str, str]:
    """Return {msgid: msgstr} for translated, non-fuzzy entries (header included)."""
    entries: dict[str, str] = {}
    msgctxt = msgid = msgstr = None
    section = None
    fuzzy = False

    def flush() -> None:
        nonlocal msgctxt, msgid, msgstr, fuzzy
        if msgid is not None and msgstr and not fuzzy:
            key = msgid if msgctxt is None else f"{msgctxt}\x04{msgid}"
            entries.setdefault(key, msgstr)
        msgctxt = msgid = msgstr = None
        fuzzy = False

    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#,") and "fuzzy" in line:
            if msgid is not None:
                flush()
            fuzzy = True
            continue
        if not line or line.startswith("#"):
            continue
        if line.startswith("msgctxt "):
            if msgid is not None:
                flush()
            msgctxt, section = ast.literal_eval(line[8:]), "msgctxt"
        elif line.startswith("msgid "):
            if msgid is not None:
                keep_fuzzy = fuzzy
                flush()
                fuzzy = keep_fuzzy
            msgid, section = ast.literal_eval(line[6:]), "msgid"
        elif line.startswith("msgstr "):
            msgstr, section = ast.literal_eval(line[7:]), "msgstr"
        elif line.startswith('"'):
            part = ast.literal_eval(line)
            if section == "msgid":
                msgid += part
            elif section == "msgstr":
                msgstr += part
            elif section == "msgctxt":
                msgctxt += part
    if msgid is not None:
        flush()
    return entries


def write_mo(entries: dict[str, str], path: Path) -> None:
    """Write a GNU .mo file (same layout as CPython's Tools/i18n/msgfmt.py)."""
    keys = sorted(entries)
    ids = strs = b""
    offsets = []
    for k in keys:
        kb, vb = k.encode("utf-8"), entries[k].encode("utf-8")
        offsets.append((len(ids), len(kb), len(strs), len(vb)))
        ids += kb + b"\0"
        strs += vb + b"\0"
    keystart = 7 * 4 + 16 * len(keys)
    valuestart = keystart + len(ids)
    koffsets: list[int] = []
    voffsets: list[int] = []
    for o1, l1, o2, l2 in offsets:
        koffsets += [l1, o1 + keystart]
        voffsets += [l2, o2 + valuestart]
    output = struct.pack("Iiiiiii", 0x950412DE, 0, len(keys), 7 * 4, 7 * 4 + len(keys) * 8, 0, 0)
    output += struct.pack(f"{len(koffsets)}i", *koffsets) if koffsets else b""
    output += struct.pack(f"{len(voffsets)}i", *voffsets) if voffsets else b""
    output += ids + strs
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".mo.{os.getpid()}.tmp")  # two builds at once: no torn file
    tmp.write_bytes(output)
    tmp.replace(path)


def compile_all(root: Path) -> list[Path]:
    """Compile every language directory under root/po; return the .mo paths written."""
    written = []
    for lang_dir in sorted((root / "po").iterdir()):
        if not lang_dir.is_dir():
            continue
        merged: dict[str, str] = {}
        for po in sorted(lang_dir.glob("*.po")):
            for k, v in parse_po(po.read_text(encoding="utf-8")).items():
                merged.setdefault(k, v)
        out = root / "trayd" / "locale" / lang_dir.name / "LC_MESSAGES" / "trayd.mo"
        write_mo(merged, out)
        written.append(out)
    return written


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    for p in compile_all(root):
        print(p)
