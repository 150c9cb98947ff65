#!/usr/bin/env bash
# run-guest.sh PAYLOAD_DIR COMMAND...
#
# Boots a throw-away Debian guest under QEMU in which QEMU "edu" PCI devices (1234:11e8) are bound to vfio-pci
# behind an emulated Intel IOMMU (one behind a root port and 0000:00:11.0 alone in their groups, and two functions
# of one device sharing a group), shares PAYLOAD_DIR (read-write, at /payload) and the host's /usr
# (read-only, so the guest has the host's dotnet), runs COMMAND in /payload and prints what it wrote.
# On a kernel with mtty migration (6.7 and later) the guest also has two mtty-1 mdevs (VFIO_VM_MDEVS lists them).
# Exit status: the command's; 124 if the guest ran out of time; 125 if the guest could not be set up.
#
# The kernel is Debian's own, downloaded with apt-get and unpacked, never installed: VFIO_VM_SUITE=default (what
# linux-image-amd64 depends on in the machine's apt sources) or backports (the same in <codename>-backports, whose
# archive is read from the machine's apt sources). Booted through its PVH entry point with qboot under software
# emulation (TCG): about two seconds once the base is cached in $VFIO_VM_CACHE (default /var/cache/vfiomigration-vm,
# or ~/.cache/vfiomigration-vm when not root). Environment: VFIO_VM_TIMEOUT (seconds, default 300), VFIO_VM_KERNEL
# (image package, overrides the suite's), VFIO_VM_VERBOSE=1 (print the guest console).
set -euo pipefail

fail() { echo "run-guest: $*" >&2; exit 125; }
export PATH="$PATH:/usr/sbin:/sbin" # modinfo
[ $# -ge 2 ] || { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
payload=$(cd "$1" && pwd) || fail "payload directory $1 not found"
shift

for tool in qemu-system-x86_64 xz zstd cpio gzip modinfo dpkg-deb apt-get make gcc; do
  command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install qemu-system-x86 xz-utils zstd cpio kmod make gcc)"
done

if [ "$(id -u)" = 0 ]; then cache=${VFIO_VM_CACHE:-/var/cache/vfiomigration-vm}; else cache=${VFIO_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vfiomigration-vm}; fi
mkdir -p "$cache"
suite=${VFIO_VM_SUITE:-default}

# apt for the chosen suite. default: the machine's own configuration. backports: a private configuration (its own
# lists and cache under $cache) with one line for <codename>-backports, on the archive the machine's sources use.
apt_opts=()
if [ "$suite" = backports ]; then
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || fail "cannot tell this machine's Debian codename from /etc/os-release"
  # The archive that carries <codename> itself: deb822 stanzas first, then one-line sources.
  archive=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v want="$codename" '
    function flush() { if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " want " ") && uri != "") { print uri "|" key; found = 1; exit } types = suites = uri = key = "" }
    /^[ \t]*$/ { flush(); next }
    /^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0 } /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
    /^URIs:/ { sub(/^URIs:[ \t]*/, ""); split($0, u, /[ \t]+/); uri = u[1] } /^Signed-By:/ { sub(/^Signed-By:[ \t]*/, ""); key = $0 }
    END { if (!found) flush() }')
  if [ -z "$archive" ]; then
    archive=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk -v want="$codename" '
      $1 == "deb" { i = 2; key = ""; if ($2 ~ /^\[/) { for (; i <= NF && $i !~ /\]$/; i++) if ($i ~ /signed-by=/) key = $i; if ($i ~ /signed-by=/) key = $i; i++ }
                    if ($(i+1) == want) { sub(/.*signed-by=/, "", key); sub(/\]$/, "", key); print $i "|" key; exit } }')
  fi
  [ -n "$archive" ] || fail "no '$codename' suite in this machine's apt sources to take the backports archive from"
  uri=${archive%%|*} key=${archive#*|}
  aptdir="$cache/apt-backports"
  mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
  echo "deb ${key:+[signed-by=$key] }$uri $codename-backports main" > "$aptdir/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$aptdir/sources.list" -o Dir::Etc::SourceParts=/dev/null
            -o "Dir::State::Lists=$aptdir/lists" -o "Dir::Cache=$aptdir/cache" -o Dir::State::status=/dev/null)
  # Fresh lists once an hour: only the current backports kernel has headers and source in the archive.
  if [ -z "$(find "$aptdir/lists" -maxdepth 1 -name '*Packages*' -mmin -60 2>/dev/null | head -n 1)" ]; then
    apt-get "${apt_opts[@]}" update -qq >/dev/null 2>&1 || echo "run-guest: could not refresh the $codename-backports lists; using what is cached" >&2
  fi
