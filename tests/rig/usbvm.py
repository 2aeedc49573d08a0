"""The USB VM rig: a QEMU guest where the token is a USB CCID device that comes and goes.

    python -m tests.rig.usbvm --port PORT --out DIR

boots the guest (KVM when it is usable here, TCG otherwise), starts pcscd + libccid,
udev, a session bus with the recording notification server and `trayd run --no-tray`
inside, prints `ready` once a token may be plugged in — any vpcd client connecting to
127.0.0.1:PORT is a token plugged, its disconnect the token pulled — and writes
DIR/notifs.jsonl (t, summary, body, id, replaces_id of every notification the guest's
agent sends) and DIR/status.jsonl (the guest's `trayd status --json` after each change)
until SIGTERM, which powers the guest off. See docs/usbvm.md.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from rig.procs import stop_process  # noqa: E402
from rig.usb_bridge import UsbBridge  # noqa: E402
from rig.vm_channel import GuestChannel  # noqa: E402
from rig.vm_image import build_initramfs, kernel_image, qemu_binary  # noqa: E402

BOOT_TIMEOUT = float(os.environ.get("TRAYD_USBVM_BOOT_TIMEOUT", "300"))
KVM_PROBE_TIMEOUT = 15.0


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def choose_accel(kernel: str, initrd: Path) -> str:
    """"kvm" if a KVM guest really boots here, else "tcg" (cached per host boot).

    Why try instead of checking /dev/kvm: on this kind of host /dev/kvm opens fine but
    guests die or hang in emulation failures (kvm_pvm); only a boot tells.
    """
    forced = os.environ.get("TRAYD_USBVM_ACCEL")
    if forced in ("kvm", "tcg"):
        return forced
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    cache = Path(f"/tmp/trayd-usbvm-accel-{_boot_id()}")
    if cache.exists():
        return cache.read_text().strip()
    try:
        out = subprocess.run(
            [qemu_binary(), "-accel", "kvm", "-m", "256", "-nodefaults", "-display", "none",
             "-no-reboot", "-serial", "stdio", "-kernel", kernel, "-initrd", str(initrd),
             "-append", "console=ttyS0 quiet panic=-1 trayd.probe=1"],
            capture_output=True, text=True, timeout=KVM_PROBE_TIMEOUT, stdin=subprocess.DEVNULL)
        accel = "kvm" if "usbvm: probe ok" in out.stdout else "tcg"
    except subprocess.TimeoutExpired:
        accel = "tcg"
    cache.write_text(accel)
    return accel


class UsbVm:
    """QEMU + the guest channel + the vpcd→USB bridge; `start()` returns when ready."""

    def __init__(self, workdir: Path, port: int, out: Path | None = None, slots: int = 2,
                 start_agent: bool = True) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.out = Path(out) if out else self.workdir
        self.out.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.slots = slots
        self.start_agent = start_agent
        self.qemu: subprocess.Popen | None = None
        self.channel = GuestChannel(str(self.workdir / "ctl.sock"))
        self.bridge = UsbBridge(port, [str(self.workdir / f"redir{i}.sock") for i in range(slots)],
                                on_change=self._on_bridge_change)
        self.accel = ""
        self.boot_seconds = 0.0
        self.guest_up = False  # the guest agent answered: a clean power-off is possible
        self._status_wanted = threading.Event()
        self._stopping = threading.Event()
        self._status_thread: threading.Thread | None = None
        self._write_lock = threading.Lock()

    # -- life cycle -------------------------------------------------------------------
    def qemu_command(self, kernel: str, initrd: Path) -> list[str]:
        w = self.workdir
        cmd = [qemu_binary(), "-accel", self.accel, "-m", "1024", "-smp", "1",
               "-nodefaults", "-display", "none", "-no-reboot", "-monitor", "none",
               "-serial", f"file:{w / 'console.log'}",
               "-kernel", kernel, "-initrd", str(initrd),
               "-append", f"console=ttyS0 quiet panic=-1 trayd.checkout={ROOT}",
               "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,"
                          "multidevs=remap",
               "-device", "virtio-serial-pci",
               "-chardev", f"socket,id=ctl,path={w / 'ctl.sock'},server=on,wait=off",
               "-device", "virtserialport,chardev=ctl,name=trayd.ctl",
               "-device", "qemu-xhci,id=xhci"]
        for i in range(self.slots):
            cmd += ["-chardev", f"socket,id=redir{i},path={w / f'redir{i}.sock'},server=on,wait=off",
                    "-device", f"usb-redir,chardev=redir{i},id=usb{i},bus=xhci.0"]
        return cmd

    def start(self, timeout: float = BOOT_TIMEOUT) -> "UsbVm":
        t0 = time.monotonic()
        kernel, version = kernel_image()
        initrd = build_initramfs(self.workdir / "initrd.img", version)
        self.accel = choose_accel(kernel, initrd)
        self._qemu_log = open(self.workdir / "qemu.log", "ab")
        self.qemu = subprocess.Popen(self.qemu_command(kernel, initrd), stdin=subprocess.DEVNULL,
                                     stdout=self._qemu_log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            self.channel.connect()
            self.channel.listeners.append(self._on_event)
            self.bridge.start()
            self.channel.send("hello")  # the guest answers nothing before the host speaks
            ready = self.channel.wait_event(
                lambda evs: [e for e in evs if e["event"] in ("ready", "failed")]
                or self.qemu.poll() is not None, timeout, "the guest agent")
            if ready is True or ready[0]["event"] == "failed":
                raise RuntimeError(f"guest failed to start: {ready}\n{self.console_tail()}")
            self.guest_up = True
            if self.start_agent:
                self.agent_start()
        except BaseException:
            self.stop()
            raise
        self.boot_seconds = time.monotonic() - t0
        self._status_thread = threading.Thread(target=self._status_loop, daemon=True)
        self._status_thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._status_wanted.set()
        if self.guest_up and self.qemu and self.qemu.poll() is None and not self.channel.closed:
            try:
                self.channel.call("shutdown", timeout=30)
                self.qemu.wait(30)
            except Exception:  # noqa: BLE001 - fall back to stopping QEMU ourselves
                pass
        stop_process(self.qemu, timeout=10)
        self.bridge.stop()
        self.channel.close()
        if getattr(self, "_qemu_log", None):
            self._qemu_log.close()

    def console_tail(self, n: int = 3000) -> str:
        try:
            return (self.workdir / "console.log").read_text(errors="replace")[-n:]
        except OSError:
            return ""

    # -- guest operations -------------------------------------------------------------
    def agent_start(self, *args: str, timeout: float = 240) -> dict:
        fields = {"args": list(args)} if args else {}
        return self.channel.call("agent_start", timeout=timeout + 10, timeout_s=timeout, **fields)

    def agent_stop(self) -> dict:
        return self.channel.call("agent_stop", timeout=60)

    def agent_info(self, log_chars: int = 0) -> dict:
        return self.channel.call("agent_info", timeout=60, log_chars=log_chars)

    def trayd(self, *args: str, stdin: str | None = None, timeout: float = 180,
              env: dict[str, str] | None = None) -> dict:
        """`trayd ARGS` in the guest: {"rc", "stdout", "stderr"} (stdin: e.g. a PIN)."""
        return self.channel.reply(self.trayd_async(*args, stdin=stdin, timeout=timeout,
                                                   env=env), timeout + 10)

    def trayd_async(self, *args: str, stdin: str | None = None, timeout: float = 180,
                    env: dict[str, str] | None = None) -> int:
        """Start `trayd ARGS` in the guest; collect with `self.channel.reply(id, timeout)`."""
        return self.channel.send("trayd", args=list(args), stdin=stdin, timeout_s=timeout,
                                 env=env or {})

    def notifications(self) -> list[dict]:
        return [e for e in self.channel.events if e["event"] == "notify"]

    # -- outputs ----------------------------------------------------------------------
    def _append(self, name: str, record: dict) -> None:
        with self._write_lock, open(self.out / name, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def _on_event(self, rec: dict) -> None:
        if rec["event"] == "notify":
            self._append("notifs.jsonl", {"t": time.time(), "summary": rec["summary"],
                                          "body": rec["body"], "id": rec["id"],
                                          "replaces_id": rec["replaces_id"]})
            self._status_wanted.set()

    def _on_bridge_change(self, what: str, slot: int) -> None:
        self._append("usb.jsonl", {"t": time.time(), "event": what, "slot": slot})

    def _status_loop(self) -> None:
        """`trayd status --json` after each change; changes during a run share the next."""
        while True:
            self._status_wanted.wait()
            if self._stopping.is_set():
                return
            self._status_wanted.clear()
            try:
                res = self.trayd("status", "--json", timeout=120)
                try:
                    status = json.loads(res["stdout"])
                except ValueError:
                    status = {"rc": res["rc"], "stdout": res["stdout"], "stderr": res["stderr"]}
            except Exception as exc:  # noqa: BLE001 - the VM going down ends this loop
                if self._stopping.is_set():
                    return
                status = {"error": str(exc)}
            self._append("status.jsonl", {"t": time.time(), "status": status})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.rig.usbvm", description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True, help="vpcd port on 127.0.0.1 (tokens)")
    ap.add_argument("--out", type=Path, required=True, help="directory for notifs/status.jsonl")
    ap.add_argument("--slots", type=int, default=2, help="USB ports for tokens at once")
    args = ap.parse_args(argv)
    stop = threading.Event()

    def on_signal(*_: object) -> None:
        if not stop.is_set() and not ready.is_set():
            stop.set()
            raise SystemExit(143)  # still booting: abandon the boot (finally powers off)
        stop.set()

    ready = threading.Event()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    vm = UsbVm(args.out / "vm", args.port, out=args.out, slots=args.slots)
    try:
        vm.start()
        ready.set()
        print("ready", flush=True)
        print(f"usbvm: accel={vm.accel}, boot {vm.boot_seconds:.1f} s", file=sys.stderr)
        while not stop.wait(0.5):
            if vm.qemu and vm.qemu.poll() is not None:
                print("the VM exited", file=sys.stderr)
                return 1
    finally:
        vm.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
