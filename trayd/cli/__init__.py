"""The `trayd` command: argument parsing, logging, language, and errors → exit codes.

Why a package of small command modules: each subcommand lives in
`trayd/cli/commands/<name>.py` and exposes `register(subparsers)`; this module discovers
them, so adding a command touches no shared file. Errors are mapped to words and exit
codes here, in one place (`trayd.messages.describe`, `TraydError.exit_code`).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence

from trayd import __version__, config, i18n
from trayd.errors import TraydError
from trayd.i18n import _

log = logging.getLogger("trayd")


class JournalFormatter(logging.Formatter):
    """`<N>logger: message`: journald reads the `<N>` priority prefix from stderr."""

    PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
                logging.CRITICAL: 2}

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        prio = self.PRIORITY.get(record.levelno, 6)
        return "\n".join(f"<{prio}>{record.name}: {line}" for line in text.splitlines())


def setup_logging(verbosity: int, quiet: bool = False) -> None:
    """Log to stderr. The agent reports at INFO; one-shot commands only warn unless -v,
    so their output is the answer, not a trace of how it was found."""
    level = logging.DEBUG if verbosity > 0 else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(JournalFormatter("%(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or (with `only`) one that registers just that command's module.

    Why `only`: some command modules need heavy libraries (cryptography, pyscard); a script
    calling `trayd certs` should not pay for `trayd export`'s imports. `--help` and unknown
    commands get the full parser.
    """
    parser = argparse.ArgumentParser(
        prog="trayd",
        description=_("USB token (ePass2003) agent and management tool"),
    )
    parser.add_argument("--version", action="version", version=f"trayd {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help=_("more log output (debug)"))
    parser.add_argument("--language", choices=("auto", "ja", "en"), default=None,
                        help=_("language of messages (default: from the config file)"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from trayd.cli import commands

    names = sorted(m.name for m in pkgutil.iter_modules(commands.__path__))
    if only is not None and only in names:
        names = [only]
    for name in names:
        module = importlib.import_module(f"{commands.__name__}.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Language first, so --help is translated too.
    cfg = config.load()
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--language", default=None)
    early.add_argument("-v", "--verbose", action="count", default=0)
    early.add_argument("command", nargs="?")
    early_args, _rest = early.parse_known_args(argv)
    i18n.set_language(early_args.language or os.environ.get("TRAYD_LANGUAGE") or cfg.language)

    command = early_args.command
    parser = build_parser(only=command.replace("-", "_") if command else None)
    args = parser.parse_args(argv)
    setup_logging(args.verbose, quiet=args.command != "run")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args, cfg) or 0)
    except TraydError as err:
        from trayd.messages import describe

        print(f"trayd: {describe(err)}", file=sys.stderr)
        log.debug("error detail: %r", err)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"trayd: {_('Cancelled.')}", file=sys.stderr)
        return 6
