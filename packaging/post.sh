#!/bin/sh
# post.sh: what a peer runs after fetching post.tgz from the master (tar xf post.tgz && ./post.sh).
# Verifies the binaries against SHA256SUMS, picks the one for this CPU (uname -m) and runs it,
# passing its arguments through (none: run mode: inventory, upload, power off). Logs go to
# stderr (the console under recon.service). Exits with the agent's exit code, or:
#   20  SHA256SUMS missing, or a file does not match it (the agent is not started)
#   21  no binary for this CPU
# The checksums catch a truncated or corrupted download, not a hostile master: whoever serves
# post.tgz also serves SHA256SUMS.
set -u

# The binary ignores NODE_OPTIONS (its SEA configuration says so); clear it and its siblings
# anyway so nothing the agent starts inherits them.
unset NODE_OPTIONS NODE_EXTRA_CA_CERTS NODE_ICU_DATA NODE_PATH NODE_REPL_EXTERNAL_MODULE

log() {
  printf 'recon post.sh: %s\n' "$*" >&2
}

here=$(dirname "$0")
cd "$here" || {
  log "cannot enter $here"
  exit 20
}

machine=$(uname -m)
case $machine in
  x86_64 | amd64) binary=recon-agent-x86_64 ;;
  aarch64 | arm64) binary=recon-agent-aarch64 ;;
  *)
    log "no recon-agent binary for this CPU ($machine)"
    exit 21
    ;;
esac

if [ ! -f SHA256SUMS ]; then
  log "SHA256SUMS is missing: not starting the agent"
  exit 20
fi
# sha256sum -c only checks the files it lists: the chosen binary must be one of them.
if ! grep -q "^[0-9a-f]\{64\}  $binary\$" SHA256SUMS; then
  log "SHA256SUMS has no entry for $binary: not starting the agent"
  exit 20
fi
if ! sha256sum -c SHA256SUMS >&2; then
  log "checksum mismatch (corrupted or tampered post.tgz): not starting the agent"
  exit 20
fi

[ -x "$binary" ] || chmod 0755 "$binary"
log "starting $binary $*"
"./$binary" "$@"
status=$?
log "$binary exited with $status"
exit "$status"