elif [ "$suite" != default ]; then
  fail "VFIO_VM_SUITE must be 'default' or 'backports', not '$suite'"
fi
kernel_of() { apt-cache "${apt_opts[@]}" depends "$1" 2>/dev/null | awk -v re="$2" '$1 == "Depends:" && $2 ~ re { print $2; exit }'; }
kernel_pkg=${VFIO_VM_KERNEL:-$(kernel_of linux-image-amd64 '^linux-image-[0-9]')}
if [ -z "$kernel_pkg" ] && [ "$suite" = default ] && [ "$(id -u)" = 0 ]; then apt-get update -qq >/dev/null 2>&1 || true; kernel_pkg=$(kernel_of linux-image-amd64 '^linux-image-[0-9]'); fi
# Offline: the newest base already built for this suite.
if [ -z "$kernel_pkg" ] && [ -s "$cache/$suite.current" ]; then kernel_pkg=$(cat "$cache/$suite.current"); fi
[ -n "$kernel_pkg" ] || fail "cannot tell which kernel package linux-image-amd64 depends on in the $suite suite (apt-get update?)"
script_hash=$(sha256sum "$0" | cut -c1-12)
base="$cache/$kernel_pkg-$script_hash"

# Modules the guest loads, in this order, each after the modules it depends on (resolved below); built-in ones
# (modules.builtin: virtio_pci on 6.12) are skipped. mdev comes with mtty where mtty is built.
wanted_modules="virtio_pci 9pnet_virtio 9p vfio vfio_iommu_type1 vfio-pci"

# download DIR PACKAGE...: apt-get download in the suite's configuration (busybox and pahole: the machine's).
download() {
  local dir=$1; shift
  ( cd "$dir" && apt-get "${apt_opts[@]}" download -qq "$@" >/dev/null 2>&1 ) && return 0
  if [ "$suite" = default ]; then ( apt-get update -qq >/dev/null 2>&1 && cd "$dir" && apt-get download -qq "$@" >/dev/null 2>&1 ) && return 0; fi
  fail "apt-get download $* failed"
}
download_host() {
  local dir=$1; shift
  ( cd "$dir" && apt-get download -qq "$@" >/dev/null 2>&1 ) \
    || ( apt-get update -qq >/dev/null 2>&1 && cd "$dir" && apt-get download -qq "$@" >/dev/null 2>&1 ) \
    || fail "apt-get download $* failed"
}

