"""The trayd agent: the PC/SC monitor, notifications and pluggable components.

Why this shape: the agent owns what every part of the long-running process shares: the
event bus, the loop, the monitor thread, the notification worker, the launcher.
Everything else (the token service, the IPC server, the root-certificate prompt, the
tray) is a `Component` built by the composition root (`trayd.agent.composition`) from
those parts and added here, so each can be missing or broken without taking the others
down (udiskie's pattern).

One loop (`trayd.platform.loop`): the bus hands every event to the agent's loop, so every
handler, timer, notification and child-window exit runs on one thread, the main one. It
runs GTK's loop while a tray icon shows (`set_main_loop_owner`) and the same GLib
context headless (`AgentLoop.run`). The only other threads block where they must: the
PC/SC monitor in SCardGetStatusChange, the PKCS#11 worker in OpenSC, the IPC server in
accept/recv. Idle, nothing wakes up. SIGTERM/SIGINT/SIGHUP reach `request_stop()`
through `signal.set_wakeup_fd` and a pipe the loop watches, so they work inside GTK's C
loop too.
"""
from __future__ import annotations

import gc
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from trayd import i18n
from trayd.agent.notifications import NotificationPolicy, NotificationWorker, Notice
from trayd.agent.single_instance import InstanceLock
from trayd.agent.token_model import TokenModel
from trayd.config import Config
from trayd.core.monitor import PcscMonitor
from trayd.events import CardRemoved, EventBus
from trayd.platform.loop import AgentLoop
from trayd.threads import name_os_threads

log = logging.getLogger(__name__)

STOP_BUDGET = 0.8  # seconds all components together get to stop (SIGTERM → exit < 1 s)


@runtime_checkable
class Component(Protocol):
    """A part of the agent; it got everything it uses in its constructor."""

    name: str

    def start(self) -> None: ...  # must not block

    def stop(self) -> None: ...


class MainLoopOwner(Protocol):
    def run_main_loop(self) -> None: ...  # blocks on the main thread

    def stop_main_loop(self) -> None: ...  # thread-safe

    def loop_running(self) -> bool: ...  # the tray's GTK loop runs (actions can open windows)


# Shows the root-certificate warning again for a token (serial, or None: every token).
RootOffer = Callable[[str | None], None]


