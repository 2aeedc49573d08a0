"""`make mutants`: plant each known one-line bug in a scratch copy and make sure a test fails.

Why: these bugs once survived the whole relevant test files (issue 13) — the product was
right, only no test would have noticed it breaking. Each mutant is an exact source
substitution; if its anchor text is gone (the code was refactored) the run fails loudly,
so the list is updated instead of silently testing nothing. The scratch copy is a
`git worktree` of HEAD plus the working tree's uncommitted changes, under /tmp; the
project's .venv runs the tests there (PYTHONPATH points at the copy).

Usage: .venv/bin/python tests/mutants.py [--list] [NAME ...]
Exit status 0 when every selected mutant is killed.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    why: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]  # pytest node ids (files or single tests) that must fail


MUTANTS = (
    Mutant("root-prompt-agent", "the agent installs unless the dialog said exactly いいえ",
           "trayd/agent/root_prompt.py",
           "        if rc == DIALOG_YES:\n            self._install(cert, others)",
           "        if rc != DIALOG_NO:\n            self._install(cert, others)",
           ("tests/test_consent.py::test_agent_root_warning_anything_but_yes_installs_nothing",)),
    Mutant("root-prompt-cli", "`trayd root install --dialog` installs unless the answer is いいえ",
           "trayd/cli/commands/root.py",
           "return Launcher(current_language()).run(*argv) == 0",
           "return Launcher(current_language()).run(*argv) != 6",
           ("tests/test_consent.py::test_cli_dialog_anything_but_yes_installs_nothing",)),
    Mutant("pin-dialog-last-try", "the PIN dialog sends the last try without asking when the "
           "backend says a confirmation is needed",
           "trayd/ui/dialogs/pin_dialog.py",
           "                if confirm_last_try(self):\n                    self._login(pin, True)",
           "                if True:\n                    self._login(pin, True)",
           ("tests/test_dialogs_last_try.py",)),
    Mutant("export-class-filter", "export searches by ID only, without CKO_CERTIFICATE",
           "trayd/core/token_objects.py",
           "session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE,\n"
           "                                        Attribute.ID: wanted})",
           "session.get_objects({Attribute.ID: wanted})",
           ("tests/test_pin_safety.py::test_export_while_logged_in_local",
            "tests/test_pin_safety.py::test_export_while_logged_in_through_the_agent")),
    Mutant("vague-wrong-pin", "CKR_GENERAL_ERROR / CKR_DEVICE_ERROR no longer count as wrong PINs",
           "trayd/core/pin_login.py",
           "        svc.counter.record_failure(serial)\n"
           "        coexistence.reinit(svc, f\"{operation}: {ckr.name(rv)}\")",
           "        coexistence.reinit(svc, f\"{operation}: {ckr.name(rv)}\")",
           ("tests/test_pin_safety.py::test_wrong_pin_reported_vaguely_still_counts_and_warns",)),
    Mutant("burst-summary-unscheduled", "the real agent never schedules the burst summary",
           "trayd/agent/agent.py",
           "schedule=lambda job, delay: self.worker.submit(job, delay))",
           "schedule=lambda job, delay: None)",
           ("tests/test_agent_e2e.py::test_burst_gives_individual_notices_and_one_summary",)),
    Mutant("restart-counters", "pcsc-lite's event counters are compared across a pcscd restart",
           "trayd/core/monitor.py",
           "self._tracker.states_returned(states, ignore_counters=fresh))",
           "self._tracker.states_returned(states, ignore_counters=False))",
           ("tests/test_monitor_restart.py::test_pcscd_restart_with_a_token_left_in_is_quiet",
            "tests/test_agent_e2e.py::"
            "test_pcscd_restart_with_a_token_left_in_gives_no_removal_or_insertion")),
    Mutant("verbose-ignored", "-v does not turn on debug logging",
           "trayd/cli/__init__.py",
           "level = logging.DEBUG if verbosity > 0 else",
           "level = logging.INFO if verbosity > 0 else",
           ("tests/test_cli_pin_hygiene.py::test_pin_never_leaks",
            "tests/test_agent_e2e.py::test_verbose_agent_logs_debug_but_never_the_pin")),
    Mutant("verbose-ignored-run", "`trayd run -v` does not turn on debug logging",
           "trayd/cli/commands/run.py",
           "    if getattr(args, \"run_verbose\", 0):\n        logging.getLogger().setLevel(logging.DEBUG)",
           "    if False:\n        logging.getLogger().setLevel(logging.DEBUG)",
           ("tests/test_agent_e2e.py::test_verbose_agent_logs_debug_but_never_the_pin",)),
)


def check_anchors(mutants: tuple[Mutant, ...] | list[Mutant], root: Path = ROOT) -> list[str]:
    """Problems with the anchors: each `old` must occur exactly once in its file."""
    problems = []
    for m in mutants:
        text = (root / m.path).read_text(encoding="utf-8")
        n = text.count(m.old)
        if n != 1:
            problems.append(f"{m.name}: anchor found {n} times in {m.path}: {m.old!r}")
    return problems


def scratch_copy(dest: Path) -> None:
    """HEAD as a detached worktree, then the uncommitted and untracked changes on top."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(dest),
                    "HEAD"], check=True)
    diff = subprocess.run(["git", "-C", str(ROOT), "diff", "HEAD", "--binary"],
                          capture_output=True, check=True).stdout
    if diff:
        subprocess.run(["git", "-C", str(dest), "apply", "--whitespace=nowarn"], input=diff,
                       check=True)
    untracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--others",
                                "--exclude-standard", "-z"], capture_output=True,
                               check=True).stdout.decode().split("\0")
    for rel in filter(None, untracked):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    # Build output that git ignores: the message catalogues (`make mo`).
    subprocess.run([sys.executable, str(dest / "packaging" / "compile_catalogues.py")],
                   cwd=dest, check=True, capture_output=True)


