#!/usr/bin/env bash
# run-guest.sh PAYLOAD_DIR COMMAND...
#
# Boots a throw-away Debian guest under QEMU in which two QEMU "edu" PCI devices (1234:11e8) are bound to
# vfio-pci behind an emulated Intel IOMMU, shares PAYLOAD_DIR (read-write, at /payload) and the host's /usr
# (read-only, so the guest has the host's dotnet), runs COMMAND in /payload and prints what it wrote.
# Exit status: the command's; 124 if the guest ran out of time; 125 if the guest could not be set up.
#
# The guest is Debian's own kernel (downloaded with apt-get, never installed on the host), booted through its
# PVH entry point with qboot under software emulation (TCG): about two seconds once the base is cached in
# $VFIO_VM_CACHE (default /var/cache/vfiomigration-vm, or ~/.cache/vfiomigration-vm when not root).
# Environment: VFIO_VM_TIMEOUT (seconds, default 300), VFIO_VM_KERNEL (package, default what
# linux-image-amd64 depends on), VFIO_VM_VERBOSE=1 (print the guest console).
set -euo pipefail

fail() { echo "run-guest: $*" >&2; exit 125; }
export PATH="$PATH:/usr/sbin:/sbin" # modinfo
[ $# -ge 2 ] || { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
payload=$(cd "$1" && pwd) || fail "payload directory $1 not found"
shift

for tool in qemu-system-x86_64 xz cpio gzip modinfo dpkg-deb apt-get; do
  command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install qemu-system-x86 xz-utils cpio kmod)"
done

if [ "$(id -u)" = 0 ]; then cache=${VFIO_VM_CACHE:-/var/cache/vfiomigration-vm}; else cache=${VFIO_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vfiomigration-vm}; fi
kernel_of() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'; }
kernel_pkg=${VFIO_VM_KERNEL:-$(kernel_of)}
if [ -z "$kernel_pkg" ] && [ "$(id -u)" = 0 ]; then apt-get update -qq >/dev/null 2>&1 || true; kernel_pkg=$(kernel_of); fi
[ -n "$kernel_pkg" ] || fail "cannot tell which kernel package linux-image-amd64 depends on (run apt-get update)"
script_hash=$(sha256sum "$0" | cut -c1-12)
base="$cache/$kernel_pkg-$script_hash"

# Modules the guest loads, in this order, each after the modules it depends on (resolved below).
wanted_modules="virtio_pci 9pnet_virtio 9p vfio vfio_iommu_type1 vfio-pci"

build_base() {
  local work; work=$(mktemp -d "$cache/build.XXXXXX")
  trap 'rm -rf "$work"' RETURN
  ( cd "$work" && apt-get download -qq "$kernel_pkg" busybox-static >/dev/null 2>&1 ) \
    || ( apt-get update -qq >/dev/null 2>&1 && cd "$work" && apt-get download -qq "$kernel_pkg" busybox-static >/dev/null ) \
    || fail "apt-get download $kernel_pkg busybox-static failed"
  mkdir -p "$work/x" "$work/root/bb" "$work/root/modules"
  for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/x"; done
  local kver; kver=$(ls "$work/x/lib/modules")
  local moddir="$work/x/lib/modules/$kver/kernel"

  # The uncompressed kernel, for a PVH boot: the bzImage's payload is an xz stream; find it and unpack it.
  local bz="$work/x/boot/vmlinuz-$kver" offset
  offset=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$bz" | head -n 1 | cut -d: -f1 || true)
  [ -n "$offset" ] || fail "no xz payload in $bz"
  tail -c +$((offset + 1)) "$bz" | xz -dc > "$work/vmlinux" 2>/dev/null || true
  [ "$(head -c 4 "$work/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ] || fail "could not unpack the kernel from $bz"

  # Modules with their dependencies first; an ordered list drives insmod in the guest.
  local order="" seen=" "
  add_module() {
    local name=$1 file dep
    case "$seen" in *" $name "*) return ;; esac
    seen="$seen$name "
    file=$(find "$moddir" -name "$name.ko*" -o -name "$(echo "$name" | tr _ -).ko*" -o -name "$(echo "$name" | tr - _).ko*" | head -n 1)
    [ -n "$file" ] || fail "module $name not found in $kver"
    for dep in $(modinfo -F depends "$file" | tr , ' '); do add_module "$dep"; done
    case "$file" in
      *.ko.xz) xz -dc "$file" > "$work/root/modules/$name.ko" ;;
      *.ko.zst) zstd -qdc "$file" > "$work/root/modules/$name.ko" ;;
      *.ko.gz) gzip -dc "$file" > "$work/root/modules/$name.ko" ;;
      *) cp "$file" "$work/root/modules/$name.ko" ;;
    esac
    order="$order $name"
  }
  for m in $wanted_modules; do add_module "$m"; done
  echo "$order" > "$work/root/modules/order"

  cp "$work/x/bin/busybox" "$work/root/bb/busybox"
  cat > "$work/root/init" <<'INIT'
