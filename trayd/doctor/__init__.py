"""`trayd doctor`: small independent checks of everything trayd depends on.

Why a registry of small functions: each area (PC/SC, OpenSC, NSS, desktop, autostart)
knows its own failure modes, and anyone can add a check by putting a module named
`trayd/doctor/checks_<area>.py` here whose functions are decorated with `@check(...)`;
`run_all()` imports every such module. A check returns one `CheckResult` (or several);
an exception inside a check becomes a failed result, so one broken probe never hides the
others. Fixes are user-facing sentences (Japanese by default, `--language en`).

JSON contract (`trayd doctor --json`):
    {"ok": bool,                      # no check with status "error"
     "language": "ja" | "en",
     "checks": [{"name": str,         # stable id, e.g. "pcscd", "opensc_module"
                 "title": str,        # short label in the active language
                 "status": "ok" | "warning" | "error" | "skipped",
                 "ok": bool,          # status in ("ok", "skipped")
                 "detail": str,       # what was found
                 "fix": str | null}]} # what to do, when not ok
"""
from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from trayd.config import Config

log = logging.getLogger(__name__)

OK, WARNING, ERROR, SKIPPED = "ok", "warning", "error", "skipped"


@dataclass
class CheckResult:
    name: str
    status: str
    detail: str = ""
    fix: str | None = None
    title: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (OK, SKIPPED)

    def to_json(self) -> dict:
        return {"name": self.name, "title": self.title, "status": self.status,
                "ok": self.ok, "detail": self.detail, "fix": None if self.ok else self.fix}


@dataclass
class Context:
    """Shared by the checks of one run: the config and facts earlier checks found."""

    cfg: Config
    facts: dict = field(default_factory=dict)


CheckFn = Callable[[Context], "CheckResult | Iterable[CheckResult]"]


@dataclass
class Check:
    name: str
    title: Callable[[], str]  # translated at run time
    order: int
    fn: CheckFn


_REGISTRY: dict[str, Check] = {}


def check(name: str, title: Callable[[], str], order: int = 500) -> Callable[[CheckFn], CheckFn]:
    """Register a check; `title` is a callable so it is translated when shown."""
    def deco(fn: CheckFn) -> CheckFn:
        _REGISTRY[name] = Check(name, title, order, fn)
        return fn
    return deco


def load_checks() -> list[Check]:
    from trayd import doctor

    for info in pkgutil.iter_modules(doctor.__path__):
        if info.name.startswith("checks_"):
            try:
                importlib.import_module(f"{doctor.__name__}.{info.name}")
            except Exception as exc:  # noqa: BLE001  (a broken module must not stop doctor)
                log.warning("doctor: cannot load %s: %s", info.name, exc)
    return sorted(_REGISTRY.values(), key=lambda c: (c.order, c.name))


def run_check(c: Check, ctx: Context) -> list[CheckResult]:
    from trayd.i18n import _

    try:
        out = c.fn(ctx)
        results = [out] if isinstance(out, CheckResult) else list(out)
    except Exception as exc:  # noqa: BLE001
        log.debug("doctor check %s crashed", c.name, exc_info=True)
        results = [CheckResult(c.name, ERROR, _("The check itself failed: {error}").format(
            error=f"{type(exc).__name__}: {exc}"), _("Please report this as a bug."))]
    for r in results:
        r.title = r.title or c.title()
    return results


def run_all(cfg: Config, only: Iterable[str] | None = None) -> list[CheckResult]:
    ctx = Context(cfg)
    wanted = set(only) if only else None
    results: list[CheckResult] = []
    for c in load_checks():
        if wanted is None or c.name in wanted:
            results.extend(run_check(c, ctx))
    return results


def overall_ok(results: Iterable[CheckResult]) -> bool:
    return all(r.status != ERROR for r in results)
