#!/bin/bash
# KIWI config.sh for the recon live image (openSUSE Leap 15.6, DracutLive).
# Runs inside the image root at build time, after the packages and the root
# overlay (plus what kiwi/make-recipe-target copied in) are installed.
set -eo pipefail

# KIWI's helper functions (suseInsertService, ...) and image variables.
# shellcheck source=/dev/null
test -f /.kconfig && . /.kconfig
# shellcheck source=/dev/null
test -f /.profile && . /.profile
set -u

echo "Configure image: [${kiwi_iname:-recon}]..."

#======================================
# Setup baseproduct link
#--------------------------------------
suseSetupProduct

#======================================
# Services
#--------------------------------------
# recon.service (replaces the original banghook.service) decides the role at
# boot: no pxeaddr= -> master, otherwise peer.
suseInsertService recon
# recon-media.service first lays out what the master serves from the medium.
suseInsertService recon-media
suseInsertService recon-media-iso
# recon-data.service (master only) mounts, or makes, RECON-DATA for the inventories.
suseInsertService recon-data
# dnsmasq is started by the master's role logic only, never on a peer.
suseRemoveService dnsmasq
baseSetRunlevel 3

#======================================
# Identity: every node generates its own
#--------------------------------------
: > /etc/machine-id

#======================================
# Console access
#--------------------------------------
# No password hash in the repository: kiwi/make-recipe-target writes one here
# only when RECON_ROOT_PASSWORD_HASH (or RECON_ROOT_PASSWORD) is set at build
# time; otherwise root stays locked.
hash_file=/var/lib/recon-build/root-password-hash
if [ -s "$hash_file" ]; then
    usermod -p "$(cat "$hash_file")" root
    echo "config.sh: root password set from the build-time variable"
else
    usermod -L root
    echo "config.sh: root account locked"
fi
rm -rf /var/lib/recon-build