# build_mtty WORK KVER: mtty.ko (samples/vfio-mdev/mtty.c) for KVER, built out of tree against the suite's
# headers; only mtty.c is streamed out of Debian's linux-source package, into the scratch directory.
build_mtty() {
  local work=$1 kver=$2 headers_pkg common kbuild series
  headers_pkg="linux-headers-$kver"
  common=$(kernel_of "$headers_pkg" '^linux-headers-.*-common$')
  kbuild=$(kernel_of "$headers_pkg" '^linux-kbuild-')
  series=$(echo "$kver" | cut -d. -f1,2)
  [ -n "$common" ] && [ -n "$kbuild" ] || fail "cannot resolve the headers of $kver in the $suite suite"
  mkdir -p "$work/src" "$work/h" "$work/mtty"
  download "$work/src" "$headers_pkg" "$common" "$kbuild" "linux-source-$series"
  download_host "$work/src" pahole
  for deb in "$work"/src/linux-headers-*.deb "$work"/src/linux-kbuild-*.deb "$work"/src/pahole_*.deb; do dpkg-deb -x "$deb" "$work/h"; done
  dpkg-deb --fsys-tarfile "$work"/src/linux-source-"$series"_*.deb 2>/dev/null \
    | tar -xO --occurrence=1 "./usr/src/linux-source-$series.tar.xz" 2>/dev/null \
    | tar -xJO --occurrence=1 "linux-source-$series/samples/vfio-mdev/mtty.c" > "$work/mtty/mtty.c" 2>/dev/null || true
  grep -q 'MODULE_LICENSE' "$work/mtty/mtty.c" || fail "samples/vfio-mdev/mtty.c not found in linux-source-$series"
  echo 'obj-m += mtty.o' > "$work/mtty/Kbuild"
  # The headers' Makefile includes the -common tree by its installed path: point it at the unpacked one.
  local tree="$work/h/usr/src/linux-headers-$kver"
  echo "include $work/h/usr/src/$common/Makefile" > "$tree/Makefile"
  PATH="$work/h/usr/bin:$PATH" LD_LIBRARY_PATH="$work/h/usr/lib/x86_64-linux-gnu" \
    make -s -C "$tree" M="$work/mtty" modules > "$work/mtty/build.log" 2>&1 \
    || { tail -n 20 "$work/mtty/build.log" >&2; fail "building mtty.ko for $kver failed"; }
  [ "$(modinfo -F vermagic "$work/mtty/mtty.ko")" = "$(modinfo -F vermagic "$3")" ] || fail "mtty.ko's vermagic is not $kver's"
  cp "$work/mtty/mtty.ko" "$work/root/modules/mtty.ko"
}

