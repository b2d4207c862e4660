#!/bin/sh
# recon-role.sh: what this live node is, decided from the kernel command line as the original
# design's shell hook did, and then done. Run as root by recon.service.
#
#   no pxeaddr= on the command line -> master (booted from the USB stick):
#       bring up the provisioning address, link the network boot loaders into the TFTP root,
#       write dnsmasq.conf, menu.ipxe and grub.cfg (recon-agent boot-assets), start dnsmasq,
#       then exec `recon-agent serve`.
#   pxeaddr=ADDR                    -> peer (PXE-booted by a master):
#       wait until http://ADDR/post-$(uname -m).tgz can be fetched (http://ADDR/post.tgz when
#       the master answers 404: an older master), unpack it in $RECON_STATE/post and exec its
#       post.sh (which verifies the binary and runs the agent in run mode).
#
# Master settings on the kernel command line (all optional):
#   recon.master.addr=CIDR   provisioning address (default 10.13.36.1/22: 1,007 DHCP leases)
#   recon.master.iface=NAME  provisioning interface (default: the first wired NIC, by name,
#                            that has link; the first wired NIC if none has)
#   recon.peer.args=A,B,...  more kernel arguments for the peers (menu.ipxe and grub.cfg); may
#                            be given more than once. An argument with a comma in it (a
#                            console=ttyS0,115200n8) goes in the peer-args file instead.
# $RECON_DATA/peer-args (the RECON-DATA file system of the stick): more peer kernel arguments,
#   one per line; blank lines and lines starting with # are skipped. boot-assets checks every
#   argument (packaging/menu.ts): one it refuses stops the master with its name on the console.
# Environment (defaults in brackets; tests point them elsewhere):
#   RECON_CMDLINE [/proc/cmdline]        RECON_STATE [/run/recon]
#   RECON_DHCP_HOOK [/usr/lib/recon/dnsmasq-hook.sh]  dnsmasq's dhcp-script, when executable
#   RECON_AGENT [/usr/bin/recon-agent]   if not executable, the agent of $RECON_SHARE/post.tgz
#   RECON_SHARE [/usr/share/recon]       post*.tgz, image.env, install/ (kernel, initrd,
#                                        squashfs), boot/ (grubaa64.efi)
#   RECON_DATA [/var/lib/recon]          serve --root: the inventories land here
#   RECON_SYSFS_NET [/sys/class/net]     RECON_LINK_WAIT [20] seconds to wait for link
#   RECON_IPXE_DIRS ["/usr/share/ipxe /usr/lib/ipxe"]  where undionly.kpxe and ipxe.efi are
#   RECON_EFI_DIRS ["/usr/lib/shim /usr/lib/grub/x86_64-efi-signed $RECON_SHARE/boot"]  where
#                                        the signed shimx64.efi.signed, grubnetx64.efi.signed
#                                        and grubaa64.efi are
#   RECON_MACHINE [uname -m]             RECON_FETCH_TRIES [0 = forever]
#   RECON_FETCH_DELAY [5] seconds between tries
# $RECON_SHARE/image.env (written by the image build) names the live image for the boot menus:
#   RECON_IMAGE_NAME, RECON_IMAGE_VERSION, RECON_IMAGE_KERNEL, RECON_IMAGE_INITRD, and
#   optionally RECON_IMAGE_SQUASHFS or RECON_IMAGE_ISO (the peers' root; paths from the HTTP
#   root; the squashfs wins) and RECON_IMAGE_AARCH64 (path of the arm64 kernel, initrd and
#   squashfs directory, e.g. install/recon/aarch64).
set -u
set -f # command-line words are never globbed

unset NODE_OPTIONS

: "${RECON_CMDLINE:=/proc/cmdline}"
: "${RECON_DHCP_HOOK:=/usr/lib/recon/dnsmasq-hook.sh}"
: "${RECON_STATE:=/run/recon}"
: "${RECON_AGENT:=/usr/bin/recon-agent}"
: "${RECON_SHARE:=/usr/share/recon}"
: "${RECON_DATA:=/var/lib/recon}"
: "${RECON_SYSFS_NET:=/sys/class/net}"
: "${RECON_LINK_WAIT:=20}"
: "${RECON_IPXE_DIRS:=/usr/share/ipxe /usr/lib/ipxe}"
: "${RECON_EFI_DIRS:=/usr/lib/shim /usr/lib/grub/x86_64-efi-signed $RECON_SHARE/boot}"
: "${RECON_FETCH_TRIES:=0}"
: "${RECON_FETCH_DELAY:=5}"

