#!/bin/sh
# recon-role.sh: what this live node is, decided from the kernel command line as the original
# design's shell hook did, and then done. Run as root by recon.service.
#
#   no pxeaddr= on the command line -> master (booted from the USB stick):
#       bring up the provisioning address, write dnsmasq.conf and menu.ipxe
#       (recon-agent boot-assets), start dnsmasq, then exec `recon-agent serve`.
#   pxeaddr=ADDR                    -> peer (PXE-booted by a master):
#       wait until http://ADDR/post.tgz can be fetched, unpack it in $RECON_STATE/post and exec
#       its post.sh (which verifies the binaries and runs the agent in run mode).
#
# Master settings on the kernel command line (all optional):
#   recon.master.addr=CIDR   provisioning address (default 10.13.36.1/22: 1,007 DHCP leases)
#   recon.master.iface=NAME  provisioning interface (default: the first wired NIC, by name,
#                            that has link; the first wired NIC if none has)
# Environment (defaults in brackets; tests point them elsewhere):
#   RECON_CMDLINE [/proc/cmdline]        RECON_STATE [/run/recon]
#   RECON_AGENT [/usr/bin/recon-agent]   if not executable, the agent of $RECON_SHARE/post.tgz
#   RECON_SHARE [/usr/share/recon]       post.tgz, image.env, install/ (ISO, kernel, initrd)
#   RECON_DATA [/var/lib/recon]          serve --root: the inventories land here
#   RECON_SYSFS_NET [/sys/class/net]     RECON_LINK_WAIT [20] seconds to wait for link
#   RECON_IPXE_DIRS ["/usr/share/ipxe /usr/lib/ipxe"]  where undionly.kpxe and ipxe.efi are
#   RECON_FETCH_TRIES [0 = forever]      RECON_FETCH_DELAY [5] seconds between tries
# $RECON_SHARE/image.env (written by the image build) names the live image for menu.ipxe:
#   RECON_IMAGE_NAME, RECON_IMAGE_VERSION, RECON_IMAGE_KERNEL, RECON_IMAGE_INITRD,
#   and optionally RECON_IMAGE_ISO (path from the HTTP root).
set -u
set -f # command-line words are never globbed

unset NODE_OPTIONS

: "${RECON_CMDLINE:=/proc/cmdline}"
: "${RECON_STATE:=/run/recon}"
: "${RECON_AGENT:=/usr/bin/recon-agent}"
: "${RECON_SHARE:=/usr/share/recon}"
: "${RECON_DATA:=/var/lib/recon}"
: "${RECON_SYSFS_NET:=/sys/class/net}"
: "${RECON_LINK_WAIT:=20}"
: "${RECON_IPXE_DIRS:=/usr/share/ipxe /usr/lib/ipxe}"
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

# --- peer -------------------------------------------------------------------------------------

run_peer() {
  master=$1
  case $master in
    "" | *[!A-Za-z0-9.:-]*) die "pxeaddr=$master is not an address or host name" ;;
  esac
  url="http://$master/post.tgz"
  dir=$RECON_STATE/post
  rm -rf "$dir"
  mkdir -p "$dir" || die "cannot create $dir"
  cd "$dir" || die "cannot enter $dir"
  tries=0
  log "peer: fetching $url"
  until curl -fsS --connect-timeout 5 --max-time 900 -o post.tgz.part "$url"; do
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
  [ -f "$RECON_SHARE/post.tgz" ] || return 1
  dir=$RECON_STATE/agent
  rm -rf "$dir"
  mkdir -p "$dir" && tar xf "$RECON_SHARE/post.tgz" -C "$dir" || return 1
  printf '%s\n' "$dir/post.sh"
}

# link_loader NAME CANDIDATES...: links the first iPXE loader found into the TFTP root.
link_loader() {
  target=$1
  shift
  for name in "$@"; do
    for d in $RECON_IPXE_DIRS; do
      if [ -f "$d/$name" ]; then
        ln -sf "$d/$name" "$RECON_STATE/tftp/$target"
        return 0
      fi
    done
  done
  log "master: warning: no $target in $RECON_IPXE_DIRS; such firmware cannot PXE-boot"
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
  link_loader undionly.kpxe undionly.kpxe
  link_loader ipxe.efi ipxe.efi ipxe-x86_64.efi snponly.efi

  agent=$(master_agent) || die "no recon-agent: neither $RECON_AGENT nor $RECON_SHARE/post.tgz"

  RECON_IMAGE_NAME=
  RECON_IMAGE_VERSION=
  RECON_IMAGE_KERNEL=
  RECON_IMAGE_INITRD=
  RECON_IMAGE_ISO=
  if [ -r "$RECON_SHARE/image.env" ]; then
    # shellcheck disable=SC1091 # written by the image build
    . "$RECON_SHARE/image.env"
  fi
  set -- boot-assets --interface "$iface" --address "$cidr" \
    --tftp-root "$RECON_STATE/tftp" --http-base "http://$addr" \
    --dnsmasq-out "$RECON_STATE/dnsmasq.conf" --lease-file "$RECON_STATE/dnsmasq.leases"
  if [ -n "$RECON_IMAGE_NAME" ]; then
    set -- "$@" --menu-out "$RECON_STATE/http/menu.ipxe" \
      --image-name "$RECON_IMAGE_NAME" --image-version "$RECON_IMAGE_VERSION" \
      --kernel "$RECON_IMAGE_KERNEL" --initrd "$RECON_IMAGE_INITRD"
    [ -n "$RECON_IMAGE_ISO" ] && set -- "$@" --iso-path "$RECON_IMAGE_ISO"
  else
    log "master: warning: no $RECON_SHARE/image.env: no menu.ipxe, peers cannot boot"
  fi
  "$agent" "$@" || die "master: boot-assets failed"

  dnsmasq --conf-file="$RECON_STATE/dnsmasq.conf" --pid-file="$RECON_STATE/dnsmasq.pid" ||
    die "master: dnsmasq did not start"
  log "master: dnsmasq running; serving http://$addr/"

  set -- serve --root "$RECON_DATA" --host "$addr" --port 80 \
    --post-tgz "$RECON_SHARE/post.tgz" --install "$RECON_SHARE/install" \
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