#!/bb/busybox sh
/bb/busybox --install -s /bb
export PATH=/bb
mkdir -p /proc /sys /dev /tmp /usr /payload /ctl /etc
# A user database, so programs can tell who they run as (.NET's Environment.UserName reads it).
echo 'root:x:0:0:root:/tmp:/bin/sh' > /etc/passwd; echo 'root:x:0:' > /etc/group
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev; mount -t tmpfs tmpfs /tmp
ip link set lo up 2>/dev/null
for m in $(cat /modules/order); do
  case $m in vfio-pci|vfio_pci) insmod /modules/$m.ko ids=1234:11e8 ;; *) insmod /modules/$m.ko ;; esac || echo "init: insmod $m failed"
done
opts=trans=virtio,version=9p2000.L
mount -t 9p -o $opts,cache=loose,ro hostusr /usr && mount -t 9p -o $opts payload /payload && mount -t 9p -o $opts ctl /ctl || { echo "init: 9p mounts failed"; poweroff -f; }
# The host's userland (merged /usr) in place of ours: its dotnet, shell and libraries.
for d in bin sbin lib lib64; do [ -e /usr/$d ] && ln -s usr/$d /$d; done
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin:/bb HOME=/tmp TMPDIR=/tmp
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_CLI_HOME=/tmp
export VFIO_VM_BDFS="$(ls /sys/bus/pci/drivers/vfio-pci 2>/dev/null | grep '^0000:' | tr '\n' ' ')"
cd /payload
sh /ctl/command > /ctl/output 2>&1
echo $? > /ctl/rc
sync
poweroff -f
INIT
  chmod +x "$work/root/init"
  ( cd "$work/root" && find . | cpio -o -H newc --quiet | gzip -1 ) > "$work/initrd.gz"
  mkdir -p "$base.tmp"
  mv "$work/vmlinux" "$work/initrd.gz" "$base.tmp/"
  rm -rf "$base" && mv "$base.tmp" "$base"
}

mkdir -p "$cache"
if [ ! -s "$base/initrd.gz" ]; then
  echo "run-guest: building the guest base from $kernel_pkg (once; cached in $base)" >&2
  build_base
fi

ctl=$(mktemp -d "${TMPDIR:-/tmp}/vfio-vm-ctl.XXXXXX")
trap 'rm -rf "$ctl"' EXIT
printf '%q ' "$@" > "$ctl/command"
echo >> "$ctl/command"

bios=()
[ -f /usr/share/qemu/qboot.rom ] && bios=(-bios /usr/share/qemu/qboot.rom)
status=0
timeout -k 5 "${VFIO_VM_TIMEOUT:-300}" qemu-system-x86_64 \
  -nodefaults -no-user-config -display none -no-reboot \
  -accel tcg,thread=multi -cpu max -M q35 -m 1024 -smp 2 \
  -device intel-iommu,intremap=on "${bios[@]}" \
  -kernel "$base/vmlinux" -initrd "$base/initrd.gz" \
  -append "console=ttyS0 intel_iommu=on iommu=pt panic=-1 quiet" \
  -serial file:"$ctl/console.log" \
  -virtfs local,path="$payload",mount_tag=payload,security_model=none \
  -virtfs local,path=/usr,mount_tag=hostusr,security_model=none,readonly=on,multidevs=remap \
  -virtfs local,path="$ctl",mount_tag=ctl,security_model=none \
  -device pcie-root-port,id=rp1,chassis=1,slot=1,addr=10.0 -device edu,bus=rp1,addr=0.0 \
  -device edu,addr=11.0 </dev/null || status=$?

[ "${VFIO_VM_VERBOSE:-0}" = 1 ] && cat "$ctl/console.log" >&2
[ -f "$ctl/output" ] && cat "$ctl/output"
if [ -s "$ctl/rc" ]; then exit "$(cat "$ctl/rc")"; fi
[ "$status" = 124 ] && { echo "run-guest: the guest ran out of time" >&2; tail -n 20 "$ctl/console.log" >&2; exit 124; }
echo "run-guest: the guest did not run the command (qemu exit $status); console tail:" >&2
tail -n 30 "$ctl/console.log" >&2
exit 125