DEFAULT_MASTER_ADDR=10.13.36.1/22

log() {
  printf 'recon-role: %s\n' "$*" >&2
}

die() {
  log "error: $*"
  exit 1
}

# cmdline_value KEY: prints the value of the last KEY=... word; fails if there is none.
cmdline_value() {
  found=1
  value=
  # shellcheck disable=SC2013 # words, not lines, are wanted
  for word in $(cat "$RECON_CMDLINE"); do
    case $word in
      "$1"=*)
        value=${word#*=}
        found=0
        ;;
    esac
  done
  [ "$found" -eq 0 ] && printf '%s\n' "$value"
  return "$found"
}

# cmdline_values KEY: prints the value of every KEY=... word, in order, one per line.
cmdline_values() {
  # shellcheck disable=SC2013 # words, not lines, are wanted
  for word in $(cat "$RECON_CMDLINE"); do
    case $word in
      "$1"=*) printf '%s\n' "${word#*=}" ;;
    esac
  done
}

# --- peer -------------------------------------------------------------------------------------

run_peer() {
  master=$1
  case $master in
    "" | *[!A-Za-z0-9.:-]*) die "pxeaddr=$master is not an address or host name" ;;
  esac
  machine=${RECON_MACHINE:-$(uname -m)}
  case $machine in
    "" | *[!A-Za-z0-9_]*) die "peer: uname -m gave ${machine:-nothing}" ;;
  esac
  url="http://$master/post-$machine.tgz"
  dir=$RECON_STATE/post
  rm -rf "$dir"
  mkdir -p "$dir" || die "cannot create $dir"
  cd "$dir" || die "cannot enter $dir"
  tries=0
  log "peer: fetching $url"
  # -w prints the HTTP status: a 404 for post-<machine>.tgz is a master from before the
  # per-architecture packages, which serves both agents as post.tgz.
  until code=$(curl -fsS --connect-timeout 5 --max-time 900 -w '%{http_code}' \
    -o post.tgz.part "$url"); do
    if [ "$code" = 404 ] && [ "${url##*/}" != post.tgz ]; then
      url="http://$master/post.tgz"
      log "peer: the master has no post-$machine.tgz: fetching $url"
      continue
    fi
    tries=$((tries + 1))
    if [ "$RECON_FETCH_TRIES" -gt 0 ] && [ "$tries" -ge "$RECON_FETCH_TRIES" ]; then
      die "peer: no post.tgz from $master after $tries tries"
    fi
    log "peer: master not ready (try $tries), again in ${RECON_FETCH_DELAY}s"
    sleep "$RECON_FETCH_DELAY"
  done
  mv post.tgz.part post.tgz || die "cannot keep post.tgz"
  tar xf post.tgz || die "peer: cannot unpack post.tgz"
  [ -f post.sh ] || die "peer: post.tgz has no post.sh"
  log "peer: running post.sh"
  exec sh ./post.sh --cmdline "$RECON_CMDLINE"
}

# --- master -----------------------------------------------------------------------------------

# is_wired NIC: a physical (has a device), non-wireless interface.
is_wired() {
  n=$RECON_SYSFS_NET/$1
  [ "$1" != lo ] && [ -e "$n/device" ] && [ ! -e "$n/wireless" ] && [ ! -e "$n/phy80211" ]
}

wired_nics() {
  for path in "$RECON_SYSFS_NET"/*; do
    nic=${path##*/}
    is_wired "$nic" && printf '%s\n' "$nic"
  done
}

# pick_interface: recon.master.iface=, else the first wired NIC with carrier.
pick_interface() {
  if iface=$(cmdline_value recon.master.iface); then
    printf '%s\n' "$iface"
    return 0
  fi
  set +f
  nics=$(wired_nics)
  set -f
  [ -n "$nics" ] || return 1
  for nic in $nics; do
    ip link set dev "$nic" up >&2 || log "master: cannot bring $nic up"
  done
  waited=0
  while :; do
    for nic in $nics; do
      if [ "$(cat "$RECON_SYSFS_NET/$nic/carrier" 2>/dev/null)" = 1 ]; then
        printf '%s\n' "$nic"
        return 0
      fi
    done
    [ "$waited" -ge "$RECON_LINK_WAIT" ] && break
    sleep 1
    waited=$((waited + 1))
  done
  first=$(printf '%s\n' "$nics" | head -n 1)
  log "master: no wired NIC has link after ${RECON_LINK_WAIT}s; using $first"
  printf '%s\n' "$first"
}

