#!/usr/bin/env bash
# run-guest.sh PAYLOAD_DIR COMMAND...
#
# Boots a throw-away Debian guest under QEMU in which QEMU "edu" PCI devices (1234:11e8) are bound to vfio-pci
# behind an emulated Intel IOMMU (one behind a root port and 0000:00:11.0 alone in their groups, and two functions
# of one device sharing a group), shares PAYLOAD_DIR (read-write, at /payload) and the host's /usr
# (read-only, so the guest has the host's dotnet), runs COMMAND in /payload and prints what it wrote.
# On a kernel with mtty migration (6.7 and later) the guest also has two mtty-1 mdevs (VFIO_VM_MDEVS lists them)
# and QEMU 10 from bookworm-backports in its tmpfs (VFIO_VM_QEMU, VFIO_VM_QBOOT; tests/vm/README.md).
# Exit status: the command's; 124 if the guest ran out of time (naming the step the command was in: it prints
# "run  <name>" as each starts); 125 if the guest could not be set up.
#
# The kernel is Debian's own, downloaded with apt-get and unpacked, never installed: VFIO_VM_SUITE=default (what
# linux-image-amd64 depends on in the machine's apt sources), backports (the same in <codename>-backports) or newest
# (the same in trixie-backports), the archive read from the machine's apt sources. Booted through its PVH entry
# point with qboot under software emulation (TCG): seconds once the base is cached in $VFIO_VM_CACHE (default
# /var/cache/vfiomigration-vm, or ~/.cache/vfiomigration-vm when not root). Environment: VFIO_VM_TIMEOUT (seconds,
# default 300), VFIO_VM_KERNEL (image package, overrides the suite's), VFIO_VM_INNER_QEMU=0 (no QEMU inside),
# VFIO_VM_VERBOSE=1 (print the guest console).
set -euo pipefail

fail() { echo "run-guest: $*" >&2; exit 125; }
export PATH="$PATH:/usr/sbin:/sbin" # modinfo
[ $# -ge 2 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
payload=$(cd "$1" && pwd) || fail "payload directory $1 not found"
shift

for tool in qemu-system-x86_64 xz zstd cpio gzip modinfo dpkg-deb apt-get make gcc; do
  command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install qemu-system-x86 xz-utils zstd cpio kmod make gcc)"
done

if [ "$(id -u)" = 0 ]; then cache=${VFIO_VM_CACHE:-/var/cache/vfiomigration-vm}; else cache=${VFIO_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vfiomigration-vm}; fi
mkdir -p "$cache"
suite=${VFIO_VM_SUITE:-default}

# private_apt "DIST..." ARRAY [RELEASE]: fills ARRAY with apt options for a private configuration (its own lists and
# cache under $cache/apt-<dists>) with one line for each DIST (preferring RELEASE's versions when given), on the archive that carries this machine's own codename in its apt sources
# (so no archive host is written here). Lists are refreshed once an hour: only the current backports kernel has
# headers and source in the archive.
private_apt() {
  local dists=$1 release=${3:-} codename archive uri key aptdir dist
  local -n into=$2
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
  [ -n "$archive" ] || fail "no '$codename' suite in this machine's apt sources to take the $dists archive from"
  uri=${archive%%|*} key=${archive#*|}
  # The directory keeps its historic name for this machine's own backports (shared with older checkouts).
  if [ "$dists" = "$codename-backports" ]; then aptdir="$cache/apt-backports"; else aptdir="$cache/apt-${dists// /+}"; fi
  mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
  # Written through a temporary name: another run may read it at this moment.
  for dist in $dists; do echo "deb ${key:+[signed-by=$key] }$uri $dist main"; done > "$aptdir/sources.list.$$" && mv -f "$aptdir/sources.list.$$" "$aptdir/sources.list"
  into=(-o "Dir::Etc::SourceList=$aptdir/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$aptdir/lists" -o "Dir::Cache=$aptdir/cache" -o Dir::State::status=/dev/null)
  [ -z "$release" ] || into+=(-o "APT::Default-Release=$release")
  # apt locks the lists directory itself: a concurrent refresh by another run fails here and the cached lists serve.
  if [ -z "$(find "$aptdir/lists" -maxdepth 1 -name '*Packages*' -mmin -60 2>/dev/null | head -n 1)" ]; then
    apt-get "${into[@]}" update -qq >/dev/null 2>&1 || echo "run-guest: could not refresh the $dists lists; using what is cached" >&2
  fi
}

# apt for the chosen suite. default: the machine's own configuration. backports: <codename>-backports. newest:
# Debian's newest kernel, from trixie-backports (with trixie itself, whose gcc builds mtty for it).
apt_opts=() toolchain_release=""
case "$suite" in
  default) ;;
  backports) private_apt "$(. /etc/os-release && echo "${VERSION_CODENAME:-}")-backports" apt_opts ;;
  newest) private_apt "trixie trixie-backports" apt_opts trixie-backports; toolchain_release=trixie ;;
  *) fail "VFIO_VM_SUITE must be 'default', 'backports' or 'newest', not '$suite'" ;;
