"""The agent socket: permissions, peer uid check, typed errors, events, PIN hygiene.

These tests run the real socket server and client in this process with a recording
stand-in for the token service (the transport is what is under test here); the
end-to-end path through the real agent, OpenSC and the emulator is in test_ipc_agent.py.
"""
from __future__ import annotations

import logging
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from trayd import errors, events, paths
from trayd.core.models import CertificateInfo, TokenInfo
from trayd.ipc import client as ipc_client
from trayd.ipc import protocol
from trayd.ipc.server import AgentSocketServer

PIN = "81726354"
NEW_PIN = "55443322"


class RecordingService:
    """Answers like a token service; remembers what it was asked (pure stand-in)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.token = TokenInfo(reader="Virtual PCD 00 00", slot=0, label="TEST TOKEN",
                               serial="0123456789ABCDEF", manufacturer="EnterSafe",
                               model="PKCS#15", flags=["login_required"])
        self.fail: BaseException | None = None

    def _record(self, name: str, **kw) -> None:
        self.calls.append((name, kw))
        if self.fail is not None:
            raise self.fail

    def list_tokens(self):
        self._record("list_tokens")
        return [self.token]

    def token_info(self, token_serial=None):
        self._record("token_info", token_serial=token_serial)
        return self.token

    def list_certificates(self, token_serial=None):
        self._record("list_certificates", token_serial=token_serial)
        return [CertificateInfo(token_serial=self.token.serial, label="User", id="a1b2",
                                readable=True, serial_hex="0A0B", certificate_id="ES123")]

    def certificate_der(self, token_serial, cert_id):
        self._record("certificate_der", token_serial=token_serial, cert_id=cert_id)
        return b"\x30\x82\x00\x00\xff\n\x00"

    def export_certificate(self, token_serial, cert_id, path, fmt="der", force=False):
        self._record("export_certificate", path=path, fmt=fmt, force=force)
        Path(path).write_bytes(b"DER")
        return Path(path)

    def login(self, token_serial, pin, confirm_last_try=False):
        self._record("login", token_serial=token_serial, pin=pin)
        self.token.logged_in = True
        return self.token

    def logout(self, token_serial):
        self._record("logout", token_serial=token_serial)

    def change_pin(self, token_serial, old_pin, new_pin, confirm_weak=False, confirm_last_try=False):
        self._record("change_pin", old_pin=old_pin, new_pin=new_pin)


@pytest.fixture
def served(home: Path):
    service = RecordingService()
    bus = events.EventBus()
    server = AgentSocketServer(lambda: service, bus)
    server.start()
    yield service, bus, server
    server.stop()


def test_socket_is_private_and_removed_on_stop(served):
    _service, _bus, server = served
    path = paths.agent_socket()
    assert server.path == path
    mode = os.stat(path).st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    server.stop()
    assert not path.exists()
    assert ipc_client.connect() is None
    assert not ipc_client.agent_running()


def test_no_agent_means_none(home: Path):
    assert ipc_client.connect(timeout=0.5) is None
    # A stale socket file (crashed agent) is not an agent either, and a new server takes it.
    stale = paths.agent_socket()
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(stale))
    s.close()
    assert ipc_client.connect(timeout=0.5) is None
    server = AgentSocketServer(lambda: None)
    server.start()
    try:
        assert ipc_client.agent_running()
        # A second agent must not steal a live socket.
        with pytest.raises(errors.AlreadyRunning):
            AgentSocketServer(lambda: None).start()
    finally:
        server.stop()


def test_backend_calls_round_trip(served, tmp_path: Path):
    service, _bus, _server = served
    c = ipc_client.connect()
    assert c is not None and c.agent_pid == os.getpid()
    with c:
        tokens = c.list_tokens()
        assert tokens == [service.token]
        assert c.token_info("0123456789ABCDEF") == service.token
        certs = c.list_certificates("0123456789ABCDEF")
        assert certs[0].certificate_id == "ES123" and certs[0].serial_hex == "0A0B"
        assert c.certificate_der("0123456789ABCDEF", "a1b2") == b"\x30\x82\x00\x00\xff\n\x00"
        info = c.login("0123456789ABCDEF", PIN)
        assert isinstance(info, TokenInfo) and info.logged_in
        c.logout("0123456789ABCDEF")
        c.change_pin("0123456789ABCDEF", PIN, NEW_PIN)
        # Relative paths are made absolute on the client side (the agent has another cwd).
        os.chdir(tmp_path)
        out = c.export_certificate("0123456789ABCDEF", "a1b2", Path("me.cer"))
        assert out == tmp_path / "me.cer" and out.read_bytes() == b"DER"
    assert ("login", {"token_serial": "0123456789ABCDEF", "pin": PIN}) in service.calls
    assert ("change_pin", {"old_pin": PIN, "new_pin": NEW_PIN}) in service.calls


@pytest.mark.parametrize("exc", [
    errors.WrongPin(tries_left=None, failures_seen=3, max_tries=10),
    errors.PinLocked(serial="0123456789ABCDEF"),
    errors.NoSuchToken(serial="X", present=2),
    errors.NoSuchCertificate(token_serial="S", cert_id="ff"),
    errors.TokenRemoved(serial="S", operation="login"),
    errors.PinPolicyError(reason="too_short", minimum=4, maximum=16),
    errors.ConfirmationRequired(reason="last_try"),
    errors.FileExistsRefused(path="/tmp/x.cer"),
])
def test_typed_errors_round_trip(served, exc):
    service, _bus, _server = served
    service.fail = exc
    with ipc_client.connect() as c:
        with pytest.raises(type(exc)) as caught:
            c.login("S", PIN)
        assert caught.value == exc
        assert caught.value.exit_code == exc.exit_code
        # The connection stays usable after an error.
        service.fail = None
        assert c.list_tokens()


def test_unexpected_exception_becomes_token_error(served):
    service, _bus, _server = served
    service.fail = RuntimeError("worker exploded")
    with ipc_client.connect() as c:
        with pytest.raises(errors.TokenError) as caught:
            c.list_tokens()
    assert caught.value.code == "RuntimeError" and "worker exploded" in caught.value.detail


def test_bad_requests_get_clear_errors(served):
    _service, _bus, server = served
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(server.path))
        f = s.makefile("rwb")
        for line in (b"not json\n", b"[1,2]\n",
                     b'{"id":7,"method":"rm_rf","params":{}}\n',
                     # A front end must not be able to shut the agent's service down.
                     b'{"id":6,"method":"close","params":{}}\n',
                     b'{"id":5,"method":"_call","params":{}}\n',
                     b'{"id":8,"method":"login","params":{"bogus":1}}\n',
                     b'{"id":9,"method":"login","params":[1]}\n'):
            f.write(line)
            f.flush()
            reply = protocol.decode(f.readline())
            assert reply["error"]["type"] == "UsageError", reply
        f.write(b'{"id":10,"method":"ping"}\n')
        f.flush()
        assert protocol.decode(f.readline())["result"]["protocol"] == protocol.VERSION


def test_events_reach_subscribers(served):
    _service, bus, _server = served
    got: list[events.Event] = []
    arrived = threading.Event()

    def on_event(e: events.Event) -> None:
        got.append(e)
        if len(got) == 3:
            arrived.set()

    with ipc_client.connect() as c:
        unsubscribe = c.subscribe(on_event)
        atr = bytes.fromhex("3B9F958131FE9F006646530500000071DF000000000000")
        bus.post(events.CardInserted(reader="Virtual PCD 00 00", atr=atr, model="ePass2003"))
        bus.post(events.TokenStateChanged(serial="0123", logged_in=True))
        bus.post(events.ServiceDown(detail="gone"))
        assert arrived.wait(5)
        assert got == [
            events.CardInserted(reader="Virtual PCD 00 00", atr=atr, model="ePass2003"),
            events.TokenStateChanged(serial="0123", logged_in=True),
            events.ServiceDown(detail="gone"),
        ]
        unsubscribe()
        # Only the subscription's reader thread calls on_event; unsubscribe() joined it, so
        # nothing can arrive any more, whatever the server still sends.
        assert not [t for t in threading.enumerate()
                    if t.name == "ipc-subscription" and t.is_alive()]
        bus.post(events.ServiceUp())
        assert len(got) == 3
        assert c.list_tokens()  # requests unaffected by the event connection


def test_subscriber_told_when_agent_goes_away(served):
    _service, _bus, server = served
    gone = threading.Event()
    with ipc_client.connect() as c:
        c.subscribe(lambda e: None, on_disconnect=gone.set)
        server.stop()
        assert gone.wait(5)
        with pytest.raises(errors.AgentUnavailable):
            c.list_tokens()


def test_pin_never_logged(served, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    service, _bus, _server = served
    with ipc_client.connect() as c:
        c.login("0123456789ABCDEF", PIN)
        c.change_pin("0123456789ABCDEF", PIN, NEW_PIN)
        service.fail = errors.WrongPin(failures_seen=1, max_tries=10)
        with pytest.raises(errors.WrongPin):
            c.login("0123456789ABCDEF", PIN)
    text = caplog.text
    assert "login" in text and "change_pin" in text  # the requests were logged ...
    assert PIN not in text and NEW_PIN not in text  # ... without their PINs
    assert protocol.redact({"pin": PIN, "old_pin": PIN, "x": [{"new_pin": 1}]}) == {
        "pin": "***", "old_pin": "***", "x": [{"new_pin": "***"}]}


_PEER_PROBE = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect-failed", e.errno); sys.exit(0)
s.settimeout(5)
try:
    s.sendall(b'{"id":1,"method":"ping"}\n')
    data = s.recv(4096)
except OSError:  # refused: the agent closed the connection (EPIPE / ECONNRESET)
    data = b""
print("answered" if data else "closed")
"""


