"""First-insertion root certificate prompt (manual §3.1②) — an agent component.

Why in the agent: on Windows the middleware raises the security warning when the token
is first inserted. Here, when the token model learns a token (`TokenIdentified`, which
carries the certificates the token component read: nothing is read from the card again),
the component picks the CA certificates (`trust_roots`), and for each one that is neither
trusted in every user NSS database nor declined before:
- with a display: shows the セキュリティ警告 as a child process
  (`python -m trayd.ui root-warning`, so Tk never fights the tray's main loop);
  はい → install with trust `C,,` everywhere, verify, notify; いいえ → remember the
  SHA-256 fingerprint and never ask again on insertion (the tray / `trayd root install`
  still offer it);
- without a display: one notification per agent run saying to run `trayd root install`.
The same component then offers browser registration once (OpenSC in the NSS databases),
with the same consent rules.

「ルート証明書のインストール」 (tray, notification action) asks again for the tokens the model
has, declined ones included. All work runs on the component's own thread; the model's
change listener only enqueues.
"""
from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

from trayd import paths
from trayd.agent.browser_follow import BrowserFollow
from trayd.agent.notifications import Notify
from trayd.config import Config
from trayd.agent.token_model import Change, TokenModel
from trayd.core import trust_roots, trust_state
from trayd.core.models import CertificateInfo
from trayd.core.trust_roots import CertFacts
from trayd.errors import TraydError
from trayd.events import TokenIdentified
from trayd.i18n import _
from trayd.platform.display import has_display
from trayd.platform.launcher import Launcher

log = logging.getLogger(__name__)

DIALOG_YES, DIALOG_NO = 0, 6


