"""What the desktop is told when tokens come and go (manual §3.1③, §3.2②).

Why a policy separate from the notifier: the wording, which cards count, the no-flood
rule and the update-in-place of the insert notification are product decisions that
must be testable without a desktop; the notifier only delivers.

Rules:
- one notification per transition: 「トークンが挿入されました。」 / 「トークンが外されました。」
  (other cards: 「スマートカードが…」), body = model (+ label and serial once the token
  service identified it) and the reader;
- a burst (more than BURST_LIMIT transitions within BURST_WINDOW seconds) is coalesced:
  the excess transitions are counted and one summary with the resulting state follows
  BURST_WINDOW seconds after the first suppressed one;
- the insert notification is replaced in place (`replaces_id`) when `TokenIdentified`
  arrives while it is still on screen, so the label/serial appear without a second pop-up;
- pcscd down is told once per outage, recovery once;
- `config.notifications = false` silences all of it (read at each event, so the tray's
  toggle works at once); `notify_cards` picks which cards count.

Delivery is asynchronous on the agent's loop (`NotificationWorker`), never on the PC/SC
monitor thread, so a slow or hung notification server cannot delay hotplug handling.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trayd.agent.token_model import Change, ReaderEntry, TokenModel
from trayd.config import Config
from trayd.events import (
    CardInserted,
    CardRemoved,
    ServiceDown,
    ServiceUp,
    TokenIdentified,
)
from trayd.i18n import _
from trayd.platform.loop import AgentLoop

log = logging.getLogger(__name__)

BURST_LIMIT = 5
BURST_WINDOW = 2.0
# How long after an insert notification a late label/serial still updates it in place
# when the server decides the timeout itself (notification_timeout = 0).
DEFAULT_SHOWN_FOR = 10.0


# What components get to tell the user something: notify(summary, body, icon_state); the
# agent's `notify` (silent while notifications are switched off).
Notify = Callable[[str, str, str], None]


@dataclass(frozen=True)
class Notice:
    """One notification to deliver. `key` groups notices that may replace each other."""

    summary: str
    body: str = ""
    icon_state: str = "present"
    category: str = ""
    key: str = ""  # e.g. "card:<reader>"; a notice with replace=True updates the last one
    replace: bool = False
    urgency: int = 1
    # A token insertion: offer the insert actions (管理ツールを開く, …) where the
    # notification server supports actions; `token` is the serial the actions are for.
    offer_actions: bool = False
    token: str = ""


# --------------------------------------------------------------------------- delivery
class NotificationWorker:
    """Delivers notices on the agent's loop, in order, one `Notify` in flight at a time.

    Why one at a time: a notice may replace the one before it (`replaces_id`), whose id
    is known only when the server answered. The notifier's calls are asynchronous, so
    the loop never waits for a slow or hung server (CALL_TIMEOUT bounds each notice).
    Timed jobs (the burst summary) are loop timers. Idle, nothing is scheduled.
    """

    def __init__(self, notifier, loop: AgentLoop, *,
                 icon_path: Callable[[str], str] | None = None,
                 timeout_ms: Callable[[], int] = lambda: -1, app_name: str = "trayd",
                 actions: Callable[[Notice], list[tuple[str, str]]] | None = None,
                 on_action: Callable[[str, Notice], None] | None = None) -> None:
        """`actions(notice)` → the (key, label) pairs to offer (asked on the loop, only
        where the server supports actions); `on_action(key, notice)` runs when the user
        picks one (on the loop)."""
        self.notifier = notifier
        self.loop = loop
        self._actions = actions
        self._on_action = on_action
        self._offered: dict[int, Notice] = {}  # notification id -> notice with actions
        if on_action is not None and hasattr(notifier, "on_action"):
            notifier.on_action = self._invoked
        self._icon_path = icon_path or (lambda state: "")
        self._timeout_ms = timeout_ms
        self._steps: deque[Callable[[Callable[[], None]], None]] = deque()
        self._busy = False  # a step is waiting for the server
        self._running_steps = False
        self._stopping = False
        self._ids: dict[str, int] = {}
        self.sent = 0

    def start(self) -> None:
        self.loop.call_soon(self._enqueue, lambda done: self.notifier.warm_up(
            lambda _ok: done()))

    def stop(self) -> None:
        """Drop what is not sent yet and close the connection (after the loop ended)."""
        self._stopping = True
        self._steps.clear()
        try:
            self.notifier.close()
        except Exception:  # noqa: BLE001
            pass

    def submit(self, job: Callable[[], Any], delay: float = 0.0) -> None:
        """Run `job()` on the loop, after `delay` seconds (any thread)."""
        if delay > 0:
            self.loop.call_later(delay, job)
        else:
            self.loop.call_soon(job)

    def deliver(self, notice: Notice) -> None:
        """Send `notice` after the ones before it (any thread)."""
        self.loop.call_soon(self._enqueue, lambda done: self._send(notice, done))

    # -- the queue (loop only) --------------------------------------------------------------
    def _enqueue(self, step: Callable[[Callable[[], None]], None]) -> None:
        if not self._stopping:
            self._steps.append(step)
            self._next()

    def _next(self) -> None:
        if self._running_steps:  # a step finished synchronously inside the loop below
            return
        self._running_steps = True
        try:
            while not self._busy and self._steps and not self._stopping:
                step = self._steps.popleft()
                self._busy = True
                try:
                    step(self._step_done)
                except Exception:  # noqa: BLE001 - the next notice still goes out
                    log.exception("notification step failed")
                    self._busy = False
        finally:
            self._running_steps = False

    def _step_done(self) -> None:
        self._busy = False
        self._next()

    def _send(self, notice: Notice, done: Callable[[], None]) -> None:
        hints: dict[str, Any] = {"urgency": notice.urgency}
        if notice.category:
            hints["category"] = notice.category
        icon = ""
        try:
            icon = self._icon_path(notice.icon_state)
        except Exception:  # noqa: BLE001 - no icon is better than no notification
            log.debug("icon for %s unavailable", notice.icon_state, exc_info=True)
        if icon:
            hints["image-path"] = "file://" + icon
        replaces = self._ids.get(notice.key, 0) if notice.replace and notice.key else 0
        actions: list[tuple[str, str]] = []
        if (notice.offer_actions and self._actions is not None
                and getattr(self.notifier, "supports_actions", lambda: False)()):
            actions = self._actions(notice)
        extra = {"actions": actions} if actions else {}

        def sent(nid: int | None) -> None:
            self._sent(notice, actions, nid)
            done()

        self.notifier.notify(notice.summary, notice.body, icon=icon,
                             timeout_ms=self._timeout_ms(), replaces_id=replaces,
                             hints=hints, done=sent, **extra)

    def _sent(self, notice: Notice, actions: list[tuple[str, str]], nid: int | None) -> None:
        self.sent += 1
        if notice.key and nid:
            self._ids[notice.key] = nid
        if nid:
            if actions:
                self._offered[nid] = notice
                while len(self._offered) > 32:  # old notifications are long gone
                    del self._offered[next(iter(self._offered))]
            else:
                self._offered.pop(nid, None)

    def _invoked(self, nid: int, key: str) -> None:
        notice = self._offered.get(nid)
        if notice is None or self._on_action is None:
            log.info("notification %d: action %r for nothing trayd offered; ignored", nid, key)
            return
        self._on_action(key, notice)


# ----------------------------------------------------------------------------- policy
def _name(entry: ReaderEntry) -> str:
    token = entry.token
    return token_name(entry.model, token.label if token else None,
                      token.serial if token else None)


def token_name(model: str | None, label: str | None = None, serial: str | None = None) -> str:
    """"ePass2003", 「スマートカード」, or with identity: ePass2003「label」(シリアル番号: …)."""
    name = model or _("Smart card")
    if label and serial:
        return _("{model} \"{label}\" (serial number {serial})").format(
            model=name, label=label, serial=serial)
    if serial:
        return _("{model} (serial number {serial})").format(model=name, serial=serial)
    if label:
        return _("{model} \"{label}\"").format(model=name, label=label)
    return name


@dataclass
class NotificationPolicy:
    """Decides what to show on each change of the token model; `deliver` sends, `schedule`
    runs later. It follows `model` (its own empty one unless given; tests feed it with
    `policy.model.apply(event)`), and keeps only its own bookkeeping: recent transitions
    and when each reader's insert notice went out."""

    config: Config
    deliver: Callable[[Notice], None]
    schedule: Callable[[Callable[[], None], float], None]
    model: TokenModel = field(default_factory=TokenModel)
    clock: Callable[[], float] = time.monotonic
    burst_limit: int = BURST_LIMIT
    burst_window: float = BURST_WINDOW
    _recent: deque = field(default_factory=deque)
    _suppressed: int = 0
    _flush_pending: bool = False
    _inserted_at: dict[str, float] = field(default_factory=dict)  # reader -> insert notice
    _service_down_told: bool = False

    def __post_init__(self) -> None:
        self.unsubscribe = self.model.subscribe(self.on_change)

    def on_change(self, change: Change) -> None:
        """One model change (on the agent's loop, like every handler here: no lock)."""
        ev = change.event
        if isinstance(ev, CardInserted):
            self.on_inserted(ev)
        elif isinstance(ev, CardRemoved):
            self.on_removed(ev, change.before.reader(ev.reader))
        elif isinstance(ev, TokenIdentified):
            self.on_identified(ev, change.after.reader(ev.reader))
        elif isinstance(ev, ServiceDown):
            self.on_service_down(ev)
        elif isinstance(ev, ServiceUp):
            self.on_service_up(ev)

    # -- which cards count -----------------------------------------------------------
    def _counts(self, model: str | None) -> bool:
        if not self.config.notifications:
            return False
        choice = self.config.notify_cards
        return choice == "all" or (choice == "epass2003" and model is not None)

    def _quiet(self, ev: CardInserted | CardRemoved, model: str | None) -> bool:
        """True (and logged) when the configuration says no notice for this card.

        The DEBUG line is what tests wait for to know no notice will come."""
        if self._counts(model):
            return False
        log.debug("no notice for %s in %s (notifications = %s, notify_cards = %s)",
                  type(ev).__name__, ev.reader, self.config.notifications,
                  self.config.notify_cards)
        return True

    def _shown_for(self) -> float:
        t = self.config.notification_timeout
        return float(t) if t > 0 else DEFAULT_SHOWN_FOR

    # -- rate limiting ---------------------------------------------------------------
    def _admit(self) -> bool:
        """Record a transition; False if it belongs to a burst (to be summarised)."""
        now = self.clock()
        while self._recent and now - self._recent[0] > self.burst_window:
            self._recent.popleft()
        self._recent.append(now)
        if len(self._recent) <= self.burst_limit and not self._flush_pending:
            return True
        self._suppressed += 1
        if not self._flush_pending:
            self._flush_pending = True
            self.schedule(self.flush, self.burst_window)
        return False

    def flush(self) -> None:
        """Send the burst summary: how many transitions, and what is inserted now."""
        snap = self.model.snapshot()
        n, self._suppressed, self._flush_pending = self._suppressed, 0, False
        present = [r for r in snap.readers if r.card_present and self._counts(r.model)]
        if n == 0 or not self.config.notifications:
            return
        lines = [_("Now inserted: {token} ({reader})").format(
            token=_name(r), reader=r.name) for r in present]
        body = "\n".join(lines) if lines else _("No token is inserted now.")
        notice = Notice(
            summary=_("Tokens were inserted or removed {n} more times.").format(n=n),
            body=body, icon_state="present" if present else "none",
            category="device")
        self.deliver(notice)

    # -- handlers ----------------------------------------------------------------------
    @staticmethod
    def _body(reader: str, name: str) -> str:
        return "\n".join([name, _("Reader: {reader}").format(reader=reader)])

    def on_inserted(self, ev: CardInserted) -> None:
        self._inserted_at.pop(ev.reader, None)
        if self._quiet(ev, ev.model) or not self._admit():
            return
        self._inserted_at[ev.reader] = self.clock()
        summary = (_("The token was inserted.") if ev.model
                   else _("A smart card was inserted."))
        notice = Notice(summary=summary, body=self._body(ev.reader, token_name(ev.model)),
                        icon_state="present", category="device.added",
                        key=f"card:{ev.reader}", offer_actions=bool(ev.model))
        self.deliver(notice)

    def on_removed(self, ev: CardRemoved, before: ReaderEntry | None) -> None:
        """`before`: the reader as the model knew it (names the token that left)."""
        self._inserted_at.pop(ev.reader, None)
        model = ev.model or (before.model if before else None)
        if self._quiet(ev, model) or not self._admit():
            return
        token = before.token if before is not None else None
        name = token_name(model, token.label if token else None,
                          token.serial if token else None)
        summary = (_("The token was removed.") if model
                   else _("A smart card was removed."))
        notice = Notice(summary=summary, body=self._body(ev.reader, name),
                        icon_state="none", category="device.removed",
                        key=f"card:{ev.reader}")
        self.deliver(notice)

    def on_identified(self, ev: TokenIdentified, entry: ReaderEntry | None) -> None:
        """Label/serial known: update the insert notification if it is still showing."""
        if entry is None or entry.token is None:
            return  # an empty reader: the token left before it was read
        shown = self._inserted_at.get(ev.reader)
        if (shown is None or not self._counts(entry.model)
                or self.clock() - shown > self._shown_for()):
            return
        notice = Notice(summary=_("The token was inserted."),
                        body=self._body(ev.reader, _name(entry)), icon_state="present",
                        category="device.added", key=f"card:{ev.reader}", replace=True,
                        offer_actions=True, token=ev.serial or "")
        self.deliver(notice)

    def on_service_down(self, ev: ServiceDown) -> None:
        if self._service_down_told:
            return
        self._service_down_told = True
        if not self.config.notifications:
            return
        if ev.denied:
            from trayd.messages import pcscd_denied_fix

            self.deliver(Notice(
                summary=_("The smart card service (pcscd) refused access (polkit)."),
                body=pcscd_denied_fix(),
                icon_state="error", category="device.error", key="service", urgency=2))
            return
        self.deliver(Notice(
            summary=_("The smart card service (pcscd) has stopped."),
            body=_("Tokens cannot be used until it runs again; trayd reconnects "
                   "automatically."),
            icon_state="error", category="device.error", key="service", urgency=2))

    def on_service_up(self, ev: ServiceUp) -> None:
        if not self._service_down_told:
            return
        self._service_down_told = False
        if not self.config.notifications:
            return
        self.deliver(Notice(summary=_("The smart card service (pcscd) is running again."),
                            icon_state="none", category="device", key="service",
                            replace=True))
