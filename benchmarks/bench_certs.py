"""Token inserted → certificates listed with full details: trayd vs `pkcs11-tool -O`.

Same run, same emulated ePass2003 (AES secure messaging, user + root certificate) on a
private pcscd + vpcd, same OpenSC module. Every round removes the token, inserts it, and
starts the clock when PC/SC reports the card present (a blocking SCardGetStatusChange in
this process); the clock stops when the contestant has the certificate list:

- `pkcs11-tool -O`: OpenSC's own tool, a fresh process (the baseline);
- `trayd certs --json`: the CLI as a fresh process with no agent (Python start-up,
  imports, OpenSC load and bind, every certificate parsed: subject, issuer, serial,
  validity, key, usages, fingerprints, certificate ID);
- `trayd certs --json` while `trayd run` is running: the CLI asks the agent;
- agent path: a running `LocalTokenService` (module already loaded, as in `trayd run`)
  doing what the agent does on CardInserted: `read_reader()` = token info and every
  certificate parsed, in one slot scan — what the tray and the management window show.

While the agent runs, one more table: what one listing of the management window costs
with the token in (its `readers` query of the agent's token model, against the
`list_tokens` + `list_certificates` round it made before).

Contestants run one after the other (2 shared CPUs: no competition within a block).
`--quick` runs fewer rounds.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from rig.pcscd import PrivatePcscd  # noqa: E402
from rig.ports import free_port_pair  # noqa: E402

OPENSC = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"


class PresenceClock:
    """Blocks until PC/SC shows the card in `reader` with the wanted presence."""

    def __init__(self, reader: str) -> None:
        from smartcard import scard

        self.s = scard
        self.reader = reader
        rc, self.ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        assert rc == 0, hex(rc)

    def _state(self) -> int:
        rc, states = self.s.SCardGetStatusChange(self.ctx, 0,
                                                 [(self.reader, self.s.SCARD_STATE_UNAWARE)])
        assert rc == 0, hex(rc)
        return states[0][1]

    def wait(self, present: bool, timeout_ms: int = 10000) -> float:
        s = self.s
        state = self._state()
        while bool(state & s.SCARD_STATE_PRESENT) != present:
            rc, states = s.SCardGetStatusChange(self.ctx, timeout_ms,
                                                [(self.reader, state & ~s.SCARD_STATE_CHANGED)])
            if rc != 0:
                raise TimeoutError(f"PC/SC: card {'in' if present else 'out'}: {rc:#x}")
            state = states[0][1]
        return time.monotonic()

    def close(self) -> None:
        self.s.SCardReleaseContext(self.ctx)


def run_pkcs11_tool(env: dict[str, str]) -> int:
    r = subprocess.run(["pkcs11-tool", "--module", OPENSC, "-O"], env=env,
                       capture_output=True, text=True, timeout=60)
    n = r.stdout.count("Certificate Object")
    if r.returncode != 0 or n < 2:
        raise RuntimeError(f"pkcs11-tool: rc {r.returncode}, {n} certificates: {r.stderr[-300:]}")
    return n


def run_trayd_cli(env: dict[str, str]) -> int:
    r = subprocess.run([sys.executable, "-m", "trayd", "certs", "--json"], env=env,
                       capture_output=True, text=True, timeout=60)
    certs = json.loads(r.stdout or "[]")
    if r.returncode != 0 or len(certs) < 2 or not all(c["subject"] for c in certs):
        raise RuntimeError(f"trayd certs: rc {r.returncode}: {r.stderr[-300:]}")
    return len(certs)


def measure(name: str, rounds: int, tok, clock: PresenceClock,
            action: Callable[[], int]) -> list[float]:
    times = []
    for _ in range(rounds):
        tok.remove()
        clock.wait(False)
        tok.insert(wait_seen=False)
        t0 = clock.wait(True)
        action()
        times.append((time.monotonic() - t0) * 1000)
    print(f"  {name}: {' '.join(f'{t:.0f}' for t in times)} ms", flush=True)
    return times


def main(argv: list[str] | None = None) -> int:
    argv = list(argv or [])
    rounds = 3 if "--quick" in argv else 10
    work = Path(tempfile.mkdtemp(prefix="trayd-bench-certs-"))
    home = work / "home"
    for sub in (".config", ".local/state", ".local/share", ".cache"):
        (home / sub).mkdir(parents=True)
    pcscd = PrivatePcscd(work / "pcscd", free_port_pair())
    os.environ.update(pcscd.env)
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_STATE_HOME": str(home / ".local/state"),
           "XDG_DATA_HOME": str(home / ".local/share"), "XDG_RUNTIME_DIR": str(work),
           "TRAYD_NO_AGENT": "1", "PYTHONPATH": str(ROOT)}
    env.pop("DISPLAY", None)
    pcscd.start()
    try:
        from emulator.epass2003 import Epass2003
        from emulator.pki import default_cache_dir, ensure_pki

        tok = Epass2003(pki=ensure_pki(default_cache_dir()), port=pcscd.port(0), slot=0)
        tok.insert()
        clock = PresenceClock(tok.reader)
        results: dict[str, list[float]] = {}
        listing: dict[str, list[float]] = {}
        print(f"rounds: {rounds}; token {tok.reader}, serial {tok.serial}, SM {tok.sm}")
        results["pkcs11-tool -O (process)"] = measure(
            "pkcs11-tool", rounds, tok, clock, lambda: run_pkcs11_tool(env))
        results["trayd certs --json (process)"] = measure(
            "trayd certs", rounds, tok, clock, lambda: run_trayd_cli(env))

        # The CLI while the agent runs (its normal situation on a desktop): the request
        # goes over the agent socket to the agent's worker, which has already bound the
        # token (or does it now).
        agent = subprocess.Popen([sys.executable, "-m", "trayd", "run", "--no-tray"],
                                 env={k: v for k, v in env.items() if k != "TRAYD_NO_AGENT"},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            sock = work / "trayd" / "agent.sock"
            deadline = time.monotonic() + 30
            while not sock.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            if sock.exists():
                agent_env = {k: v for k, v in env.items() if k != "TRAYD_NO_AGENT"}
                time.sleep(1.0)
                results["trayd certs --json (process, agent running)"] = measure(
                    "trayd certs via agent", rounds, tok, clock,
                    lambda: run_trayd_cli(agent_env))
                listing = measure_listing(agent_env, 10 * rounds)
            else:
                print("  (agent did not start: no via-agent figures)")
        finally:
            agent.terminate()
            agent.wait(10)

        from trayd.config import Config
        from trayd.core.token_service import LocalTokenService

        os.environ.update({k: env[k] for k in ("HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME")})
        service = LocalTokenService(Config())
        service.list_tokens()  # the agent has its module loaded before the insertion

        def agent_path() -> int:
            found = service.read_reader(tok.reader)
            if found is None:
                raise RuntimeError("the service did not see the token")
            _token, certs = found
            if len(certs) < 2 or not all(c.readable for c in certs):
                raise RuntimeError(f"agent path: {certs}")
            return len(certs)
        try:
            results["agent: read_reader (token + certificates)"] = measure(
                "agent path", rounds, tok, clock, agent_path)
        finally:
            service.close()
        clock.close()
        tok.remove()
    finally:
        pcscd.stop()

    base = statistics.median(results["pkcs11-tool -O (process)"])
    print()
    print(f"{'token inserted -> certificates listed':50} {'median':>8} {'min':>7} {'max':>7} "
          f"{'x baseline':>10}")  # noqa: E501
    for name, times in results.items():
        med = statistics.median(times)
        print(f"{name:50} {med:7.0f}ms {min(times):6.0f}ms {max(times):6.0f}ms "
              f"{med / base:9.2f}x")
    print("target: <= 1.10 x pkcs11-tool -O")
    if listing:
        print()
        print(f"{'token in, agent running: one management-window listing':60} {'median':>8} "
              f"{'max':>7}")
        for name, times in listing.items():
            print(f"{name:60} {statistics.median(times):6.2f}ms {max(times):6.2f}ms")
    return 0


def measure_listing(env: dict[str, str], calls: int) -> dict[str, list[float]]:
    """What one refresh of the management window costs while the agent runs: the token
    model's `readers` answer (what the window asks now) against the PKCS#11 round over the
    socket it used to make (`list_tokens` + `list_certificates` per token)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        from trayd.ipc.client import connect

        client = connect(timeout=2)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    if client is None:
        print("  (agent socket did not answer: no listing figures)")
        return {}

    def pkcs11_round() -> int:
        tokens = client.list_tokens()
        return sum(len(client.list_certificates(t.serial)) for t in tokens)

    def model() -> int:
        _tokens, certs = client.tokens_and_certificates()
        return sum(len(c) for c in certs.values())

    out: dict[str, list[float]] = {}
    with client:
        deadline = time.monotonic() + 10
        while model() < 2 and time.monotonic() < deadline:  # identified after the insertion
            time.sleep(0.1)
        for name, fn in (("list_tokens + list_certificates over the socket (before)",
                          pkcs11_round), ("readers: the agent's token model (now)", model)):
            times = []
            for _ in range(calls):
                t0 = time.monotonic()
                if fn() < 2:
                    raise RuntimeError(f"{name}: fewer than 2 certificates")
                times.append((time.monotonic() - t0) * 1000)
            out[name] = times
    return out


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
