#!/bin/sh
# PID 1 of the trayd USB VM, run from the host's root (9p, read-only) by the initramfs.
# Brings up what a desktop machine has for a USB token: the kernel's USB host controller,
# udev (pcscd's hotplug is libudev events), then hands over to the Python guest agent
# (tests/rig/usbvm_guest.py), which starts pcscd, the session bus and trayd.
CHECKOUT=$(dirname "$(dirname "$(dirname "$(readlink -f "$0")")")")
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p /dev/pts /dev/shm /run/user/0 /tmp/home
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
chmod 700 /run/user/0
hostname usbvm 2>/dev/null
modprobe -a xhci_pci virtio_console || echo "usbvm: modprobe failed"
/lib/systemd/systemd-udevd --daemon --resolve-names=never
udevadm trigger --action=add --type=subsystems
udevadm trigger --action=add --type=devices
udevadm settle --timeout=60
echo "usbvm: udev settled"
cd "$CHECKOUT" || exit 1
PYTHON="$CHECKOUT/.venv/bin/python"
[ -x "$PYTHON" ] || PYTHON=python3
"$PYTHON" -m tests.rig.usbvm_guest
echo "usbvm: guest agent exited ($?), powering off"
echo o > /proc/sysrq-trigger
sleep 30
