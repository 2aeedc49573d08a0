"""What the tray shows, derived from the agent's token model.

Why a pure function apart from the tray component: the tray keeps no copy of "what is in
each reader" any more; it turns a `trayd.agent.token_model.Snapshot` (readers, identified
tokens with their certificates and login/lock state, pcscd's state) into a `TrayState`.
Nothing here asks the token service or the card, so a menu rebuild costs no APDU and never
waits for a token; tests drive it with plain snapshots.
"""
from __future__ import annotations

from trayd.agent.token_model import Snapshot
from trayd.ui.tray_menu import CertView, TokenView, TrayState


def tray_state(snap: Snapshot, *, notifications: bool, root_prompt: bool) -> TrayState:
    """The tray's state for `snap`. While pcscd is down no token is shown (none is usable)."""
    service_down = snap.service_up is False
    tokens: list[TokenView] = []
    pending: list[str] = []
    if not service_down:
        for entry in snap.readers:
            token = entry.token
            if token is not None:
                tokens.append(TokenView(
                    token.serial, token.label, entry.name, token.logged_in, token.locked,
                    tuple(CertView(c.id, c.label, c.certificate_id)
                          for c in token.certificates)))
            elif entry.card_present and entry.model:
                # A recognised token the service has not read yet (binding takes over a
                # second); an unknown card is not a token.
                pending.append(entry.name)
    return TrayState(
        tokens=tuple(sorted(tokens, key=lambda t: (t.reader, t.serial))),
        pending_readers=tuple(pending),
        service_down=service_down,
        service_denied=service_down and snap.service_denied,
        notifications=notifications,
        root_install_available=bool(tokens) and root_prompt,
    )