def _as_nobody(path: Path) -> str:
    setpriv = shutil.which("setpriv")
    if os.getuid() != 0 or not setpriv:
        pytest.skip("needs root and setpriv to act as another user")
    out = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                          "/usr/bin/python3", "-c", _PEER_PROBE, str(path)],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_other_user_cannot_reach_the_socket(served):
    _service, _bus, server = served
    # The real socket: the 0700 runtime directory and the 0600 socket keep others out.
    assert _as_nobody(server.path).startswith("connect-failed")


def test_other_user_refused_by_peer_uid_check(home: Path):
    # Even if the file permissions were wrong, the SO_PEERCRED check turns others away.
    # (pytest's tmp_path lives under a 0700 directory: use a world-reachable one.)
    open_dir = Path(tempfile.mkdtemp(prefix="trayd-ipc-"))
    os.chmod(open_dir, 0o777)
    server = AgentSocketServer(lambda: RecordingService(), path=open_dir / "agent.sock")
    server.start()
    try:
        os.chmod(server.path, 0o666)
        assert _as_nobody(server.path) == "closed"
        assert server.refused == 1
        # The owner still gets answers.
        c = ipc_client.connect(path=server.path)
        assert c is not None
        c.close()
    finally:
        server.stop()
        shutil.rmtree(open_dir, ignore_errors=True)
