"""The USB VM's boot files: Debian's own kernel and a tiny busybox initramfs.

Why no disk image: the guest mounts the host's root filesystem read-only over 9p
(virtio) and switches to it, so it runs exactly the host's pcscd, libccid, udev, Python,
.venv and this checkout — nothing to download, build or keep in sync. The initramfs only
loads the 9p modules (Debian builds them as modules), mounts the share, puts tmpfs on the
writable places (/run, /tmp) and hands over to `usbvm_init.sh` from the checkout.
"""
from __future__ import annotations

import glob
import gzip
import lzma
import os
import subprocess
import shutil
import stat
from pathlib import Path

BUSYBOX = "/bin/busybox"
# The modules the initramfs needs before the host's /lib/modules is reachable.
BOOT_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "virtio_console")
APPLETS = ("sh", "mount", "insmod", "mkdir", "switch_root", "echo", "cat", "poweroff",
           "sleep")

INIT = r"""#!/bin/sh
# trayd usbvm initramfs: 9p host root (read-only) + tmpfs, then the checkout's init.
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do insmod /lib/modules/$m || echo "usbvm: insmod $m failed"; done
for arg in $(cat /proc/cmdline); do
  case "$arg" in trayd.checkout=*) CHECKOUT="${arg#trayd.checkout=}";;
                 trayd.probe=1) echo "usbvm: probe ok"; poweroff -f;; esac
done
mkdir -p /newroot
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /newroot; then
  echo "usbvm: 9p mount failed"; poweroff -f
fi
mount -t tmpfs -o mode=0755 tmpfs /newroot/run
mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp
mount --move /dev /newroot/dev
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
echo "usbvm: switching to the host root"
exec switch_root /newroot /bin/sh "$CHECKOUT/tests/rig/usbvm_init.sh"
"""


def kernel_image() -> tuple[str, str]:
    """(path of the newest installed Debian kernel, its version)."""
    images = sorted(glob.glob("/boot/vmlinuz-*"), key=os.path.getmtime)
    if not images:
        raise FileNotFoundError("no /boot/vmlinuz-*: install linux-image-amd64")
    path = images[-1]
    return path, os.path.basename(path)[len("vmlinuz-"):]


def _module_files(version: str, modules: Path = Path("/lib/modules")) -> list[str]:
    """BOOT_MODULES that are not built in, with their dependencies, dependencies first."""
    base = modules / version
    deps: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    for line in (base / "modules.dep").read_text().splitlines():
        mod, _, rest = line.partition(":")
        deps[mod] = rest.split()
        by_name[Path(mod).name.split(".ko")[0].replace("-", "_")] = mod
    order: list[str] = []

    def add(mod: str) -> None:
        for dep in deps.get(mod, []):
            add(dep)
        if mod not in order:
            order.append(mod)

    builtin_file = base / "modules.builtin"
    builtin = {Path(m).name.split(".ko")[0].replace("-", "_")
               for m in (builtin_file.read_text().split() if builtin_file.exists() else [])}
    for name in BOOT_MODULES:
        if name in builtin:  # e.g. virtio_pci and virtio_console in Debian 13's kernel
            continue
        if name not in by_name:
            raise FileNotFoundError(f"kernel module {name} missing in {base}")
        add(by_name[name])
    return order


def _module_bytes(path: Path) -> bytes:
    """A module file, uncompressed: busybox insmod hands the bytes to init_module(2).

    Why: Debian 12 ships plain .ko files, newer kernels compressed ones (.ko.xz/.ko.zst).
    """
    data = path.read_bytes()
    if path.suffix == ".xz":
        return lzma.decompress(data)
    if path.suffix == ".gz":
        return gzip.decompress(data)
    if path.suffix == ".zst":
        return subprocess.run(["zstd", "-dc", str(path)], capture_output=True,
                              check=True).stdout
    return data


class _Cpio:
    """A minimal `newc` cpio writer (what the kernel unpacks as an initramfs)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.ino = 1

    def add(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, *rdev, len(name) + 1, 0]
        head = b"070701" + b"".join(b"%08X" % f for f in fields)
        self.ino += 1
        blob = head + name.encode() + b"\0"
        blob += b"\0" * (-len(blob) % 4) + data
        blob += b"\0" * (-len(blob) % 4)
        self.chunks.append(blob)

    def dir(self, name: str) -> None:
        self.add(name, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self.add(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self.add(name, stat.S_IFLNK | 0o777, target.encode())

    def bytes(self) -> bytes:
        self.add("TRAILER!!!", 0)
        return b"".join(self.chunks)


def build_initramfs(dest: Path, version: str) -> Path:
    """Write the initramfs for kernel `version` to `dest` (a fresh file each run: <1 s)."""
    if not os.path.exists(BUSYBOX):
        raise FileNotFoundError(f"{BUSYBOX} missing: install busybox-static")
    cpio = _Cpio()
    for d in ("bin", "dev", "proc", "sys", "newroot", "lib", "lib/modules"):
        cpio.dir(d)
    cpio.add("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
    cpio.file("bin/busybox", Path(BUSYBOX).read_bytes(), 0o755)
    for applet in APPLETS:
        cpio.symlink(f"bin/{applet}", "busybox")
    names = []
    for mod in _module_files(version):
        name = Path(mod).name.split(".ko")[0] + ".ko"
        cpio.file(f"lib/modules/{name}", _module_bytes(Path("/lib/modules") / version / mod))
        names.append(name)
    cpio.file("modules.order", "".join(n + "\n" for n in names).encode())
    cpio.file("init", INIT.encode(), 0o755)
    dest.write_bytes(cpio.bytes())
    return dest


def qemu_binary() -> str:
    path = shutil.which("qemu-system-x86_64")
    if not path:
        raise FileNotFoundError("qemu-system-x86_64 missing: install qemu-system-x86")
    return path
