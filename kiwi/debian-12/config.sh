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
# Secure Boot: the signed MokManager
#--------------------------------------
# KIWI copies /usr/lib/shim/mm*.efi next to the shim on the medium; that name
# is shim-unsigned's build, which shim refuses under Secure Boot. Debian's
# signed one (shim-helpers-amd64-signed) takes its place, under the name shim
# loads.
if [ -f /usr/lib/shim/mmx64.efi.signed ]; then
    install -m 0644 /usr/lib/shim/mmx64.efi.signed /usr/lib/shim/mmx64.efi
fi

#======================================
# Bytes per peer: what a peer or the master never uses
#--------------------------------------
# Every peer fetches the squashfs and the initrd over the network, so both
# carry only what an inventory or the master's boot uses (kiwi/README.md,
# "Bytes per peer"). The NIC, HBA and RAID drivers and every firmware file a
# remaining module requests stay (test/kiwi/firmware.test.ts checks them).

# Documentation, manuals, translations. The copyright files stay (the
# non-free firmware licences among them).
find /usr/share/doc -mindepth 1 \( -type f -o -type l \) ! -name copyright -delete
find /usr/share/doc -mindepth 1 -type d -empty -delete
rm -rf /usr/share/man /usr/share/info /usr/share/lintian /usr/share/linda
find /usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
# Perl's own library (47 MB unpacked, ~10 MB of the squashfs): lldpd's SNMP
# agent library links libperl, which stays, but nothing here runs a Perl
# script; perl-base (dpkg's and debconf's) stays whole.
rm -rf /usr/lib/x86_64-linux-gnu/perl/5.36* /usr/share/perl/5.36*

# Kernel modules no server inventory needs: sound, cameras and TV, GPUs other
# than the BMCs' and virtual machines' simple ones, radios, staging, USB gadget
# functions, KVM, file systems the stick never mounts. Kept: every
# NIC, storage, RAID/HBA, InfiniBand, IPMI, hwmon/EDAC, USB, virtio, TPM and
# EFI driver.
kver=$(ls /usr/lib/modules)
[ "$(echo "$kver" | wc -w)" -eq 1 ] || {
    echo "config.sh: expected one kernel in /usr/lib/modules, found: $kver" >&2
    exit 1
}
moddir=/usr/lib/modules/$kver
unneeded_modules=(
    sound drivers/media drivers/staging drivers/comedi drivers/soundwire drivers/usb/gadget drivers/isdn
    drivers/gpu/drm/amd drivers/gpu/drm/nouveau drivers/gpu/drm/radeon
    drivers/gpu/drm/i915 drivers/gpu/drm/gma500
    drivers/net/wireless drivers/net/wwan drivers/net/ieee802154 drivers/net/can
    drivers/net/hamradio drivers/bluetooth drivers/nfc drivers/gnss
    drivers/input/joystick drivers/input/touchscreen drivers/input/tablet
    net/wireless net/mac80211 net/bluetooth net/mac802154 net/ieee802154 net/nfc
    net/can net/ax25 net/netrom net/rose net/6lowpan net/batman-adv
    arch/x86/kvm
    fs/btrfs fs/xfs fs/ocfs2 fs/gfs2 fs/smb fs/nfs fs/nfsd fs/lockd
    fs/ceph fs/f2fs fs/jfs fs/reiserfs fs/nilfs2 fs/ntfs3 fs/ubifs fs/orangefs
    fs/afs fs/coda fs/9p fs/zonefs fs/hfs fs/hfsplus fs/ufs fs/omfs fs/befs
    fs/qnx4 fs/qnx6 fs/minix fs/sysv fs/romfs fs/adfs fs/affs fs/efs fs/freevxfs
    fs/hpfs fs/jffs2 fs/bfs fs/cramfs fs/erofs
)
for d in "${unneeded_modules[@]}"; do
    rm -rf "${moddir:?}/kernel/$d"
