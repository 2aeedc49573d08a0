"""The USB VM's guest agent: pcscd, a session bus, the recording desktop and trayd.

Runs inside the guest (started by usbvm_init.sh) and talks to the host over the
virtio-serial port `trayd.ctl` in JSON lines. The host sends requests
{"id", "op", ...}; the guest answers {"id", "ok", ...} and sends unsolicited events
{"event": "notify"|"ready"|"line", ...}. Ops: run (argv, stdin, timeout; stdin carries
a PIN in memory, never argv/env/disk), spawn (a background child whose stdout lines
become "line" events; kill with op kill), agent_start, agent_stop, agent_info (pid,
threads, fds, alive), read (a guest file), shutdown (power off).

Why reuse the host rig's DbusSession/RecordingService/AgentProcess: the guest runs this
checkout and its .venv from the host's filesystem, so the same helpers work unchanged.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from rig.agent_process import AgentProcess  # noqa: E402
from rig.fixtures_dbus import DbusSession, RecordingService  # noqa: E402
from rig.procs import stop_process  # noqa: E402
from rig.trayd_cli import TRAYD  # noqa: E402

WORK = Path("/tmp/usbvm")
HOME = Path("/tmp/home")


def control_port(name: str = "trayd.ctl", timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/sys/class/virtio-ports").glob("*"):
            try:
                if (entry / "name").read_text().strip() == name:
                    return f"/dev/{entry.name}"
            except OSError:
                pass
        time.sleep(0.2)
    raise RuntimeError(f"virtio port {name} not found")


def pcscd_command() -> list[str]:
    pcscd = shutil.which("pcscd") or "/usr/sbin/pcscd"
    help_text = subprocess.run([pcscd, "--help"], capture_output=True, text=True).stdout
    extra = ["--disable-polkit"] if "disable-polkit" in help_text else []
    # An empty reader.conf dir: the host's vpcd entry (/etc/reader.conf.d) would add two
    # "Virtual PCD" readers; the guest's only readers are USB ones. No -a: APDU logs
    # would hold PIN blocks.
    conf = WORK / "reader.conf.d"
    conf.mkdir(parents=True, exist_ok=True)
    return [pcscd, "-f", "-c", str(conf), *extra]


class Guest:
    def __init__(self, port: str) -> None:
        self.fd = os.open(port, os.O_RDWR)
        self.wlock = threading.Lock()
        self.agent: AgentProcess | None = None
        self.children: dict[int, subprocess.Popen] = {}
        WORK.mkdir(parents=True, exist_ok=True)
        for sub in (".config", ".local/share", ".local/state", ".cache"):
            (HOME / sub).mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(HOME),
            "XDG_CONFIG_HOME": str(HOME / ".config"), "XDG_DATA_HOME": str(HOME / ".local/share"),
            "XDG_STATE_HOME": str(HOME / ".local/state"), "XDG_CACHE_HOME": str(HOME / ".cache"),
            "XDG_RUNTIME_DIR": "/run/user/0", "TRAYD_LANGUAGE": "ja", "LANG": "C.UTF-8",
            "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1",
        }

    def send(self, record: dict) -> None:
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        with self.wlock:
            while data:
                data = data[os.write(self.fd, data):]

    def start_services(self) -> None:
        os.environ.update(self.env)
        self.pcscd_log = open(WORK / "pcscd.log", "ab")
        self.pcscd = subprocess.Popen(pcscd_command(), stdout=self.pcscd_log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not Path("/run/pcscd/pcscd.comm").exists():
            if self.pcscd.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("guest pcscd did not start")
            time.sleep(0.1)
        self.bus = DbusSession(WORK / "dbus")
        self.bus.start()
        self.env.update(self.bus.env)
        os.environ.update(self.bus.env)
        self.notifications = RecordingService(self.bus, notifications=True)
        self.notifications.on_record = self._on_record
        self.notifications.start(timeout=120)

    def _on_record(self, rec: dict) -> None:
        if rec.get("kind") == "notify":
            self.send({"event": "notify", **rec})

    # -- ops ---------------------------------------------------------------------------
    def op_run(self, req: dict) -> dict:
        env = {**self.env, **req.get("env", {})}
        proc = subprocess.run(req["argv"], input=req.get("stdin"), capture_output=True,
                              text=True, env=env, timeout=req.get("timeout_s", 120),
                              stdin=None if req.get("stdin") is not None else subprocess.DEVNULL)
        return {"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}

    def op_hello(self, req: dict) -> dict:
        return {}

    def op_trayd(self, req: dict) -> dict:
        return self.op_run({**req, "argv": [*TRAYD, *req["args"]]})

    def op_spawn(self, req: dict) -> dict:
        proc = subprocess.Popen(req["argv"], env={**self.env, **req.get("env", {})},
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, text=True)
        self.children[proc.pid] = proc

        def pump() -> None:
            assert proc.stdout
            for line in proc.stdout:
                self.send({"event": "line", "pid": proc.pid, "line": line.rstrip("\n"),
                           "time": time.monotonic()})

        threading.Thread(target=pump, daemon=True).start()
        return {"pid": proc.pid}

    def op_kill(self, req: dict) -> dict:
        proc = self.children.pop(req["pid"], None)
        stop_process(proc)
        return {"rc": proc.returncode if proc else None}

    def op_agent_start(self, req: dict) -> dict:
        if self.agent and self.agent.alive():
            self.agent.stop()
        n = getattr(self, "_agents", 0)
        self._agents = n + 1
        self.agent = AgentProcess(self.env, WORK / f"agent{n}.log",
                                  *req.get("args", ("run", "--no-tray", "-v")))
        self.agent.start(wait_ready=True, timeout=req.get("timeout_s", 180))
        return {"pid": self.agent.pid}

    def op_agent_stop(self, req: dict) -> dict:
        if not self.agent:
            return {"rc": None}
        rc, seconds = self.agent.stop()
        return {"rc": rc, "seconds": seconds}

    def op_agent_info(self, req: dict) -> dict:
        a = self.agent
        if not a or not a.alive():
            return {"alive": False, "log": a.log_text()[-4000:] if a else ""}
        return {"alive": True, "pid": a.pid, "threads": a.threads(), "fds": a.fds(),
                "log": a.log_text()[-int(req.get("log_chars", 0)):] if req.get("log_chars") else ""}

    def op_read(self, req: dict) -> dict:
        try:
            return {"text": Path(req["path"]).read_text(errors="replace")[-req.get("tail", 20000):]}
        except OSError as exc:
            return {"text": "", "error": str(exc)}

    def op_shutdown(self, req: dict) -> dict:
        if self.agent and self.agent.alive():
            self.agent.stop()
        for proc in self.children.values():
            stop_process(proc)
        self.notifications.stop()
        self.bus.stop()
        stop_process(self.pcscd)
        threading.Timer(0.3, self._power_off).start()
        return {}

    @staticmethod
    def _power_off() -> None:
        os.sync()
        Path("/proc/sysrq-trigger").write_text("o")

    def handle(self, req: dict) -> None:
        try:
            result = getattr(self, f"op_{req['op']}")(req)
            self.send({"id": req["id"], "ok": True, **result})
        except Exception as exc:  # noqa: BLE001 - report, keep serving
            self.send({"id": req.get("id"), "ok": False, "error": repr(exc),
                       "trace": traceback.format_exc()[-3000:]})

    def serve(self) -> None:
        buf = b""
        while True:
            chunk = os.read(self.fd, 65536)
            if not chunk:
                time.sleep(0.1)  # host end not connected (yet/any more)
                continue
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    req = json.loads(line)
                    threading.Thread(target=self.handle, args=(req,), daemon=True).start()


def main() -> int:
    guest = Guest(control_port())
    try:
        guest.start_services()
        guest.send({"event": "ready", "time": time.monotonic(), "pcscd": pcscd_command()})
    except Exception:  # noqa: BLE001
        guest.send({"event": "failed", "trace": traceback.format_exc()[-3000:]})
    guest.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