build_base() {
  local work; work=$(mktemp -d "$cache/build.XXXXXX")
  trap 'rm -rf "$work"' RETURN
  mkdir -p "$work/x" "$work/root/bb" "$work/root/modules" "$work/dl"
  download "$work/dl" "$kernel_pkg"
  download_host "$work/dl" busybox-static
  for deb in "$work"/dl/*.deb; do dpkg-deb -x "$deb" "$work/x"; done
  rm -rf "$work/dl"
  local kver; kver=$(ls "$work/x/lib/modules")
  local moddir="$work/x/lib/modules/$kver/kernel"

  # The uncompressed kernel, for a PVH boot: the bzImage's payload is an xz (6.1) or zstd (6.12) stream.
  local bz="$work/x/boot/vmlinuz-$kver" offset
  for offset in $(LC_ALL=C grep -obUaP '\xfd7zXZ\x00|\x28\xb5\x2f\xfd' "$bz" | cut -d: -f1); do
    case "$(tail -c +$((offset + 1)) "$bz" | head -c 4 | od -An -tx1 | tr -d ' ')" in
      fd377a58) tail -c +$((offset + 1)) "$bz" | xz -dc > "$work/vmlinux" 2>/dev/null || true ;;
      *) tail -c +$((offset + 1)) "$bz" | zstd -qdc > "$work/vmlinux" 2>/dev/null || true ;;
    esac
    [ "$(head -c 4 "$work/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ] && break
  done
  [ "$(head -c 4 "$work/vmlinux" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ] || fail "could not unpack the kernel from $bz (no xz or zstd payload)"

  # Modules with their dependencies first; an ordered list drives insmod in the guest.
  local order="" seen=" " builtin="$work/x/lib/modules/$kver/modules.builtin"
  add_module() {
    local name=$1 file dep alt
    case "$seen" in *" $name "*) return ;; esac
    seen="$seen$name "
    file=$(find "$moddir" -name "$name.ko*" -o -name "$(echo "$name" | tr _ -).ko*" -o -name "$(echo "$name" | tr - _).ko*" | head -n 1)
    if [ -z "$file" ]; then
      for alt in "$name" "$(echo "$name" | tr _ -)" "$(echo "$name" | tr - _)"; do
        grep -q "/$alt\.ko$" "$builtin" 2>/dev/null && return 0
      done
      fail "module $name not found in $kver (neither a file nor in modules.builtin)"
    fi
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
  # mtty has v2 migration since 6.7: build it where the kernel is that new and VFIO_VM_MTTY is not 0.
  local major minor; IFS=. read -r major minor _ <<< "$kver"
  if [ "${VFIO_VM_MTTY:-1}" != 0 ] && { [ "$major" -gt 6 ] || { [ "$major" = 6 ] && [ "$minor" -ge 7 ]; }; }; then
    add_module mdev
    build_mtty "$work" "$kver" "$work/root/modules/mdev.ko"
    order="$order mtty"
  fi
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
# Two mtty-1 mdevs (one port each), when mtty is loaded.
mdevs=""
if [ -d /sys/class/mtty/mtty/mdev_supported_types/mtty-1 ]; then
  for u in 8f4e3a10-6c1b-4e2a-9d7f-000000000001 8f4e3a10-6c1b-4e2a-9d7f-000000000002; do
    echo $u > /sys/class/mtty/mtty/mdev_supported_types/mtty-1/create && mdevs="$mdevs$u " || echo "init: creating mdev $u failed"
  done
fi
opts=trans=virtio,version=9p2000.L
mount -t 9p -o $opts,cache=loose,ro hostusr /usr && mount -t 9p -o $opts payload /payload && mount -t 9p -o $opts ctl /ctl || { echo "init: 9p mounts failed"; poweroff -f; }
# The host's userland (merged /usr) in place of ours: its dotnet, shell and libraries.
for d in bin sbin lib lib64; do [ -e /usr/$d ] && ln -s usr/$d /$d; done
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin:/bb HOME=/tmp TMPDIR=/tmp
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_CLI_HOME=/tmp
export VFIO_VM_BDFS="$(ls /sys/bus/pci/drivers/vfio-pci 2>/dev/null | grep '^0000:' | tr '\n' ' ')"
export VFIO_VM_MDEVS="$mdevs"
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
  echo "$kernel_pkg" > "$cache/$suite.current"
}

if [ ! -s "$base/initrd.gz" ]; then
  echo "run-guest: building the guest base from $kernel_pkg (once; cached in $base)" >&2
  rm -rf "$cache/$kernel_pkg"-* # bases an older version of this script built
  build_base
fi

ctl=$(mktemp -d "${TMPDIR:-/tmp}/vfio-vm-ctl.XXXXXX")
trap 'rm -rf "$ctl"' EXIT
printf '%q ' "$@" > "$ctl/command"
echo >> "$ctl/command"

bios=()
[ -f /usr/share/qemu/qboot.rom ] && bios=(-bios /usr/share/qemu/qboot.rom)
status=0
# softlockup_panic with a 1 s watchdog: a kernel that spins (6.12's STOP_COPY -> PRE_COPY in mtty) dies in seconds.
timeout -k 5 "${VFIO_VM_TIMEOUT:-300}" qemu-system-x86_64 \
  -nodefaults -no-user-config -display none -no-reboot \
  -accel tcg,thread=multi -cpu max -M q35 -m 1024 -smp 2 \
  -device intel-iommu,intremap=on "${bios[@]}" \
  -kernel "$base/vmlinux" -initrd "$base/initrd.gz" \
  -append "console=ttyS0 intel_iommu=on iommu=pt panic=-1 softlockup_panic=1 watchdog_thresh=1 quiet" \
  -serial file:"$ctl/console.log" \
  -virtfs local,path="$payload",mount_tag=payload,security_model=none \
  -virtfs local,path=/usr,mount_tag=hostusr,security_model=none,readonly=on,multidevs=remap \
  -virtfs local,path="$ctl",mount_tag=ctl,security_model=none \
  -device pcie-root-port,id=rp1,chassis=1,slot=1,addr=10.0 -device edu,bus=rp1,addr=0.0 \
  -device edu,addr=11.0 \
  -device pcie-root-port,id=rp2,chassis=2,slot=2,addr=12.0 \
  -device edu,bus=rp2,addr=0.0,multifunction=on -device edu,bus=rp2,addr=0.1 </dev/null || status=$?

[ "${VFIO_VM_VERBOSE:-0}" = 1 ] && cat "$ctl/console.log" >&2
[ -f "$ctl/output" ] && cat "$ctl/output"
if [ -s "$ctl/rc" ]; then exit "$(cat "$ctl/rc")"; fi
[ "$status" = 124 ] && { echo "run-guest: the guest ran out of time" >&2; tail -n 20 "$ctl/console.log" >&2; exit 124; }
echo "run-guest: the guest did not run the command (qemu exit $status); console tail:" >&2
tail -n 30 "$ctl/console.log" >&2
exit 125
