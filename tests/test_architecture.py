"""The layering rules of docs/architecture.md, checked on the source (imports via `ast`).

core/ never imports UI code or toolkits; ui/ never talks to pyscard or PKCS#11 directly
(it goes through trayd.core.backend.TokenBackend implementations); nothing below the
CLI imports the CLI.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "trayd"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def files(sub: str) -> list[Path]:
    return sorted((PKG / sub).rglob("*.py"))


RULES = [
    ("core", ("trayd.ui", "trayd.cli", "trayd.agent", "trayd.ipc", "tkinter", "pystray", "gi")),
    ("platform", ("trayd.ui", "trayd.cli", "tkinter", "pystray")),
    ("ui", ("smartcard", "pkcs11")),
    ("ipc", ("trayd.ui", "trayd.cli", "tkinter")),
    ("agent", ("trayd.cli", "tkinter")),
]


@pytest.mark.parametrize("layer,forbidden", RULES, ids=[r[0] for r in RULES])
def test_layer_does_not_import(layer: str, forbidden: tuple[str, ...]):
    offences = []
    for path in files(layer):
        for name in imports_of(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                offences.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offences, "\n".join(offences)


def test_rules_cover_real_files():
    for layer, _ in RULES:
        assert files(layer), f"trayd/{layer} has no modules"


MAX_MODULE_LINES = 400


def test_no_module_over_400_lines():
    """Issue 14: a module a newcomer can read in one sitting; split by concern past 400."""
    sizes = {path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
             for path in sorted(PKG.rglob("*.py"))}
    assert len(sizes) > 50  # the walk really saw the package
    too_long = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"
