"""Fixtures for the real-browser tests: a private X display per browser test."""
from __future__ import annotations

import pytest

from rig.xserver import Xvfb


@pytest.fixture
def screen():
    """A private Xvfb for one browser (its windows must not meet another test's)."""
    x = Xvfb("1280x900x24")
    display = x.start()
    yield display
    x.stop()
