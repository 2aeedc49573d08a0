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
has, declined ones included.

On the agent's loop, one token at a time: a check is a generator that yields each dialog
it wants shown and gets the dialog's exit code back when the child ended (the launcher's
child watch), so the loop never waits for the user. The NSS look-ups and the install
(certutil) run on the loop between dialogs: once per new token, they are short.
"""
from __future__ import annotations

import logging
from collections import deque
from collections.abc import Generator
from pathlib import Path

from trayd import paths
from trayd.agent.browser_follow import BrowserFollow
from trayd.agent.notifications import Notify
from trayd.agent.token_model import Change, TokenModel
from trayd.config import Config
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
# A check: yields a dialog's argv, is sent its exit code (None: it could not be shown).
Check = Generator[list[str], "int | None", None]


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
        # ("token" | "again", serial, label, certificates) waiting for the current check
        self._pending: deque[tuple[str, str, str, tuple[CertificateInfo, ...]]] = deque()
        self._current: tuple[str, Check] | None = None  # (serial, its check) while it runs
        self._unsubscribe = None
        self._stopping = False
        self._notified: set[str] = set()  # fingerprints told about (headless), this run
        self._browser_offered = False
        self.checks = 0  # tokens examined so far (tests and `trayd doctor` read it)

    # -- component protocol -------------------------------------------------------------
    def start(self) -> None:
        self._unsubscribe = self.model.subscribe(self._on_change)

    def stop(self) -> None:
        """Forget what waits; end the current check (its dialog closes with the launcher)."""
        self._stopping = True
        if self._unsubscribe:
            self._unsubscribe()
        self._pending.clear()
        current, self._current = self._current, None
        if current is not None:
            current[1].close()  # runs its finally: the certificate file goes

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
        self._enqueue(("token", token.serial, token.label, token.certificates))

    def offer_again(self, serial: str | None = None) -> None:
        """Ask again even for declined certificates (the tray's 「ルート証明書のインストール」),
        for the token `serial` (None: every token the model has)."""
        tokens = [t for _r, t in self.model.snapshot().tokens()
                  if not serial or t.serial == serial]
        if not tokens:
            log.info("root prompt: token %s is not inserted; nothing to offer", serial or "-")
        for token in tokens:
            self._enqueue(("again", token.serial, token.label, token.certificates))

    # -- one check at a time (on the loop) -----------------------------------------------
    def _enqueue(self, item: tuple[str, str, str, tuple[CertificateInfo, ...]]) -> None:
        if not self._stopping:
            self._pending.append(item)
            self._advance()

    def _advance(self, answer: int | None = None) -> None:
        """Run the current check up to its next dialog (sending it `answer`), or start
        the next one; returns as soon as a dialog is on screen or nothing is left.

        The launcher reports a dialog's exit on the loop later (`_answered`), never
        from inside `ui()`, so this never re-enters itself."""
        while not self._stopping:
            if self._current is None:
                if not self._pending:
                    return
                kind, serial, label, certs = self._pending.popleft()
                self._current = (serial, self.check_token(
                    serial, label, certs, ignore_declined=(kind == "again")))
                answer = None
            serial, check = self._current
            try:
                argv = check.send(answer)
            except StopIteration:
                self._finished(serial)
                continue
            except TraydError as exc:  # e.g. NoSuchToken: pulled while we looked — normal
                log.info("root prompt: token %s not checked: %r", serial, exc)
                self._finished(serial)
                continue
            except Exception:  # noqa: BLE001 - a bad token must not kill the component
                log.exception("root prompt: checking token %s failed", serial)
                self._finished(serial)
                continue
            log.info("root prompt: dialog %s shown", argv[0])
            if self.launcher.ui(*argv, on_exit=lambda rc, a=argv: self._answered(a, rc)):
                return  # the answer comes with the child's exit
            log.warning("root prompt: dialog %s could not be shown", argv[0])
            answer = None

    def _answered(self, argv: list[str], rc: int) -> None:
        log.info("root prompt: dialog %s answered %s", argv[0], rc)
        if self._current is not None and not self._stopping:
            self._advance(rc)

    def _finished(self, serial: str) -> None:
        self._current = None
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
                    ignore_declined: bool = False) -> Check:
        from trayd.platform import trust_install

        if self.follow is not None:  # new databases get accepted roots first: no second question
            self.follow.look()
        certs = self.token_certificates(certificates)
        cands = trust_roots.candidates(certs, trust_roots.load_bundle(), serial)
        log.info("root prompt: token %s: %d certificate(s), %d CA candidate(s)",
                 serial, len(certs), len(cands))
        for cand in cands:
            if self._stopping:
                return
            cert = cand.cert
            if not ignore_declined and trust_state.is_declined(cert.sha256):
                log.info("root prompt: %s declined earlier; not asking", cert.sha256[:16])
                continue
            if trust_install.trusted_everywhere(cert):
                log.info("root prompt: %s already trusted", cert.sha256[:16])
                continue
            yield from self.offer(cert, certs, label or serial)
        yield from self.offer_browser()

    def offer(self, cert: CertFacts, others: list[CertFacts], token: str) -> Check:
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
            rc = yield ["root-warning", "--cert", str(cert_file), "--token", token]
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

    # -- browser registration -------------------------------------------------------------
    def offer_browser(self) -> Check:
        """Once per run: OpenSC not registered in any browser database and not declined →
        ask (dialog) or tell (notification) how to enable the token in browsers."""
        from trayd.platform import browser_module

        if self._browser_offered or self._stopping:
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
        rc = yield ["browser-offer"]
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