esac
kernel_of() { apt-cache "${apt_opts[@]}" depends "$1" 2>/dev/null | awk -v re="$2" '$1 == "Depends:" && $2 ~ re { print $2; exit }'; }
kernel_pkg=${VFIO_VM_KERNEL:-$(kernel_of linux-image-amd64 '^linux-image-[0-9]')}
if [ -z "$kernel_pkg" ] && [ "$suite" = default ] && [ "$(id -u)" = 0 ]; then apt-get update -qq >/dev/null 2>&1 || true; kernel_pkg=$(kernel_of linux-image-amd64 '^linux-image-[0-9]'); fi
# Offline: the newest base already built for this suite.
if [ -z "$kernel_pkg" ] && [ -s "$cache/$suite.current" ]; then kernel_pkg=$(cat "$cache/$suite.current"); fi
[ -n "$kernel_pkg" ] || fail "cannot tell which kernel package linux-image-amd64 depends on in the $suite suite (apt-get update?)"

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

# build_mtty WORK KVER MDEV_KO: mtty.ko (samples/vfio-mdev/mtty.c) for KVER, built out of tree against the suite's
# headers; only mtty.c is streamed out of Debian's linux-source package, into the scratch directory. Built with the
# compiler the kernel was (the headers' CONFIG_CC_VERSION_TEXT): the host's when it has it, else that compiler and
# what the module build runs, unpacked from the suite's own distribution into a scratch root (never installed) and
# run there by chroot.
build_mtty() {
  local work=$1 kver=$2 headers_pkg common kbuild series cc
  headers_pkg="linux-headers-$kver"
  common=$(kernel_of "$headers_pkg" '^linux-headers-.*-common$')
  kbuild=$(kernel_of "$headers_pkg" '^linux-kbuild-')
  series=$(echo "$kver" | cut -d. -f1,2)
  [ -n "$common" ] && [ -n "$kbuild" ] || fail "cannot resolve the headers of $kver in the $suite suite"
  mkdir -p "$work/src" "$work/h" "$work/mtty"
  download "$work/src" "$headers_pkg" "$common" "$kbuild" "linux-source-$series"
  for deb in "$work"/src/linux-headers-*.deb "$work"/src/linux-kbuild-*.deb; do dpkg-deb -x "$deb" "$work/h"; done
  dpkg-deb --fsys-tarfile "$work"/src/linux-source-"$series"_*.deb 2>/dev/null \
    | tar -xO --occurrence=1 "./usr/src/linux-source-$series.tar.xz" 2>/dev/null \
    | tar -xJO --occurrence=1 "linux-source-$series/samples/vfio-mdev/mtty.c" > "$work/mtty/mtty.c" 2>/dev/null || true
  grep -q 'MODULE_LICENSE' "$work/mtty/mtty.c" || fail "samples/vfio-mdev/mtty.c not found in linux-source-$series"
  echo 'obj-m += mtty.o' > "$work/mtty/Kbuild"
  cc=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="[^ ]*\(gcc-[0-9][0-9]*\) .*/\1/p' "$work/h/usr/src/linux-headers-$kver/.config")
  if [ -z "$cc" ] || command -v "$cc" >/dev/null; then
    download_host "$work/src" pahole
    dpkg-deb -x "$work"/src/pahole_*.deb "$work/h"
    # The headers' Makefile includes the -common tree by its installed path: point it at the unpacked one.
    local tree="$work/h/usr/src/linux-headers-$kver"
    echo "include $work/h/usr/src/$common/Makefile" > "$tree/Makefile"
    PATH="$work/h/usr/bin:$PATH" LD_LIBRARY_PATH="$work/h/usr/lib/x86_64-linux-gnu" \
      make -s -C "$tree" M="$work/mtty" modules > "$work/mtty/build.log" 2>&1 \
      || { tail -n 20 "$work/mtty/build.log" >&2; fail "building mtty.ko for $kver failed"; }
  else
    # The toolchain root: the compiler, make, the shell tools kbuild calls, pahole for the BTF step, and the
    # headers at their installed paths. apt resolves the closure against an empty status (nothing installed).
    local root="$work/tc"
    mkdir -p "$root" "$work/tcdebs/partial"
    apt-get "${apt_opts[@]}" -o "APT::Default-Release=$toolchain_release" -o Debug::NoLocking=1 -o APT::Sandbox::User=root \
        -o "Dir::Cache::archives=$work/tcdebs" --download-only --no-install-recommends -y -qq \
        install "$cc" make libc6-dev dash bash coreutils sed grep mawk findutils diffutils dwarves > "$work/tc.log" 2>&1 \
      || { tail -n 20 "$work/tc.log" >&2; fail "cannot download $cc and the module build's tools from $toolchain_release"; }
    for deb in "$work"/tcdebs/*.deb "$work"/src/linux-headers-*.deb "$work"/src/linux-kbuild-*.deb; do dpkg-deb -x "$deb" "$root"; done
    rm -rf "$work/tcdebs"
    [ -e "$root/usr/bin/awk" ] || ln -s mawk "$root/usr/bin/awk" # an alternatives link dpkg would have made
    mkdir -p "$root/build" "$root/proc" "$root/dev" && touch "$root/dev/null" && cp -r "$work/mtty" "$root/build/"
    # objtool reads /proc; kbuild writes /dev/null. A private mount namespace: nothing outlives the build.
    local ns=(unshare --mount --propagation private)
    [ "$(id -u)" = 0 ] || ns=(unshare --map-root-user --mount --pid --fork)
    "${ns[@]}" sh -c 'mount -t proc proc "$1/proc" && mount --bind /dev/null "$1/dev/null" &&
        exec chroot "$1" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/tmp make -s -C "/usr/src/linux-headers-$2" M=/build/mtty modules' \
        sh "$root" "$kver" > "$work/mtty/build.log" 2>&1 \
      || { tail -n 20 "$work/mtty/build.log" >&2; fail "building mtty.ko for $kver with $toolchain_release's $cc failed"; }
    cp "$root/build/mtty/mtty.ko" "$work/mtty/mtty.ko"
    rm -rf "$root"
  fi
  [ "$(modinfo -F vermagic "$work/mtty/mtty.ko")" = "$(modinfo -F vermagic "$3")" ] || fail "mtty.ko's vermagic is not $kver's"
  cp "$work/mtty/mtty.ko" "$work/root/modules/mtty.ko"
}

build_base() {
  local work; work=$(mktemp -d "$cache/build.XXXXXX")
  trap 'rm -rf "$work"' RETURN
  mkdir -p "$work/x" "$work/root/bb" "$work/root/modules" "$work/dl"
  # Since 7.x Debian's image package is a shell over linux-base-*, linux-binary-* and linux-modules-* (the kernel
  # then lives in /usr/lib/modules/<version>/vmlinuz, not /boot).
  download "$work/dl" "$kernel_pkg" $(apt-cache "${apt_opts[@]}" depends "$kernel_pkg" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-(base|binary|modules)-[0-9]/ { print $2 }')
  download_host "$work/dl" busybox-static
  for deb in "$work"/dl/*.deb; do dpkg-deb -x "$deb" "$work/x"; done
  rm -rf "$work/dl"
  local mods="$work/x/lib/modules"; [ -d "$mods" ] || mods="$work/x/usr/lib/modules"
  local kver; kver=$(ls "$mods")
  local moddir="$mods/$kver/kernel"

  # The uncompressed kernel, for a PVH boot: the bzImage's payload is an xz (6.1) or zstd (6.12) stream.
  local bz="$work/x/boot/vmlinuz-$kver" offset
  [ -f "$bz" ] || bz="$mods/$kver/vmlinuz"
  for offset in $(LC_ALL=C grep -obUaP '\xfd7zXZ\x00|\x28\xb5\x2f\xfd' "$bz" | cut -d: -f1); do
    case "$(tail -c +$((offset + 1)) "$bz" | head -c 4 | od -An -tx1 | tr -d ' ')" in
      fd377a58) tail -c +$((offset + 1)) "$bz" | xz -dc > "$work/vmlinux" 2>/dev/null || true ;;
      *) tail -c +$((offset + 1)) "$bz" | zstd -qdc > "$work/vmlinux" 2>/dev/null || true ;;
    esac
    [ "$(head -c 4 "$work/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ] && break
  done
  [ "$(head -c 4 "$work/vmlinux" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ] || fail "could not unpack the kernel from $bz (no xz or zstd payload)"

  # Modules with their dependencies first; an ordered list drives insmod in the guest.
  local order="" seen=" " builtin="$mods/$kver/modules.builtin"
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
  # Into place by one rename: a concurrent builder of the same base loses the race harmlessly (ours is dropped).
  mkdir "$work/base"
  mv "$work/vmlinux" "$work/initrd.gz" "$work/base/"
  mv -T "$work/base" "$base" 2>/dev/null || [ -s "$base/initrd.gz" ] || fail "could not move the built base to $base"
  echo "$kernel_pkg" > "$cache/$suite.current.$$" && mv -f "$cache/$suite.current.$$" "$cache/$suite.current"
}

# The base is keyed on the kernel package and on the code that builds it (not the whole script), so an edit to how
# the guest is run does not rebuild every base; bases of other keys may belong to concurrent runs of other checkouts
# and are removed only once unused for a week.
base_hash=$( { declare -f download download_host build_mtty build_base; echo "$wanted_modules"; } | sha256sum | cut -c1-12)
base="$cache/$kernel_pkg-$base_hash"
if [ ! -s "$base/initrd.gz" ]; then
  echo "run-guest: building the guest base from $kernel_pkg (once; cached in $base)" >&2
  find "$cache" -maxdepth 1 -name 'linux-image-*' -type d -mtime +7 -exec rm -rf {} + 2>/dev/null || true
  build_base
fi
touch "$base"

# QEMU for use INSIDE the guest (a VMM for the guest's own VFIO devices): bookworm-backports' qemu-system-x86 (10.0
# today, resolved, never pinned) runs on this machine's libraries, which the guest sees as its /usr. Downloaded once
# and unpacked (never installed) into $cache/qemu-<version>: the binary, qboot.rom and its modules. Only for guests
# with mtty (6.7 and later); VFIO_VM_INNER_QEMU=0 turns it off. Sets inner_qemu (the directory) or inner_qemu_why.
inner_qemu="" inner_qemu_why=""
fetch_inner_qemu() {
  local opts=() codename ver dir work deb lib missing="" outside=""
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  private_apt "$codename-backports" opts
  ver=$(apt-cache "${opts[@]}" policy qemu-system-x86 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')
  if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
    # Offline: the newest one fetched before.
    dir=$(ls -d "$cache"/qemu-[0-9]*/ 2>/dev/null | sort -V | tail -n 1)
    [ -n "$dir" ] || { inner_qemu_why="qemu-system-x86 is not in $codename-backports (apt lists not available?)"; return; }
    dir=${dir%/}
  else
    dir="$cache/qemu-$(echo "$ver" | sed 's/^[0-9]*://; s/[^A-Za-z0-9.+~-]/_/g')"
  fi
  if [ ! -x "$dir/qemu-system-x86_64" ]; then
    echo "run-guest: fetching QEMU $ver from $codename-backports for use inside the guest (once; cached in $dir)" >&2
    work=$(mktemp -d "$cache/qemu-build.XXXXXX")
    if ! ( cd "$work" && apt-get "${opts[@]}" download -qq "qemu-system-x86=$ver" "qemu-system-common=$ver" "qemu-system-data=$ver" >/dev/null 2>&1 ); then
      rm -rf "$work"; inner_qemu_why="apt-get download of qemu-system-x86 $ver from $codename-backports failed"; return
    fi
    for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/x"; done
    mkdir "$work/q"
    cp "$work/x/usr/bin/qemu-system-x86_64" "$work/x/usr/share/qemu/qboot.rom" "$work/q/" 2>/dev/null \
      || { rm -rf "$work"; inner_qemu_why="the qemu-system-x86 $ver packages lack qemu-system-x86_64 or qboot.rom"; return; }
    cp -r "$work/x/usr/lib/x86_64-linux-gnu/qemu" "$work/q/modules" 2>/dev/null || mkdir "$work/q/modules"
    echo "$ver" > "$work/q/version"
    # One rename into place; a concurrent fetch of the same version may have won: then ours is dropped.
    mv -T "$work/q" "$dir" 2>/dev/null || true
    rm -rf "$work"
    [ -x "$dir/qemu-system-x86_64" ] || { inner_qemu_why="could not store QEMU $ver in $dir"; return; }
  fi
  # Its libraries as the guest resolves them: the guest has this machine's /usr but its own /etc, so no ld.so.cache
  # (--inhibit-cache) and nothing reached through /etc (alternatives links).
  while read -r lib; do
    case "$lib" in
      *"not found"*) missing="$missing ${lib%% *}" ;;
      /*) case "$(readlink -f "$lib")" in /usr/*) ;; *) outside="$outside $lib" ;; esac ;;
    esac
  done < <(/lib64/ld-linux-x86-64.so.2 --inhibit-cache --list "$dir/qemu-system-x86_64" 2>&1 | awk '$2 == "=>" { print ($3 == "not" ? $1 " not found" : $3) }')
  [ -z "$missing" ] || { inner_qemu_why="QEMU $(cat "$dir/version") needs libraries this machine's /usr lacks:$missing"; return; }
  [ -z "$outside" ] || { inner_qemu_why="QEMU $(cat "$dir/version") needs libraries the guest cannot reach (outside /usr):$outside"; return; }
  touch "$dir"
  inner_qemu=$dir
}
kver=${kernel_pkg#linux-image-}
IFS=. read -r kmajor kminor _ <<< "$kver"
if [ "${VFIO_VM_INNER_QEMU:-1}" = 0 ]; then
  inner_qemu_why="turned off (VFIO_VM_INNER_QEMU=0)"
elif [ "$kmajor" -gt 6 ] 2>/dev/null || { [ "$kmajor" = 6 ] && [ "$kminor" -ge 7 ]; } 2>/dev/null; then
  fetch_inner_qemu
  [ -z "$inner_qemu_why" ] || echo "run-guest: no QEMU inside the guest: $inner_qemu_why" >&2
else
  inner_qemu_why="kernel $kver has no mtty migration (6.7 and later) for a QEMU to drive"
fi

ctl=$(mktemp -d "${TMPDIR:-/tmp}/vfio-vm-ctl.XXXXXX")
trap 'rm -rf "$ctl"' EXIT
inner_qemu_opts=()
{
  if [ -n "$inner_qemu" ]; then
    # Copied to the guest's tmpfs before anyone starts it: started from the 9p share it took 29 s, from tmpfs 2-22 s.
    echo '/bb/mkdir -p /tmp/.qemu-share /tmp/qemu && /bb/mount -t 9p -o trans=virtio,version=9p2000.L,ro qemu /tmp/.qemu-share && /bb/cp -r /tmp/.qemu-share/. /tmp/qemu/ && /bb/umount /tmp/.qemu-share && /bb/rmdir /tmp/.qemu-share \'
    echo '  && export VFIO_VM_QEMU=/tmp/qemu/qemu-system-x86_64 VFIO_VM_QBOOT=/tmp/qemu/qboot.rom QEMU_MODULE_DIR=/tmp/qemu/modules VFIO_VM_QEMU_VERSION="$(cat /tmp/qemu/version)" \'
    echo '  || export VFIO_VM_QEMU_MISSING="copying QEMU into the guest tmpfs failed"'
    inner_qemu_opts=(-virtfs "local,path=$inner_qemu,mount_tag=qemu,security_model=none,readonly=on")
  else
    printf 'export VFIO_VM_QEMU_MISSING=%q\n' "$inner_qemu_why"
  fi
  printf '%q ' "$@"
  echo
} > "$ctl/command"

timeout_s=${VFIO_VM_TIMEOUT:-300}
bios=()
[ -f /usr/share/qemu/qboot.rom ] && bios=(-bios /usr/share/qemu/qboot.rom)
status=0
# softlockup_panic with a 1 s watchdog: a kernel that spins (6.12's STOP_COPY -> PRE_COPY in mtty) dies in seconds.
timeout -k 5 "$timeout_s" qemu-system-x86_64 \
  -nodefaults -no-user-config -display none -no-reboot \
  -accel tcg,thread=multi -cpu max -M q35 -m 1024 -smp 2 \
  -device intel-iommu,intremap=on "${bios[@]}" \
  -kernel "$base/vmlinux" -initrd "$base/initrd.gz" \
  -append "console=ttyS0 intel_iommu=on iommu=pt panic=-1 softlockup_panic=1 watchdog_thresh=1 quiet" \
  -serial file:"$ctl/console.log" \
  -virtfs local,path="$payload",mount_tag=payload,security_model=none \
  -virtfs local,path=/usr,mount_tag=hostusr,security_model=none,readonly=on,multidevs=remap \
  -virtfs local,path="$ctl",mount_tag=ctl,security_model=none "${inner_qemu_opts[@]}" \
  -device pcie-root-port,id=rp1,chassis=1,slot=1,addr=10.0 -device edu,bus=rp1,addr=0.0 \
  -device edu,addr=11.0 \
  -device pcie-root-port,id=rp2,chassis=2,slot=2,addr=12.0 \
  -device edu,bus=rp2,addr=0.0,multifunction=on -device edu,bus=rp2,addr=0.1 </dev/null || status=$?

[ "${VFIO_VM_VERBOSE:-0}" = 1 ] && cat "$ctl/console.log" >&2
[ -f "$ctl/output" ] && cat "$ctl/output"
if [ -s "$ctl/rc" ]; then exit "$(cat "$ctl/rc")"; fi
if [ "$status" = 124 ]; then
  # Name the step that was running: commands print "run  <name>" as each step starts, "ok   <name>" or
  # "FAIL <name>: ..." as it ends (VfioMigration.VmChecks does).
  running=$(awk 'substr($0, 1, 5) == "run  " { last = substr($0, 6); open = 1; next }
                 open && (substr($0, 1, 5) == "ok   " && substr($0, 6) == last || substr($0, 1, 5 + length(last)) == "FAIL " last) { open = 0 }
                 END { if (last != "") print (open ? "during: " : "after: ") last }' "$ctl/output" 2>/dev/null || true)
  case "$running" in
    during:*) echo "run-guest: the guest ran out of time (VFIO_VM_TIMEOUT=$timeout_s s) in the step that was running: ${running#during: }" >&2 ;;
    after:*) echo "run-guest: the guest ran out of time (VFIO_VM_TIMEOUT=$timeout_s s) after the last step that ran: ${running#after: }" >&2 ;;
    *) echo "run-guest: the guest ran out of time (VFIO_VM_TIMEOUT=$timeout_s s) before its command reported a step" >&2 ;;
  esac
  tail -n 20 "$ctl/console.log" >&2
  exit 124
fi
echo "run-guest: the guest did not run the command (qemu exit $status); console tail:" >&2
tail -n 30 "$ctl/console.log" >&2
exit 125
