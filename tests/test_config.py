"""Config loading: defaults, valid values, and bad values reported without stopping."""
from __future__ import annotations

from trayd import config


def test_missing_file_gives_defaults(tmp_path):
    cfg = config.load(tmp_path / "nope.toml")
    assert cfg == config.Config()
    assert cfg.problems == []


def test_values_are_read_and_bad_ones_reported(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('language = "en"\non_removal = "explode"\nmax_pin_tries = 6\n'
                 'notifications = "yes"\nbogus = 1\n', encoding="utf-8")
    cfg = config.load(p)
    assert cfg.language == "en"
    assert cfg.max_pin_tries == 6
    assert cfg.on_removal == "none"  # bad value -> default
    assert cfg.notifications is True  # wrong type -> default
    assert len(cfg.problems) == 3
    assert any("bogus" in x for x in cfg.problems)


def test_broken_toml_is_not_fatal(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("language = \n", encoding="utf-8")
    cfg = config.load(p)
    assert cfg.language == "auto" and cfg.problems


def test_save_value_keeps_other_lines(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('# mine\nlanguage = "ja"\n', encoding="utf-8")
    config.save_value("notifications", False, p)
    config.save_value("language", "en", p)
    text = p.read_text(encoding="utf-8")
    assert "# mine" in text
    cfg = config.load(p)
    assert cfg.notifications is False and cfg.language == "en"
