"""Per-token wrong-PIN counter and the once-a-day expiry reminder (pure logic, real files)."""
from __future__ import annotations

import datetime as dt
import json
import threading

from trayd.core.expiry import ExpiryReminder, expiring
from trayd.core.models import CertificateInfo
from trayd.core.pin_counter import PinFailureCounter


def test_counter_counts_resets_and_warns(home):
    c = PinFailureCounter()
    assert c.path.parent == home / ".local/state/trayd"
    assert c.failures("A") == 0 and not c.needs_last_try_confirmation("A", 10)
    for n in range(1, 10):
        assert c.record_failure("A") == n
    assert c.failures("B") == 0
    assert c.needs_last_try_confirmation("A", 10)
    assert not c.needs_last_try_confirmation("A", 11)
    c.record_locked("A")
    assert c.seen_locked("A")
    c.record_success("A")
    assert c.failures("A") == 0 and not c.seen_locked("A")
    data = json.loads(c.path.read_text())
    assert set(data["A"]) == {"failures", "locked", "updated"}  # counts only, no PIN material


def test_counter_survives_garbage_file(home):
    c = PinFailureCounter()
    c.path.parent.mkdir(parents=True, exist_ok=True)
    c.path.write_text("{not json")
    assert c.failures("A") == 0
    assert c.record_failure("A") == 1
    c.path.write_text(json.dumps({"A": {"failures": "x"}}))
    assert c.failures("A") == 0 and c.record_failure("A") == 1


def test_counter_concurrent_updates_are_not_lost(home):
    c = PinFailureCounter()
    threads = [threading.Thread(target=lambda: [c.record_failure("T") for _ in range(10)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert c.failures("T") == 40


def _cert(sha: str, days: int | None, readable: bool = True, ca: bool = False) -> CertificateInfo:
    return CertificateInfo(token_serial="t", label=sha, id="01", readable=readable, sha256=sha,
                           days_left=days, is_ca=ca)


def test_expiring_selection():
    certs = [_cert("a", 10), _cert("b", 61), _cert("c", -3), _cert("d", 5, readable=False),
             _cert("e", 1, ca=True), _cert("f", 60)]
    assert [c.sha256 for c in expiring(certs, 60)] == ["c", "a", "f"]
    assert [c.sha256 for c in expiring(certs, 7)] == ["c"]


def test_reminder_once_a_day_per_certificate(home):
    r = ExpiryReminder()
    day1, day2 = dt.date(2030, 1, 1), dt.date(2030, 1, 2)
    certs = [_cert("a", 10), _cert("b", 20)]
    assert [c.sha256 for c in r.due(certs, today=day1)] == ["a", "b"]
    assert r.due(certs, today=day1) == []
    assert [c.sha256 for c in r.due(certs + [_cert("c", 3)], today=day1)] == ["c"]
    assert [c.sha256 for c in r.due(certs, today=day2)] == ["a", "b"]
    assert r.path.is_relative_to(home)