class _SignalWatcher:
    """SIGTERM/SIGINT/SIGHUP → `on_signal()` on the agent's loop, without polling.

    The C-level handler writes the signal number to our pipe (`set_wakeup_fd`); the
    Python-level handler writes too (in case a toolkit replaced the wake-up fd); the loop
    watches the pipe's read end. No Python code has to run on the main thread while it
    is inside GTK's C main loop: the pipe wakes the loop.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def __init__(self, loop: AgentLoop, on_signal: Callable[[], None]) -> None:
        self._on_signal = on_signal
        self._r, self._w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._old_fd = signal.set_wakeup_fd(self._w, warn_on_full_buffer=False)
        self._old = {s: signal.signal(s, self._handler) for s in self.SIGNALS}
        self._fired = False
        self._watch = loop.watch_fd(self._r, self._readable)

    def _handler(self, signum, frame) -> None:
        try:
            os.write(self._w, bytes([signum]))
        except OSError:
            pass

    def _readable(self) -> bool:
        """The pipe has signal numbers: ask the agent to stop (once is enough)."""
        try:
            data = os.read(self._r, 64)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if data:
            # Both the C wake-up fd and the Python handler write each signal: say it once.
            if not self._fired:
                log.info("signal %s received: stopping", ", ".join(
                    signal.Signals(b).name for b in set(data) if b in
                    {int(s) for s in self.SIGNALS}) or "?")
            self._fired = True
            self._on_signal()
        return True

    def close(self) -> None:
        self._watch.cancel()
        signal.set_wakeup_fd(self._old_fd)
        for s, old in self._old.items():
            signal.signal(s, old)
        os.close(self._r)
        os.close(self._w)


class Agent:
    """See the module docstring. Public attributes: `bus`, `config`, `model`, `launcher`."""

    def __init__(self, config: Config, *, tray: bool = True, notifier=None,
                 language: str | None = None) -> None:
        from trayd.icons import theme_file
        from trayd.platform.launcher import Launcher
        from trayd.platform.notifier import create_notifier

        self.config = config
        # Decided once (CLI: --language, TRAYD_LANGUAGE, config, locale, Japanese); every
        # notification is worded in it and every window starts in it (`self.launcher`).
        self.language = language or i18n.current_language()
        # The one loop every handler, timer and child watch of the agent runs on.
        self.loop = AgentLoop()
        self.launcher = Launcher(self.language, watch_child=self.loop.watch_child)
        self.tray = tray
        self.bus = EventBus(dispatch=self.loop.call_soon)
        # The one picture of the readers, tokens and pcscd; subscribed first, so every
        # other subscriber already sees the new state.
        self.model = TokenModel()
        self.model.attach(self.bus)
        self._components: list[Component] = []
        self._started: list[Component] = []
        self._owner: MainLoopOwner | None = None
        self._root_offer: RootOffer | None = None
        self._stop = threading.Event()
        self._lock = InstanceLock()
        self._locked = False
        self.monitor = PcscMonitor(self.bus.post)
        self.worker = NotificationWorker(
            notifier or create_notifier(), self.loop,
            icon_path=lambda state: str(theme_file(state) or ""),
            timeout_ms=lambda: (self.config.notification_timeout * 1000
                                if self.config.notification_timeout > 0 else -1),
            actions=self._notice_actions, on_action=self._on_notice_action,
        )
        self.policy = NotificationPolicy(
            config, model=self.model, deliver=self.worker.deliver,
            schedule=lambda job, delay: self.worker.submit(job, delay))
        self.bus.subscribe(CardRemoved, self._lock_on_removal)

    # -- state (the token model's) ------------------------------------------------------
    @property
    def service_up(self) -> bool | None:
        """None until the monitor knows; then whether pcscd answers us."""
        return self.model.snapshot().service_up

    def icon_state(self) -> str:
        """"error" (pcscd down), "present" (a card is in), or "none"."""
        snap = self.model.snapshot()
        if snap.service_up is False:
            return "error"
        return "present" if any(r.card_present for r in snap.readers) else "none"

    def _lock_on_removal(self, ev: CardRemoved) -> None:
        """on_removal = "lock": the token (not any card) was pulled → lock the screen."""
        if self.config.on_removal != "lock" or not ev.model:
            # Tests wait for this line to know that no lock will follow this removal.
            log.debug("removal in %s: no screen lock (on_removal = %s, model %s)",
                      ev.reader, self.config.on_removal, ev.model)
            return
        from trayd.platform.screen_lock import lock_screen

        lock_screen()  # asynchronous: the D-Bus call or `loginctl` finishes on the loop

    # -- public API ------------------------------------------------------------------
    def add_component(self, component: Component) -> None:
        self._components.append(component)

    def set_main_loop_owner(self, owner: MainLoopOwner) -> None:
        self._owner = owner

    def set_root_offer(self, offer: RootOffer) -> None:
        """Where the notification action 「ルート証明書をインストール…」 goes (the root prompt)."""
        self._root_offer = offer

    # -- notification actions -----------------------------------------------------------
    def _notice_actions(self, notice: Notice) -> list[tuple[str, str]]:
        """What an insert notification offers (the loop).

        Only while the tray's GTK loop runs: the actions open windows, which need its
        display.
        「ルート証明書をインストール…」 only before trayd installed any root."""
        from trayd.core import trust_state
        from trayd.i18n import _

        owner = self._owner
        if owner is None or not owner.loop_running():
            return []
        actions = [("manage", _("Open the management tool"))]
        if self._root_offer is not None and not trust_state.load().roots:
            actions.append(("root-install", _("Install root certificate…")))
        return actions

    def _on_notice_action(self, key: str, notice: Notice) -> None:
        """The user picked an action (the loop: quick work only)."""
        if key == "manage":
            self.launcher.ui("manage")
        elif key == "root-install":
            if self._root_offer is not None:
                self._root_offer(notice.token or None)
        else:
            log.info("notification action %r ignored", key)

    def notify(self, summary: str, body: str = "", icon_state: str = "present") -> None:
        """A desktop notification from a component (silent if notifications are off)."""
        if not self.config.notifications:
            return
        self.worker.deliver(Notice(summary=summary, body=body, icon_state=icon_state))

    def request_stop(self) -> None:
        """Ask the agent to stop; safe from any thread and from a signal handler."""
        if self._stop.is_set():
            return
        self._stop.set()
        self.loop.quit()
        owner = self._owner
        if owner is not None:
            try:
                owner.stop_main_loop()
            except Exception:  # noqa: BLE001
                log.exception("stopping the main loop failed")

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def acquire_instance(self) -> None:
        """Take the per-session lock (raises AlreadyRunning). `run()` does it if needed."""
        if not self._locked:
            self._lock.acquire()
            self._locked = True

    def run(self) -> int:
        """Lock, start everything, block until stopped, stop everything; exit status."""
        self.acquire_instance()
        watcher = None
        if threading.current_thread() is threading.main_thread():
            watcher = _SignalWatcher(self.loop, self.request_stop)
        try:
            # The icon theme the notifications (and the tray) name: a checkout builds
            # build/icons once (~0.3 s), before the first notification can name it.
            self._prepare_icons()
            self.worker.start()
            for component in self._components:
                try:
                    component.start()
                    self._started.append(component)
                    log.debug("component %s started", component.name)
                except Exception:  # noqa: BLE001 - one broken feature must not stop trayd
                    log.exception("component %s failed to start; continuing without it",
                                  getattr(component, "name", component))
            # Start-up objects (imports, components) are long-lived: move them out of the
            # collector's sight so a collection during a hotplug event stays short.
            gc.collect()
            gc.freeze()
            self.monitor.start()
            name_os_threads()
            log.info("trayd agent running (pid %d)", os.getpid())
            owner = self._owner
            if owner is not None and not self._stop.is_set():
                # GTK's loop iterates the same default context: the agent's loop.
                try:
                    owner.run_main_loop()
                except Exception:  # noqa: BLE001
                    log.exception("main loop failed; continuing headless")
            if not self._stop.is_set():  # headless, or the tray gave up: the same loop
                self.loop.run()
        finally:
            self._shutdown()
            if watcher is not None:
                watcher.close()
            self._lock.release()
            self._locked = False
        return 0

    @staticmethod
    def _prepare_icons() -> None:
        from trayd.icons import ensure_theme

        try:
            ensure_theme()
        except Exception:  # noqa: BLE001 - notifications without an icon still inform
            log.exception("icon theme unavailable; notifications and tray without icons")

    def _shutdown(self) -> None:
        t0 = time.monotonic()
        self.monitor.stop(timeout=0.5)
        # Events posted before the stop still reach their handlers; then the loop is ours
        # alone (nobody iterates it any more) while the components stop.
        self.loop.flush(0.3)
        stopper = threading.Thread(target=self._stop_components, name="trayd-stop",
                                   daemon=True)
        stopper.start()
        stopper.join(STOP_BUDGET - min(0.4, time.monotonic() - t0))
        if stopper.is_alive():
            log.warning("components did not stop in time; exiting anyway")
        self.launcher.stop_all(timeout=0.2)
        self.worker.stop()
        self.loop.close()
        log.info("trayd agent stopped in %.0f ms", (time.monotonic() - t0) * 1000)

    def _stop_components(self) -> None:
        """Stop the started components in reverse order (bounded by STOP_BUDGET in `_shutdown`)."""
        for component in reversed(self._started):
            t = time.monotonic()
            try:
                component.stop()
            except Exception:  # noqa: BLE001
                log.exception("component %s failed to stop", component.name)
            log.debug("component %s stopped in %.0f ms", component.name,
                      (time.monotonic() - t) * 1000)