# master_agent: the recon-agent command for this node (installed, or from post.tgz).
master_agent() {
  if [ -x "$RECON_AGENT" ]; then
    printf '%s\n' "$RECON_AGENT"
    return 0
  fi
  post=$RECON_SHARE/post-${RECON_MACHINE:-$(uname -m)}.tgz
  [ -f "$post" ] || post=$RECON_SHARE/post.tgz
  [ -f "$post" ] || return 1
  dir=$RECON_STATE/agent
  rm -rf "$dir"
  mkdir -p "$dir" && tar xf "$post" -C "$dir" || return 1
  printf '%s\n' "$dir/post.sh"
}

# link_loader DIRS NAME CANDIDATES...: links the first loader found in DIRS (a space-separated
# list) into the TFTP root as NAME; fails (with a warning) when there is none.
link_loader() {
  dirs=$1
  target=$2
  shift 2
  for name in "$@"; do
    for d in $dirs; do
      if [ -f "$d/$name" ]; then
        ln -sf "$d/$name" "$RECON_STATE/tftp/$target"
        return 0
      fi
    done
  done
  log "master: warning: no $target in $dirs; such firmware cannot PXE-boot"
  return 1
}

# peer_args: the extra peer kernel arguments, one per line: recon.peer.args= (comma-separated)
# first, then the lines of $RECON_DATA/peer-args.
peer_args() {
  cmdline_values recon.peer.args | tr ',' '\n' | grep -v '^$'
  if [ -f "$RECON_DATA/peer-args" ]; then
    sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' "$RECON_DATA/peer-args" |
      grep -v -e '^$' -e '^#'
  fi
  return 0
}

