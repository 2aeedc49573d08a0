"""Free TCP ports on 127.0.0.1 for the rig's private services."""
from __future__ import annotations

import random
import socket


def free_port_pair(lo: int = 20000, hi: int = 60000) -> int:
    """A base port p such that p and p+1 are both free (vpcd listens on p + slot)."""
    for _ in range(200):
        base = random.randrange(lo, hi, 2)
        ok = True
        for port in (base, base + 1):
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("0.0.0.0", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port pair found")
