"""`trayd run [--no-tray]`: the user-session agent (autostart runs this).

Why this small: the agent and its composition (`trayd.agent.composition`: which
components run and what each gets) live in `trayd/agent/`; this command only parses its
options, takes the single-instance lock and runs the agent.
"""
from __future__ import annotations

import argparse
import logging

from trayd.config import Config
from trayd.i18n import _

log = logging.getLogger("trayd.run")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help=_("run the agent: token notifications and tray icon"))
    p.add_argument("--no-tray", action="store_true",
                   help=_("run without a tray icon (notifications only)"))
    p.add_argument("-v", "--verbose", action="count", default=0, dest="run_verbose",
                   help=_("more log output (debug)"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    from trayd.agent.agent import Agent
    from trayd.agent.composition import compose

    if getattr(args, "run_verbose", 0):
        logging.getLogger().setLevel(logging.DEBUG)
    agent = Agent(cfg, tray=not args.no_tray)
    # Before building components: a second instance must leave without side effects.
    agent.acquire_instance()
    compose(agent, tray=not args.no_tray)
    return agent.run()