run_master() {
  cidr=$(cmdline_value recon.master.addr) || cidr=$DEFAULT_MASTER_ADDR
  case $cidr in
    */*) ;;
    *) cidr=$cidr/24 ;;
  esac
  case $cidr in
    *[!0-9./]*) die "recon.master.addr=$cidr is not an IPv4 address/prefix" ;;
  esac
  addr=${cidr%/*}
  iface=$(pick_interface) || die "master: no wired network interface"
  log "master: $cidr on $iface"
  ip link set dev "$iface" up || die "cannot bring $iface up"
  ip addr replace "$cidr" dev "$iface" || die "cannot add $cidr to $iface"

  mkdir -p "$RECON_STATE/tftp" "$RECON_STATE/http" "$RECON_DATA" || die "cannot create directories"
  link_loader "$RECON_IPXE_DIRS" undionly.kpxe undionly.kpxe
  link_loader "$RECON_IPXE_DIRS" ipxe.efi ipxe.efi ipxe-x86_64.efi snponly.efi
  # UEFI x86_64, Secure Boot on or off: Microsoft-signed shim, which loads grubx64.efi from the
  # same TFTP directory (Debian's signed network GRUB); it reads grub/grub.cfg (its built-in
  # prefix). Without them UEFI clients get ipxe.efi (no Secure Boot).
  efi_x86_64=
  link_loader "$RECON_EFI_DIRS" shimx64.efi shimx64.efi.signed shimx64.efi &&
    link_loader "$RECON_EFI_DIRS" grubx64.efi grubnetx64.efi.signed grubx64.efi &&
    efi_x86_64=1
  efi_aarch64=
  link_loader "$RECON_EFI_DIRS" grubaa64.efi grubaa64.efi grubnetaa64.efi.signed && efi_aarch64=1

  agent=$(master_agent) || die "no recon-agent: neither $RECON_AGENT nor $RECON_SHARE/post.tgz"

  RECON_IMAGE_NAME=
  RECON_IMAGE_VERSION=
  RECON_IMAGE_KERNEL=
  RECON_IMAGE_INITRD=
  RECON_IMAGE_ISO=
  RECON_IMAGE_SQUASHFS=
  RECON_IMAGE_AARCH64=
  if [ -r "$RECON_SHARE/image.env" ]; then
    # shellcheck disable=SC1091 # written by the image build
    . "$RECON_SHARE/image.env"
  fi
  set -- boot-assets --interface "$iface" --address "$cidr" \
    --tftp-root "$RECON_STATE/tftp" --http-base "http://$addr" \
    --dnsmasq-out "$RECON_STATE/dnsmasq.conf" --lease-file "$RECON_STATE/dnsmasq.leases"
  [ -n "$efi_x86_64" ] && set -- "$@" --efi-file shimx64.efi
  [ -n "$efi_aarch64" ] && set -- "$@" --efi-aarch64-file grubaa64.efi
  # dnsmasq's dhcp-script: one line per lease (client architecture) for serve's node list
  [ -x "$RECON_DHCP_HOOK" ] && set -- "$@" --dhcp-script "$RECON_DHCP_HOOK"
  if [ -n "$RECON_IMAGE_NAME" ]; then
    set -- "$@" --menu-out "$RECON_STATE/http/menu.ipxe" \
      --image-name "$RECON_IMAGE_NAME" --image-version "$RECON_IMAGE_VERSION" \
      --kernel "$RECON_IMAGE_KERNEL" --initrd "$RECON_IMAGE_INITRD"
    if [ -n "$RECON_IMAGE_SQUASHFS" ]; then
      set -- "$@" --squashfs-path "$RECON_IMAGE_SQUASHFS"
    elif [ -n "$RECON_IMAGE_ISO" ]; then
      set -- "$@" --iso-path "$RECON_IMAGE_ISO"
    fi
    if [ -n "$efi_x86_64" ] || [ -n "$efi_aarch64" ]; then
      mkdir -p "$RECON_STATE/tftp/grub" || die "cannot create $RECON_STATE/tftp/grub"
      # Debian's signed GRUB has no http module: it loads kernel and initrd over TFTP.
      ln -sfn "$RECON_SHARE/install" "$RECON_STATE/tftp/install"
      set -- "$@" --grub-cfg-out "$RECON_STATE/tftp/grub/grub.cfg"
      # the arm64 branch of grub.cfg only when the medium brought the arm64 kernel
      if [ -n "$efi_aarch64" ] && [ -n "$RECON_IMAGE_AARCH64" ] &&
        [ -f "$RECON_SHARE/$RECON_IMAGE_AARCH64/linux" ]; then
        set -- "$@" --aarch64-path "$RECON_IMAGE_AARCH64"
      fi
    fi
    extra=$(peer_args)
    if [ -n "$extra" ]; then
      log "master: extra peer kernel arguments: $(printf '%s' "$extra" | tr '\n' ' ')"
      # one argument per line; set -f is on, so splitting on newlines alone is safe
      old_ifs=$IFS
      IFS='
'
      for arg in $extra; do
        set -- "$@" --extra-arg "$arg"
      done
      IFS=$old_ifs
    fi
  else
    log "master: warning: no $RECON_SHARE/image.env: no menu.ipxe, peers cannot boot"
  fi
  "$agent" "$@" || die "master: boot-assets failed"

  dnsmasq --conf-file="$RECON_STATE/dnsmasq.conf" --pid-file="$RECON_STATE/dnsmasq.pid" ||
    die "master: dnsmasq did not start"
  log "master: dnsmasq running; serving http://$addr/"

  set -- serve --root "$RECON_DATA" --host "$addr" --port 80 \
    --post-dir "$RECON_SHARE" --install "$RECON_SHARE/install" \
    --dnsmasq-conf "$RECON_STATE/dnsmasq.conf"
  [ -f "$RECON_STATE/http/menu.ipxe" ] && set -- "$@" --menu "$RECON_STATE/http/menu.ipxe"
  exec "$agent" "$@"
}

# --- decision ---------------------------------------------------------------------------------

# An unreadable command line must not make a peer believe it is the master.
[ -r "$RECON_CMDLINE" ] || die "cannot read $RECON_CMDLINE"
if pxeaddr=$(cmdline_value pxeaddr); then
  log "pxeaddr=$pxeaddr on the kernel command line: this node is a peer"
  run_peer "$pxeaddr"
else
  log "no pxeaddr= on the kernel command line: this node is the master"
  run_master
fi
