"""packaging/config.example.toml documents every key and loads without a complaint."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from trayd import config

EXAMPLE = Path(__file__).resolve().parent.parent / "packaging" / "config.example.toml"


def test_example_loads_cleanly_and_covers_every_key():
    cfg = config.load(EXAMPLE)
    assert cfg.problems == []
    text = EXAMPLE.read_text(encoding="utf-8")
    keys = [f.name for f in dataclasses.fields(config.Config)
            if f.name not in ("source", "problems")]
    for key in keys:
        assert f"\n{key} = " in text, f"{key} missing from the example"
    # The example shows the defaults.
    assert dataclasses.astuple(cfg)[:len(keys)] == dataclasses.astuple(config.Config())[:len(keys)]
