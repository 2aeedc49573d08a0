"""The composition root of `trayd run`: which components the agent runs, and what each gets.

Why here, with ordinary imports: every dependency between the agent's parts is a
constructor argument written down in this one module, so a reader sees who uses what and
the layering test (`tests/test_architecture.py`) sees every import. This is the one module
of `trayd/agent/` that may import `trayd.ui` (the tray is a component whose code lives
with the UI); nothing below the agent imports it.

Each component is built by a factory that imports its module inside `build()`: one whose
module or dependency is missing (no `gi` for the tray, no python-pkcs11 for the tokens) or
whose construction fails is skipped with the reason logged, and the agent runs with the
rest. Start order is the list order (stop is the reverse); the tray comes last because it
owns the main loop.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from trayd.agent.agent import Agent, Component

log = logging.getLogger(__name__)

C = TypeVar("C", bound=Component)


def build(name: str, factory: Callable[[], C | None]) -> C | None:
    """`factory()`, or None with the reason logged (missing dependency, failure, not used)."""
    try:
        component = factory()
    except ModuleNotFoundError as exc:
        log.warning("component %s skipped: missing dependency %s", name, exc.name)
        return None
    except Exception as exc:  # noqa: BLE001 - a broken component must not stop the agent
        log.warning("component %s skipped: %s: %s", name, type(exc).__name__, exc,
                    exc_info=True)
        return None
    if component is None:
        log.info("component %s not used here", name)
    return component


def compose(agent: Agent, *, tray: bool = True) -> list[Component]:
    """Build the agent's components from its parts, add them and return them."""
    def token_component():
        from trayd.agent.token_component import TokenComponent

        return TokenComponent(agent.bus, agent.config, agent.notify, agent.model,
                              agent.loop)

    tokens = build("tokens", token_component)
    # The one token service: the IPC server gets it from here (the root prompt and the tray
    # read the token model instead).
    service = tokens.service if tokens is not None else None

    def ipc():
        from trayd.ipc.server import IpcComponent

        return IpcComponent(agent.bus, service, lambda: agent.model.snapshot().to_json())

    def follow():
        from trayd.agent.browser_follow import BrowserFollow

        return BrowserFollow(agent.bus, agent.notify, agent.loop)

    browser_follow = build("browser_follow", follow)

    def prompt():
        from trayd.agent.root_prompt import RootPrompt

        if not agent.config.root_prompt:
            log.info("root prompt switched off (config root_prompt = false)")
            return None
        return RootPrompt(agent.model, agent.config, agent.notify, agent.launcher,
                          browser_follow)

    root_prompt = build("root_prompt", prompt)

    def tray_icon():
        from trayd.ui.tray import TrayComponent

        return TrayComponent(agent.model, agent.config, agent.launcher, agent.notify,
                             agent.request_stop, root_prompt)

    tray_component = build("tray", tray_icon) if tray else None
    if not tray:
        log.info("tray disabled (--no-tray)")
    components = [c for c in (tokens, build("ipc", ipc), root_prompt, browser_follow,
                              tray_component) if c is not None]
    for component in components:
        agent.add_component(component)
    if root_prompt is not None:
        agent.set_root_offer(root_prompt.offer_again)
    if tray_component is not None:
        agent.set_main_loop_owner(tray_component)
    return components
