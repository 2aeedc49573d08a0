"""Fixture for a local token service on the rig's pcscd (one copy for the token-core test
files)."""
from __future__ import annotations

import pytest

from trayd.config import Config
from trayd.core.token_service import LocalTokenService


@pytest.fixture
def service(home, pcscd_up):
    """A LocalTokenService whose login/lock state changes are recorded in `.states`."""
    states: list[tuple[str, bool, bool]] = []
    svc = LocalTokenService(Config(), on_state_change=lambda *a: states.append(a))
    svc.states = states  # type: ignore[attr-defined]
    yield svc
    svc.close()