def run_tests(copy: Path, tests: tuple[str, ...], log: Path) -> int:
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
    python = ROOT / ".venv" / "bin" / "python"
    with log.open("w") as f:
        return subprocess.run([str(python), "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                               *tests], cwd=copy, env=env, stdout=f, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL).returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="only these mutants")
    ap.add_argument("--list", action="store_true", help="list the mutants and their tests")
    ap.add_argument("--keep", action="store_true", help="keep the scratch copy and logs")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.names or m.name in args.names]
    unknown = set(args.names) - {m.name for m in MUTANTS}
    if unknown:
        print(f"unknown mutant(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    if args.list:
        for m in chosen:
            print(f"{m.name}: {m.why}\n    {m.path}\n    killed by: {' '.join(m.tests)}")
        return 0
    problems = check_anchors(chosen)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="trayd-mutants-"))
    copy = work / "tree"
    survivors, failed_clean = [], False
    try:
        scratch_copy(copy)
        # The tests must pass on the unmutated copy, or a "kill" proves nothing.
        tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        started = time.monotonic()
        rc = run_tests(copy, tests, work / "clean.log")
        print(f"clean copy: {'ok' if rc == 0 else f'FAILED ({rc})'} "
              f"({time.monotonic() - started:.0f} s)", flush=True)
        if rc != 0:
            failed_clean = True
            print((work / "clean.log").read_text()[-3000:], file=sys.stderr)
            return 1
        for m in chosen:
            target = copy / m.path
            original = target.read_text(encoding="utf-8")
            target.write_text(original.replace(m.old, m.new, 1), encoding="utf-8")
            try:
                started = time.monotonic()
                rc = run_tests(copy, m.tests, work / f"{m.name}.log")
            finally:
                target.write_text(original, encoding="utf-8")
            verdict = "killed" if rc == 1 else "SURVIVED" if rc == 0 else f"error (pytest {rc})"
            print(f"{m.name}: {verdict} ({time.monotonic() - started:.0f} s) by "
                  f"{' '.join(m.tests)}", flush=True)
            if rc != 1:
                survivors.append(m.name)
        if survivors:
            print(f"not killed: {', '.join(survivors)} (logs in {work})", file=sys.stderr)
        return 1 if survivors else 0
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(copy)],
                       capture_output=True)
        if not (args.keep or survivors or failed_clean):
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