class RootPrompt:
    """Asks before installing a new token's root certificate, then offers browser use."""

    name = "root_prompt"

    def __init__(self, model: TokenModel, config: Config, notify: Notify, launcher: Launcher,
                 follow: BrowserFollow | None = None) -> None:
        """`model`: the agent's token model (tokens and their certificates); `follow`:
        looked at first, so a new database that follows an earlier はい is not asked about
        again."""
        self.model = model
        self.config = config
        self.notify = notify
        self.launcher = launcher
        self.follow = follow
        # ("token" | "again", serial, label, certificates); None stops the thread
        self._queue: queue.Queue[tuple[str, str, str, tuple[CertificateInfo, ...]] | None] = \
            queue.Queue()
        self._thread: threading.Thread | None = None
        self._unsubscribe = None
        self._stopping = threading.Event()
        self._notified: set[str] = set()  # fingerprints told about (headless), this run
        self._browser_offered = False
        self.checks = 0  # tokens examined so far (tests and `trayd doctor` read it)

    # -- component protocol -------------------------------------------------------------
    def start(self) -> None:
        self._unsubscribe = self.model.subscribe(self._on_change)
        self._thread = threading.Thread(target=self._loop, name="trayd-root-prompt",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._unsubscribe:
            self._unsubscribe()
        self._queue.put(None)
        if self._thread:
            self._thread.join(0.3)

    # -- events -------------------------------------------------------------------------
    def _on_change(self, change: Change) -> None:
        ev = change.event
        if not isinstance(ev, TokenIdentified):
            return
        found = change.after.token(ev.serial)
        if found is None:  # pulled before it was read to the end
            log.info("root prompt: token %s already gone; not checked", ev.serial)
            return
        token = found[1]
        self._queue.put(("token", token.serial, token.label, token.certificates))

    def offer_again(self, serial: str | None = None) -> None:
        """Ask again even for declined certificates (the tray's 「ルート証明書のインストール」),
        for the token `serial` (None: every token the model has)."""
        tokens = [t for _r, t in self.model.snapshot().tokens()
                  if not serial or t.serial == serial]
        if not tokens:
            log.info("root prompt: token %s is not inserted; nothing to offer", serial or "-")
        for token in tokens:
            self._queue.put(("again", token.serial, token.label, token.certificates))

    def _loop(self) -> None:
        """Check each identified token's root certificate and ask the user before installing it."""
        while not self._stopping.is_set():
            item = self._queue.get()
            if item is None:
                return
            kind, serial, label, certificates = item
            try:
                self.check_token(serial, label, certificates, ignore_declined=(kind == "again"))
            except TraydError as exc:  # e.g. NoSuchToken: pulled while we looked — normal
                log.info("root prompt: token %s not checked: %r", serial, exc)
            except Exception:  # noqa: BLE001 - a bad token must not kill the component
                log.exception("root prompt: checking token %s failed", serial)
            finally:
                self.checks += 1
                # Tests wait for this line: any dialog of this check has been answered.
                log.debug("root prompt: token %s checked", serial)

    # -- the work -----------------------------------------------------------------------
    @staticmethod
    def token_certificates(certificates: tuple[CertificateInfo, ...]) -> list[CertFacts]:
        """The readable certificates, parsed for `trust_roots` (from the DER read at
        insertion)."""
        out = []
        for info in certificates:
            if not info.readable or not info.der:
                continue
            try:
                out.append(trust_roots.facts(info.der))
            except TraydError as exc:
                log.info("root prompt: certificate %s unreadable: %r", info.id, exc)
        return out

    def check_token(self, serial: str, label: str, certificates: tuple[CertificateInfo, ...],
                    ignore_declined: bool = False) -> None:
        from trayd.platform import trust_install

        if self.follow is not None:  # new databases get accepted roots first: no second question
            self.follow.look()
        certs = self.token_certificates(certificates)
        cands = trust_roots.candidates(certs, trust_roots.load_bundle(), serial)
        log.info("root prompt: token %s: %d certificate(s), %d CA candidate(s)",
                 serial, len(certs), len(cands))
        for cand in cands:
            if self._stopping.is_set():
                return
            cert = cand.cert
            if not ignore_declined and trust_state.is_declined(cert.sha256):
                log.info("root prompt: %s declined earlier; not asking", cert.sha256[:16])
                continue
            if trust_install.trusted_everywhere(cert):
                log.info("root prompt: %s already trusted", cert.sha256[:16])
                continue
            self.offer(cert, certs, label or serial)
        self.offer_browser()

    def offer(self, cert: CertFacts, others: list[CertFacts], token: str) -> None:
        if not has_display():
            if cert.sha256 in self._notified:
                return
            self._notified.add(cert.sha256)
            log.info("root prompt: no display; notifying about %s", cert.sha256[:16])
            self.notify(
                _("Root certificate not installed"),
                _('The token carries the CA certificate "{name}". To trust it in your web '
                  "browsers, run: trayd root install").format(name=cert.common_name),
                "present")
            return
        cert_file = self._cert_file(cert)
        try:
            rc = self._dialog(["root-warning", "--cert", str(cert_file), "--token", token])
        finally:
            cert_file.unlink(missing_ok=True)
        if rc == DIALOG_YES:
            self._install(cert, others)
        elif rc == DIALOG_NO:
            trust_state.decline(cert.sha256)
            log.info("root prompt: %s declined; remembered", cert.sha256[:16])
        else:
            log.warning("root prompt: dialog failed (exit %s)", rc)

    def _install(self, cert: CertFacts, others: list[CertFacts]) -> None:
        from trayd.messages import describe
        from trayd.platform import trust_install

        try:
            changes = trust_install.install_root(cert, others)
        except TraydError as exc:
            log.error("root prompt: install failed: %r", exc)
            self.notify(_("Root certificate not installed"), describe(exc), "error")
            return
        trust_state.forget_declined(cert.sha256)
        log.info("root prompt: %s installed in %d database(s)", cert.sha256[:16], len(changes))
        self.notify(_("Root certificate installed"),
                          _('"{name}" is now trusted by your web browsers.').format(
                              name=cert.common_name), "present")

    def _cert_file(self, cert: CertFacts) -> Path:
        """The public certificate for the dialog child (PEM, in the private runtime dir)."""
        from trayd.core.certificates import der_to_pem

        path = paths.runtime_dir() / f"root-{cert.sha256[:16]}.pem"
        path.write_bytes(der_to_pem(cert.der))
        return path

    def _dialog(self, argv: list[str]) -> int | None:
        """Show a dialog through the agent's launcher and wait for its answer (None if
        it failed or the agent is stopping)."""
        log.info("root prompt: dialog %s shown", argv[0])
        rc = self.launcher.run(*argv, stop=self._stopping)
        log.info("root prompt: dialog %s answered %s", argv[0], rc)
        return rc

    # -- browser registration -------------------------------------------------------------
    def offer_browser(self) -> None:
        """Once per run: OpenSC not registered in any browser database and not declined →
        ask (dialog) or tell (notification) how to enable the token in browsers."""
        from trayd.platform import browser_module

        if self._browser_offered or self._stopping.is_set():
            return
        self._browser_offered = True
        state = trust_state.load()
        if state.browser_declined:
            return
        try:
            statuses = browser_module.status()
        except TraydError as exc:
            log.info("root prompt: browser status unavailable: %r", exc)
            return
        if statuses and all(s.state != "absent" for s in statuses):
            return
        if not has_display():
            self.notify(_("Use the token in web browsers"),
                              _("To let your web browsers use the token's certificate, run: "
                                "trayd browser register"), "present")
            return
        rc = self._dialog(["browser-offer"])
        if rc == DIALOG_YES:
            from trayd.messages import describe

            try:
                browser_module.register(browser_module.module_path(self.config.pkcs11_module))
                self.notify(_("Use the token in web browsers"),
                                  _("The token is registered in your web browsers. Restart "
                                    "the browser so it loads the module."), "present")
            except TraydError as exc:
                log.error("root prompt: browser registration failed: %r", exc)
                self.notify(_("Use the token in web browsers"), describe(exc), "error")
        elif rc == DIALOG_NO:
            with trust_state.Update() as st:
                st.browser_declined = True

