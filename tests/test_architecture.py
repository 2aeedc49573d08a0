"""The layering rules of docs/architecture.md, checked on the source (imports via `ast`).

core/ never imports UI code or toolkits; ui/ never talks to pyscard or PKCS#11 directly
(it goes through trayd.core.backend.TokenBackend implementations); nothing below the
CLI imports the CLI; the agent imports the UI only in its composition root
(`trayd/agent/composition.py`, which builds the tray component), and that root builds every
component there is. Imports inside functions count too (`ast.walk` sees them).
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
    ("agent", ("trayd.ui", "trayd.cli", "tkinter", "pystray", "gi")),
    # doctor probes toolkits by importing them (checks_python); it never uses the UI, the
    # agent or the CLI.
    ("doctor", ("trayd.ui", "trayd.cli", "trayd.agent", "trayd.ipc", "pystray")),
]
# The one exception to RULES, and why: the composition root builds the tray component,
# whose code lives with the UI (pystray, GTK); no other agent module may reach the UI.
ALLOWED = {"trayd/agent/composition.py": {"trayd.ui.tray"}}
COMPOSITION = PKG / "agent" / "composition.py"


@pytest.mark.parametrize("layer,forbidden", RULES, ids=[r[0] for r in RULES])
def test_layer_does_not_import(layer: str, forbidden: tuple[str, ...]):
    offences = []
    for path in files(layer):
        allowed = ALLOWED.get(str(path.relative_to(ROOT)), set())
        for name in imports_of(path):
            if name in allowed:
                continue
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                offences.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offences, "\n".join(offences)


def test_rules_cover_real_files():
    for layer, _ in RULES:
        assert files(layer), f"trayd/{layer} has no modules"


def _component_modules() -> set[str]:
    """Modules defining an agent component: a class with a `name` and start()/stop()."""
    found = set()
    for path in PKG.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            attrs = {t.id for n in node.body if isinstance(n, ast.Assign)
                     for t in n.targets if isinstance(t, ast.Name)}
            methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
            if "name" in attrs and {"start", "stop"} <= methods:
                found.add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return found


def test_the_composition_root_builds_every_component_and_imports_only_them():
    imported = {n for n in imports_of(COMPOSITION) if n.startswith("trayd.")}
    components = _component_modules()
    assert components >= {"trayd.agent.token_component", "trayd.ipc.server",
                          "trayd.agent.root_prompt", "trayd.agent.browser_follow",
                          "trayd.ui.tray"}, components
    assert components <= imported, f"not composed: {sorted(components - imported)}"
    # Besides the components: only the agent it composes.
    assert imported - components == {"trayd.agent.agent"}, sorted(imported - components)


def test_only_the_composition_root_builds_components():
    """No module looks a component up at run time: the root passes each what it uses."""
    offences = []
    for path in sorted(PKG.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for probe in ("getattr(agent", "getattr(self.agent", ".component(", "def create(agent"):
            if probe in text:
                offences.append(f"{path.relative_to(ROOT)}: {probe}")
    assert not offences, "\n".join(offences)


MAX_MODULE_LINES = 400


def test_no_module_over_400_lines():
    """Issue 14: a module a newcomer can read in one sitting; split by concern past 400."""
    sizes = {path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
             for path in sorted(PKG.rglob("*.py"))}
    assert len(sizes) > 50  # the walk really saw the package
    too_long = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"
