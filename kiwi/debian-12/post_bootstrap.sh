#!/bin/bash
# KIWI post_bootstrap.sh for the recon live image (Debian 12).
# Runs inside the image root after debootstrap, before the image packages.
#
# Debian's kernel and dracut packages each build an initrd when installed
# (twice, several minutes). KIWI builds the live initrd itself later, so the
# hook is diverted to a no-op here and restored by config.sh.
set -euo pipefail

hook=/etc/kernel/postinst.d/dracut
dpkg-divert --local --rename --divert "$hook.recon-build" --add "$hook"
mkdir -p "$(dirname "$hook")"
cat >"$hook" <<'HOOK'
#!/bin/sh
# recon image build: KIWI creates the live initrd; restored by config.sh
exit 0
HOOK
chmod 0755 "$hook"