done
# What needed a removed module goes too (modprobe would fail on it), found in
# modules.dep as the package installed it (the removed ones are skipped), until nothing is left hanging; the
# drivers an inventory needs must never be among them (the build fails).
protected='^kernel/(drivers/(net/ethernet|scsi|message|ata|nvme|md|infiniband|char/ipmi|char/tpm|hwmon|edac|usb/(core|host|storage)|virtio|firmware|gpu/drm/(ast|mgag200))|arch/x86/crypto)/'
# (Each round removes files, so it ends.)
while :; do
    hanging=$(cd "$moddir" && find kernel -name '*.ko*' | awk -F': ?' '
        NR == FNR { present[$0] = 1; next }
        ($1 in present) { n = split($2, deps, " ")
          for (i = 1; i <= n; i++) if (!(deps[i] in present)) { print $1; break } }
    ' - modules.dep)
    [ -n "$hanging" ] || break
    if grep -E "$protected" <<<"$hanging"; then
        echo "config.sh: the modules above need a removed module: keep what they need" >&2
        exit 1
    fi
    echo "config.sh: removing modules that need removed ones:" "${hanging//$'\n'/ }"
    (cd "$moddir" && xargs rm -f <<<"$hanging")
done
depmod -a "$kver"

# Firmware: only the files a remaining module (or a driver built into the
# kernel) requests, with the links they go through. GPU, radio and Bluetooth
# firmware goes with their drivers.
fwdir=/usr/lib/firmware
declare -A keep_fw=()
while IFS= read -r fw; do
    [ -n "$fw" ] || continue
    for ext in "" .xz .zst; do
        path=$fwdir/$fw$ext
        hops=0
        while [ -L "$path" ] && [ "$hops" -lt 16 ]; do
            keep_fw[$path]=1
            target=$(readlink "$path")
            case $target in
            /*) path=$target ;;
            *) path=$(dirname "$path")/$target ;;
            esac
            hops=$((hops + 1))
        done
        [ -e "$path" ] && keep_fw[$(realpath "$path")]=1
    done
done < <(
    find "$moddir/kernel" -name '*.ko*' -print0 | xargs -0 modinfo -F firmware
    tr '\0' '\n' <"$moddir/modules.builtin.modinfo" | sed -n 's/^[^.]*\.firmware=//p'
)
removed_fw=0
while IFS= read -r -d '' f; do
    if [ -L "$f" ]; then
        [ -n "${keep_fw[$f]:-}" ] && continue
        # links to directories stay (a kept path may go through them)
        [ -d "$f" ] && continue
    else
        [ -n "${keep_fw[$(realpath "$f")]:-}" ] && continue
    fi
    rm -f "$f"
    removed_fw=$((removed_fw + 1))
done < <(find "$fwdir" \( -type f -o -type l \) -print0)
find "$fwdir" -mindepth 1 -type d -empty -delete
echo "config.sh: kernel $kver: removed ${#unneeded_modules[@]} module directories, $removed_fw firmware files nothing requests; kept ${#keep_fw[@]}"

# The initrd only boots: livenet over any NIC (every network driver and its
# firmware stay), or the master's stick or CD (USB, SATA/AHCI, NVMe, virtio).
# The HBA, RAID, InfiniBand and md RAID drivers load from the root, like every
# other driver, once udev runs there; dracut leaves them out by name
# (omit_drivers, names as kmod spells them).
boot_path_scsi='^(scsi_mod|scsi_common|sd_mod|sr_mod|sg|virtio_scsi|scsi_dh_.*|hv_storvsc|vmw_pvscsi|xen_scsifront)$'
{
    echo "# written by config.sh: drivers the live initrd does not need to boot"
    printf 'omit_drivers+=" '
    (cd "$moddir/kernel" && find drivers/scsi drivers/message drivers/infiniband drivers/target \
        drivers/md -name '*.ko*' 2>/dev/null) |
        sed -e 's|.*/||' -e 's|\.ko.*$||' -e 's|-|_|g' |
        grep -Ev "$boot_path_scsi" | grep -Ev '^(dm_.*|md_mod)$' | sort -u | tr '\n' ' '
    echo '"'
} >/etc/dracut.conf.d/90-recon-initrd-omit.conf

#======================================
# Size, and no trace of the build machine's mirror
#--------------------------------------
apt-get clean
rm -rf /var/lib/apt/lists/*
# debootstrap wrote the build-time mirror here; the live image installs nothing.
rm -f /etc/apt/sources.list
