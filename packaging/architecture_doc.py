"""Regenerate the parts of docs/architecture.md that the code can say for itself.

Why: a hand-kept thread table drifted (it listed seven threads while `trayd run` had
eleven). The table of every thread trayd starts is now read from the source: each
`threading.Thread(name=…)` and `ThreadPoolExecutor(thread_name_prefix=…)` call, with the
first sentence of its target's docstring (else the starting function's, else its class's) as
"what it does".
`tests/test_architecture_doc.py` fails when the document and this output differ, and
checks the names against the threads a real `trayd run` has.

    python packaging/architecture_doc.py          # exit 1 and a diff if the doc is stale
    python packaging/architecture_doc.py --write  # rewrite the generated blocks
"""
from __future__ import annotations

import argparse
import ast
import difflib
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
BEGIN = "<!-- BEGIN generated:{block} (packaging/architecture_doc.py --write) -->"
END = "<!-- END generated:{block} -->"


@dataclass(frozen=True)
class ThreadDoc:
    name: str  # the thread's name; a trailing ":…" or "_N" stands for a per-item suffix
    process: str  # "agent", "window" or "client"
    where: str  # module.function that starts it
    purpose: str

    @property
    def comm_prefix(self) -> str:
        """What /proc/PID/task/TID/comm starts with (15 characters at most)."""
        return self.name.split("<", 1)[0][:15]


def _first_sentence(doc: str | None) -> str:
    if not doc:
        return ""
    text = " ".join(doc.strip().split("\n\n", 1)[0].split())
    end = text.find(". ")
    return text if end < 0 else text[:end + 1]


