"""TLS client authentication the way a browser does it: NSS tstclnt against openssl s_server.

docs/design.md facts: serve on 127.0.0.1 (NSS tries ::1 first for localhost) with an IP-SAN
server certificate, and give tstclnt its request with `-A file < /dev/null` (fed through a
pipe it keeps looping after the response).
"""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tls_client_auth(env: dict[str, str], db: Path, nickname: str, pki: Path, tmp_path: Path,
                    pin: str = "12345678") -> tuple[subprocess.CompletedProcess, str]:
    """NSS tstclnt (PIN from a 0600 file) → `openssl s_server -Verify 1` on 127.0.0.1.

    The path a browser takes: NSS signs with the certificate `nickname` of database `db`.
    Returns (tstclnt result, server log); the server logs the client's subject.
    """
    port = _port()
    server = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(pki / "server.pem"),
         "-key", str(pki / "server.key"), "-CAfile", str(pki / "root.pem"), "-Verify", "1",
         "-www"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        text=True)
    pwfile = tmp_path / "pin.txt"  # the emulator's test PIN only
    pwfile.write_text(pin + "\n")
    pwfile.chmod(0o600)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        req = tmp_path / "req.txt"
        req.write_bytes(b"GET / HTTP/1.0\r\n\r\n")
        with open("/dev/null") as devnull:
            r = subprocess.run(["tstclnt", "-h", "127.0.0.1", "-p", str(port), "-d", f"sql:{db}",
                                "-n", nickname, "-W", str(pwfile), "-A", str(req)],
                               env=env, stdin=devnull, capture_output=True, text=True, timeout=90)
    finally:
        server.terminate()
        try:
            srv_out = server.communicate(timeout=5)[0]
        except subprocess.TimeoutExpired:
            server.kill()
            srv_out = server.communicate()[0]
    return r, srv_out
