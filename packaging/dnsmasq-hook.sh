#!/bin/sh
# dnsmasq --dhcp-script hook of the recon master (dnsmasq.ts: dhcpScript). dnsmasq runs it once
# per lease change, one at a time, so it must be cheap: a shell builtin or two, no process
# started. It appends one tab-separated line per lease that starts ("add") or that dnsmasq
# reports again ("old") to $RECON_DHCP_HOOK_FILE (default /run/recon/dhcp-hook.tsv):
#
#   action  mac  ip  hostname  vendor-class  tags  lease-expires
#
# The master reads the file (packaging/dnsmasq-leases.ts: parseHookLine, watchHookFile) for
# what the lease file lacks: the vendor class ("PXEClient:Arch:00007:UNDI:003016", the client
# architecture) and dnsmasq's tags (efi-x86_64 from option 93). The hostname and the vendor
# class come from the DHCP client, unchecked: a field holding anything but printable ASCII (a
# tab or a newline would forge fields or lines) or longer than 255 bytes is written empty. The
# reader validates every field again and drops lines over its length cap. Nothing here is
# evaluated: values are only ever printf arguments.
set -u

case "${1-}" in
add | old) ;;
*) exit 0 ;; # del, tftp, arp-*, init and future actions: not needed by the master
esac

# $1 if it is printable ASCII of at most 255 bytes, else nothing (in $clean).
sanitize() {
  clean=""
  case "$1" in
  *[![:print:]]*) return 0 ;;
  esac
  [ "${#1}" -le 255 ] && clean="$1"
  return 0
}

sanitize "${2-}"
mac="$clean"
sanitize "${3-}"
ip="$clean"
sanitize "${4-}"
host="$clean"
sanitize "${DNSMASQ_VENDOR_CLASS-}"
vendor="$clean"
sanitize "${DNSMASQ_TAGS-}"
tags="$clean"
sanitize "${DNSMASQ_LEASE_EXPIRES-}"
expires="$clean"

printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$mac" "$ip" "$host" "$vendor" "$tags" "$expires" \
  >>"${RECON_DHCP_HOOK_FILE:-/run/recon/dhcp-hook.tsv}"