def _name_of(node: ast.expr) -> str | None:
    """A literal name, or an f-string's literal start plus "<…>" for its variable part."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        head = "".join(v.value for v in node.values
                       if isinstance(v, ast.Constant) and isinstance(v.value, str))
        return head + "<…>" if len(node.values) > 1 else head
    return None


def _process(rel: str) -> str:
    if rel.startswith(("trayd/ui/tk_", "trayd/ui/dialogs/", "trayd/ui/manage")):
        return "window"
    if rel == "trayd/ipc/client.py":
        return "client"
    return "agent"


class _Finder(ast.NodeVisitor):
    def __init__(self, rel: str, tree: ast.Module) -> None:
        self.rel = rel
        self.stack: list[ast.AST] = []
        self.found: list[ThreadDoc] = []
        self.defs = {n.name: n for n in ast.walk(tree)
                     if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}

    def generic_visit(self, node: ast.AST) -> None:
        scoped = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        if scoped:
            self.stack.append(node)
        super().generic_visit(node)
        if scoped:
            self.stack.pop()

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        name = None
        if called == "Thread" and "name" in kw:
            name = _name_of(kw["name"])
        elif called == "ThreadPoolExecutor" and "thread_name_prefix" in kw:
            prefix = _name_of(kw["thread_name_prefix"])
            name = f"{prefix}_<n>" if prefix else None
        if name:
            target = kw.get("target")
            target_name = (target.attr if isinstance(target, ast.Attribute)
                           else getattr(target, "id", None))
            enclosing = [n for n in self.stack if not isinstance(n, ast.ClassDef)]
            purpose = ""
            if target_name and target_name in self.defs:
                purpose = _first_sentence(ast.get_docstring(self.defs[target_name]))
            if not purpose and enclosing:
                purpose = _first_sentence(ast.get_docstring(enclosing[-1]))
            classes = [n for n in self.stack if isinstance(n, ast.ClassDef)]
            if not purpose and classes:
                purpose = _first_sentence(ast.get_docstring(classes[-1]))
            module = self.rel[:-3].replace("/", ".")
            where = ".".join([module, *(n.name for n in self.stack)])  # type: ignore[attr-defined]
            self.found.append(ThreadDoc(name, _process(self.rel), where, purpose))
        self.generic_visit(node)


def threads(root: Path = ROOT) -> list[ThreadDoc]:
    """Every named thread the trayd package starts, in source order per module."""
    out: list[ThreadDoc] = []
    for path in sorted((root / "trayd").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), rel)
        finder = _Finder(rel, tree)
        finder.visit(tree)
        out.extend(finder.found)
    return out


def render_threads(found: list[ThreadDoc]) -> str:
    order = {"agent": 0, "client": 1, "window": 2}
    rows = ["| thread | process | started in | what it does |", "|---|---|---|---|"]
    for t in sorted(found, key=lambda t: (order[t.process], t.where, t.name)):
        rows.append(f"| `{t.name}` | {t.process} | `{t.where}` | {t.purpose or '—'} |")
    return "\n".join(rows)


@dataclass(frozen=True)
class ComponentDoc:
    name: str  # the name `build()` logs
    cls: str  # module.Class
    gets: str  # the constructor arguments as composition.py writes them
    purpose: str


def _class_doc(root: Path, module: str, cls: str) -> str:
    path = root / (module.replace(".", "/") + ".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            return _first_sentence(ast.get_docstring(node))
    raise SystemExit(f"{module}: class {cls} not found")


def components(root: Path = ROOT) -> list[ComponentDoc]:
    """The agent's components in start order, read from `trayd/agent/composition.py`.

    Each is `build("<name>", <factory>)` where the factory imports the component's class
    and returns `Class(args…)`; the order of the final list is the start order.
    """
    tree = ast.parse((root / "trayd/agent/composition.py").read_text(encoding="utf-8"))
    compose = next(n for n in tree.body if isinstance(n, ast.FunctionDef)
                   and n.name == "compose")
    factories = {n.name: n for n in compose.body if isinstance(n, ast.FunctionDef)}
    built: dict[str, str] = {}  # factory function name → component name
    for node in ast.walk(compose):
        if (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "build"
                and isinstance(node.args[0], ast.Constant)):
            built[node.args[1].id] = node.args[0].value  # type: ignore[attr-defined]
    out = []
    for factory, name in built.items():
        fn = factories[factory]
        imported = {a.asname or a.name: n.module for n in ast.walk(fn)
                    if isinstance(n, ast.ImportFrom) for a in n.names}
        ret = next(n.value for n in ast.walk(fn) if isinstance(n, ast.Return)
                   and isinstance(n.value, ast.Call))
        cls = ret.func.id  # type: ignore[union-attr]
        module = imported[cls]
        gets = ", ".join(ast.unparse(a) for a in [*ret.args, *ret.keywords])
        out.append(ComponentDoc(name, f"{module}.{cls}", gets,
                                _class_doc(root, module, cls)))
    # Start order: the tuple `components = [c for c in (…) …]` lists variables or build()s.
    assigned = {n.targets[0].id: n.value for n in ast.walk(compose)  # type: ignore[attr-defined]
                if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)}
    order_list = assigned["components"]
    listed = next(n for n in ast.walk(order_list) if isinstance(n, ast.Tuple)).elts

    def built_name(node: ast.expr) -> str:
        if isinstance(node, ast.Name):
            node = assigned[node.id]
        return next(c.args[0].value for c in ast.walk(node)  # type: ignore[attr-defined]
                    if isinstance(c, ast.Call) and getattr(c.func, "id", "") == "build")

    rank = {built_name(e): i for i, e in enumerate(listed)}
    return sorted(out, key=lambda c: rank[c.name])


def render_components(found: list[ComponentDoc]) -> str:
    rows = ["| start | component | class | gets | what it does |", "|---|---|---|---|---|"]
    for i, c in enumerate(found, 1):
        rows.append(f"| {i} | `{c.name}` | `{c.cls}` | `{c.gets}` | {c.purpose or '—'} |")
    return "\n".join(rows)


def blocks(root: Path = ROOT) -> dict[str, str]:
    """Generated block name → its Markdown."""
    return {"threads": render_threads(threads(root)),
            "components": render_components(components(root))}


def regenerate(text: str, generated: dict[str, str]) -> str:
    """`text` with every generated block replaced (a missing marker is an error)."""
    for block, body in generated.items():
        begin, end = BEGIN.format(block=block), END.format(block=block)
        try:
            head, rest = text.split(begin, 1)
            _, tail = rest.split(end, 1)
        except ValueError:
            raise SystemExit(f"{DOC}: markers for block {block!r} missing") from None
        text = f"{head}{begin}\n{body}\n{end}{tail}"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite docs/architecture.md")
    args = parser.parse_args(argv)
    current = DOC.read_text(encoding="utf-8")
    wanted = regenerate(current, blocks())
    if wanted == current:
        return 0
    if args.write:
        DOC.write_text(wanted, encoding="utf-8")
        print(f"{DOC.relative_to(ROOT)}: generated blocks rewritten")
        return 0
    sys.stdout.writelines(difflib.unified_diff(
        current.splitlines(True), wanted.splitlines(True), "docs/architecture.md", "generated"))
    return 1


if __name__ == "__main__":
    sys.exit(main())
