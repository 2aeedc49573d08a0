"""`make demo`: trayd with a virtual ePass2003, on this desktop, without any hardware.

Starts, all private to this run: a pcscd with the vpcd virtual reader (its own mount
namespace, random ports), the test suite's ePass2003 emulator (PIN 12345678, a user
certificate and the test root CA), a temporary HOME (your real NSS databases, config and
trust store are never touched), a D-Bus session if there is none (with a notification
printer), the real `trayd run` agent (tray icon) and the management window on the
current DISPLAY. Then it reads commands from the terminal so you can insert and pull
the token while you walk through the manual's §4 in the tray menu and the window.
Ctrl-C (or `q`) stops everything it started, in reverse order.

    make demo                  # on your desktop
    make demo ARGS=--xvfb      # no desktop: a private Xvfb + trayer, screenshots with `s`
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from emulator.epass2003 import Epass2003  # noqa: E402
from emulator.pki import default_cache_dir, ensure_pki  # noqa: E402
from rig.pcscd import PrivatePcscd  # noqa: E402
from rig.ports import free_port_pair  # noqa: E402
from rig.xserver import TrayHost, Xvfb, screenshot  # noqa: E402

PIN = "12345678"
HELP = """commands:  i = insert token 1    r = remove token 1
           2 = insert token 2    3 = remove token 2
           m = open the management window again
           s = screenshot (with --xvfb)    q = quit (also Ctrl-C)"""


def say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="trayd-demo-"))
        self.env = dict(os.environ)
        self.stack: list[tuple[str, object]] = []  # (what, stop callable) in start order
        self.procs: dict[str, subprocess.Popen] = {}
        self.tokens: dict[int, Epass2003] = {}
        self.display = ""

    # -- start ---------------------------------------------------------------------------
    def _push(self, what: str, stop) -> None:
        self.stack.append((what, stop))

    def home(self) -> None:
        home = self.work / "home"
        run = home / "run"
        for sub in (".config", ".local/share", ".local/state", ".cache", "run"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(run, 0o700)
        self.env.update({
            "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local/share"),
            "XDG_STATE_HOME": str(home / ".local/state"),
            "XDG_CACHE_HOME": str(home / ".cache"), "XDG_RUNTIME_DIR": str(run),
            "PYTHONPATH": str(ROOT) + os.pathsep + self.env.get("PYTHONPATH", ""),
            "TRAYD_LANGUAGE": self.args.language,
        })
        say(f"temporary HOME {home}")

    def display_(self) -> None:
        if self.args.xvfb:
            x = Xvfb()
            self.display = x.start()
            self._push("Xvfb", x.stop)
            self.env["DISPLAY"] = self.display
            host = TrayHost(self.display, self.env)
            host.start()
            self._push("trayer", host.stop)
            say(f"private X display {self.display} with trayer (screenshots: s)")
        else:
            self.display = self.env.get("DISPLAY", "")
            if not self.display and not self.env.get("WAYLAND_DISPLAY"):
                raise SystemExit("make demo needs a graphical session (DISPLAY); "
                                 "or run: make demo ARGS=--xvfb")

    def dbus(self) -> None:
        if self.env.get("DBUS_SESSION_BUS_ADDRESS") and not self.args.xvfb:
            say("using your D-Bus session (notifications appear on your desktop)")
            return
        from rig.fixtures_dbus import DbusSession, RecordingService

        session = DbusSession(self.work / "dbus")
        session.start()
        self._push("D-Bus session", session.stop)
        self.env.update(session.env)
        os.environ.update(session.env)
        notes = RecordingService(session, notifications=True)
        notes.start()
        self._push("notification printer", notes.stop)
        say("private D-Bus session with a notification printer")

        def printer() -> None:
            seen = 0
            while notes.proc is not None:
                ns = notes.notifications
                for n in ns[seen:]:
                    say(f"notification: {n['summary']} {n['body']!r}")
                seen = len(ns)
                time.sleep(0.3)

        threading.Thread(target=printer, daemon=True).start()

    def pcscd(self) -> None:
        daemon = PrivatePcscd(self.work / "pcscd", free_port_pair())
        os.environ.update(daemon.env)  # before any libpcsclite use in this process
        daemon.start()
        self.pcscd_daemon = daemon
        self._push("pcscd", daemon.stop)
        self.env.update(daemon.env)
        say(f"private pcscd (vpcd ports {daemon.port(0)}, {daemon.port(1)})")

    def token(self, slot: int, insert: bool = True) -> None:
        tok = self.tokens.get(slot)
        if tok is None:
            pki = ensure_pki(default_cache_dir())
            tok = Epass2003(pki=pki, port=self.pcscd_daemon.port(slot), slot=slot, pin=PIN,
                            label="EPPCERT" if slot == 0 else "EPPCERT-2")
            self.tokens[slot] = tok
        if insert and not tok.inserted:
            tok.insert()
            say(f"token {slot + 1} inserted in {tok.reader} (serial {tok.serial}, "
                f"user PIN {PIN})")
        elif not insert and tok.inserted:
            tok.remove()
            say(f"token {slot + 1} removed")

    def spawn(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.work / f"{name}.log", "ab")
        proc = subprocess.Popen([sys.executable, *args], env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs[name] = proc
        return proc

    def agent(self) -> None:
        self.spawn("agent", "-m", "trayd", "run", "-v")
        log = self.work / "agent.log"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace") if log.exists() else ""
            if "tray: icon shown" in text or "running without one" in text:
                break
            if self.procs["agent"].poll() is not None:
                raise SystemExit(f"the agent exited early; see {log}")
            time.sleep(0.1)
        self._push("agent", lambda: self._stop_proc("agent"))
        say(f"agent running (log: {log})")

    def manage(self) -> None:
        proc = self.procs.get("manage")
        if proc is not None and proc.poll() is None:
            say("the management window is already open")
            return
        self.spawn("manage", "-m", "trayd.ui", "manage")
        if not any(w == "manage" for w, _s in self.stack):
            self._push("manage", lambda: self._stop_proc("manage"))
        say("management window opened")

    def _stop_proc(self, name: str) -> None:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    # -- run -----------------------------------------------------------------------------
    def start(self) -> None:
        self.home()
        self.display_()
        self.dbus()
        self.pcscd()
        self.agent()
        self.token(0)
        self.manage()

    def loop(self) -> None:
        say(HELP)
        while True:
            if self.procs["agent"].poll() is not None:
                say("the agent has exited (終了 in the tray menu)")
                return
            try:
                line = sys.stdin.readline()
            except KeyboardInterrupt:
                return
            if line == "":  # stdin closed: keep running until the agent exits
                self.procs["agent"].wait()
                return
            cmd = line.strip().lower()
            try:
                if cmd == "i":
                    self.token(0)
                elif cmd == "r":
                    self.token(0, insert=False)
                elif cmd == "2":
                    self.token(1)
                elif cmd == "3":
                    self.token(1, insert=False)
                elif cmd == "m":
                    self.manage()
                elif cmd == "s" and self.display:
                    path = screenshot(self.display, self.work / f"screen-{int(time.time())}.png")
                    say(f"screenshot {path}")
                elif cmd in ("q", "quit", "exit"):
                    return
                elif cmd:
                    say(HELP)
            except Exception as exc:  # noqa: BLE001 - a typo must not end the demo
                say(f"error: {exc}")

    def stop(self) -> None:
        for tok in self.tokens.values():
            tok.remove()
        for what, stop in reversed(self.stack):
            try:
                stop()
            except Exception as exc:  # noqa: BLE001 - clean up the rest anyway
                say(f"stopping {what} failed: {exc}")
        if self.args.keep:
            say(f"logs kept in {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)
        say("stopped")


def _interrupt(_sig: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--xvfb", action="store_true",
                    help="run on a private Xvfb with trayer instead of this desktop")
    ap.add_argument("--language", choices=("ja", "en"), default="ja")
    ap.add_argument("--keep", action="store_true", help="keep logs and screenshots")
    args = ap.parse_args(argv)
    demo = Demo(args)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        demo.start()
        demo.loop()
    except KeyboardInterrupt:
        print()
    finally:
        demo.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
