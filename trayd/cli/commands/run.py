"""`trayd run [--no-tray]`: the user-session agent (autostart runs this).

Why a list of module names: each optional part (token service, IPC server, root
certificate prompt, tray) lives in its own module exposing `create(agent) -> Component |
None`. This command imports each lazily and adds what it gets; a module that is missing
or fails is skipped with the reason logged, so the agent always runs with what works.
"""
from __future__ import annotations

import argparse
import importlib
import logging

from trayd.config import Config
from trayd.i18n import _

log = logging.getLogger("trayd.run")

# Order = start order (stop is the reverse). The tray comes last: it owns the main loop.
COMPONENT_MODULES: tuple[str, ...] = (
    "trayd.agent.token_component",
    "trayd.ipc.server",
    "trayd.agent.root_prompt",
    "trayd.agent.browser_follow",
    "trayd.ui.tray",
)
TRAY_MODULE = "trayd.ui.tray"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help=_("run the agent: token notifications and tray icon"))
    p.add_argument("--no-tray", action="store_true",
                   help=_("run without a tray icon (notifications only)"))
    p.add_argument("-v", "--verbose", action="count", default=0, dest="run_verbose",
                   help=_("more log output (debug)"))
    p.set_defaults(func=run)


def load_components(agent, modules: tuple[str, ...] = COMPONENT_MODULES, *,
                    tray: bool = True) -> list:
    """Import each module and call its `create(agent)`; skip with a logged reason."""
    components = []
    for name in modules:
        if name == TRAY_MODULE and not tray:
            log.info("tray disabled (--no-tray)")
            continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                log.info("component %s not installed; skipped", name)
            else:
                log.warning("component %s skipped: missing dependency %s", name, exc.name)
            continue
        except Exception as exc:  # noqa: BLE001 - a broken module must not stop the agent
            log.warning("component %s skipped: import failed: %s", name, exc, exc_info=True)
            continue
        create = getattr(module, "create", None)
        if create is None:
            log.warning("component %s skipped: it has no create(agent)", name)
            continue
        try:
            component = create(agent)
        except Exception as exc:  # noqa: BLE001
            log.warning("component %s skipped: create() failed: %s", name, exc, exc_info=True)
            continue
        if component is None:
            log.info("component %s not used here (create() returned None)", name)
            continue
        components.append(component)
    return components


def run(args: argparse.Namespace, cfg: Config) -> int:
    from trayd.agent.agent import Agent

    if getattr(args, "run_verbose", 0):
        logging.getLogger().setLevel(logging.DEBUG)
    agent = Agent(cfg, tray=not args.no_tray)
    # Before building components: a second instance must leave without side effects.
    agent.acquire_instance()
    for component in load_components(agent, tray=not args.no_tray):
        agent.add_component(component)
    return agent.run()
