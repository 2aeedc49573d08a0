"""PEP 517 build backend: setuptools, plus compiling the gettext catalogues first.

Why: user-facing text is Japanese first and lives in `po/<lang>/*.po` fragments (one per
feature area, so features can be translated independently). The `.mo` files are build
products, never committed; every build (wheel, editable install, sdist) compiles them
into `trayd/locale/<lang>/LC_MESSAGES/trayd.mo` so an installed trayd always has them.
"""
from __future__ import annotations

import sys
from pathlib import Path

from setuptools import build_meta as _orig
from setuptools.build_meta import *  # noqa: F401,F403  (re-export the PEP 517 hooks)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compile_catalogues import compile_all  # noqa: E402

_ROOT = Path(__file__).resolve().parent.parent


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    compile_all(_ROOT)
    return _orig.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    compile_all(_ROOT)
    return _orig.build_editable(wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory, config_settings=None):
    compile_all(_ROOT)
    return _orig.build_sdist(sdist_directory, config_settings)
