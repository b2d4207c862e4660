#!/bin/bash
# KIWI config.sh for the recon live image (Debian 12).
# Runs inside the image root at build time, after the packages and the root
# overlay (root/, plus what kiwi/make-recipe-target copied in) are installed.
set -eo pipefail

# KIWI's helper functions and image variables (absent when linted).
# shellcheck source=/dev/null
test -f /.kconfig && . /.kconfig
# shellcheck source=/dev/null
test -f /.profile && . /.profile
set -u

echo "Configure image: [${kiwi_iname:-recon}]..."

#======================================
# Initrd hook (diverted by post_bootstrap.sh)
#--------------------------------------
hook=/etc/kernel/postinst.d/dracut
if dpkg-divert --list "$hook" | grep -q .; then
    rm -f "$hook"
    dpkg-divert --local --rename --remove "$hook"
fi
rm -f /boot/initrd.img-*

#======================================
# Services
#--------------------------------------
# recon.service decides the role at boot: no pxeaddr= on the kernel command
# line -> master (provisioning address, dnsmasq, recon-agent serve), otherwise
# peer (fetch post.tgz from the master, run it, power off).
# recon-media.service first lays out what the master serves from the medium;
# recon-data.service (master only) mounts, or makes, RECON-DATA for the inventories.
if [ -f /etc/systemd/system/recon.service ] || [ -f /usr/lib/systemd/system/recon.service ]; then
    systemctl enable recon-media.service recon-media-iso.service recon-data.service recon.service
else
    echo "config.sh: recon.service is missing from the overlay" >&2
    exit 1
fi
# dnsmasq must never answer DHCP on a peer's network: only the master's role
# logic starts it, with its own configuration.
systemctl disable dnsmasq.service
# No route to any package mirror in the field: no periodic apt jobs.
systemctl mask apt-daily.timer apt-daily-upgrade.timer
systemctl set-default multi-user.target

#======================================
# Identity: every node generates its own
#--------------------------------------
# An empty machine-id makes systemd create a fresh one on each boot (shared
# IDs would give every peer the same DHCP client identity).
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
ln -s /etc/machine-id /var/lib/dbus/machine-id

#======================================
# Console access
#--------------------------------------
# No password hash lives in the repository. kiwi/make-recipe-target writes
# one here only when RECON_ROOT_PASSWORD_HASH (or RECON_ROOT_PASSWORD) is set
# at build time; otherwise root stays locked.
hash_file=/var/lib/recon-build/root-password-hash
if [ -s "$hash_file" ]; then
    usermod -p "$(cat "$hash_file")" root
    echo "config.sh: root password set from the build-time variable"
else
    usermod -L root
    echo "config.sh: root account locked"
fi
rm -rf /var/lib/recon-build

#======================================
# Size, and no trace of the build machine's mirror
#--------------------------------------
apt-get clean
rm -rf /var/lib/apt/lists/*
# debootstrap wrote the build-time mirror here; the live image installs nothing.
rm -f /etc/apt/sources.list
