// Secure Boot of the BUILT live image (kiwi/debian-12, issue 15), read from the ISO itself, no
// QEMU (the image lab boots it): the EFI loader the firmware starts, on the ISO9660 volume and in
// the El Torito EFI image (the FAT file system a CD or USB boot reads), is Debian's shim signed
// by Microsoft's UEFI CA, byte for byte the image root's /usr/lib/shim/shimx64.efi.signed; the
// GRUB next to it is grub-efi-amd64-signed's grubx64.efi.signed (signed by Debian's CA), whose
// built-in prefix EFI/debian holds a grub.cfg; the kernel is signed by Debian. The signatures are
// read from the PE files' certificate tables (Authenticode); the signed files the master serves
// for PXE (shimx64.efi.signed, grubnetx64.efi.signed) are in the image root.
// Which ISO, and when it is built or skipped: built-image.ts.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { underCI } from "../support/ci.ts";
import { extractFromIso, extractRoot, locateBuiltIso, sh } from "./built-image.ts";

type PeSignature =
  | { signed: true; certificateType: number; blob: Buffer }
  | { signed: false; why: string };

/**
 * The Authenticode signature of a PE/COFF file (an EFI binary, a bzImage kernel): the
 * certificate table, data directory entry 4 of the optional header, a file offset and size, its
 * first entry a WIN_CERTIFICATE (dwLength, wRevision, wCertificateType 2 = PKCS#7 signed data)
 * followed by the DER of the signature, which names the signer's and issuer's certificates.
 */
function peSignature(file: Buffer): PeSignature {
  if (file.length < 0x40 || file.toString("latin1", 0, 2) !== "MZ")
    return { signed: false, why: "no MZ header" };
  const pe = file.readUInt32LE(0x3c);
  if (pe + 24 > file.length || file.toString("latin1", pe, pe + 4) !== "PE\0\0")
    return { signed: false, why: "no PE header" };
  const optional = pe + 24;
  const magic = file.readUInt16LE(optional);
  // PE32+ (0x20b): data directories at 112; PE32 (0x10b): at 96.
  const directories = magic === 0x20b ? optional + 112 : magic === 0x10b ? optional + 96 : -1;
  if (directories < 0) return { signed: false, why: `optional header magic ${magic}` };
  const entry = directories + 4 * 8;
  if (entry + 8 > file.length) return { signed: false, why: "no certificate table entry" };
  const offset = file.readUInt32LE(entry);
  const size = file.readUInt32LE(entry + 4);
  if (size === 0) return { signed: false, why: "empty certificate table" };
  if (offset + size > file.length || size < 8)
    return { signed: false, why: "certificate table outside the file" };
  const length = file.readUInt32LE(offset);
  const certificateType = file.readUInt16LE(offset + 6);
  return {
    signed: true,
    certificateType,
    blob: file.subarray(offset + 8, offset + Math.min(length, size)),
  };
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** Asserts FILE is signed by PKCS#7 and its signature names every one of NAMES. */
function assertSignedBy(label: string, file: Buffer, names: string[]) {
  const sig = peSignature(file);
  assert.ok(sig.signed, `${label}: not signed (${sig.signed ? "" : sig.why})`);
  assert.equal(sig.certificateType, 2, `${label}: certificate type is not PKCS#7 signed data`);
  const text = sig.blob.toString("latin1");
  for (const name of names)
    assert.ok(text.includes(name), `${label}: signature does not name ${name}`);
}

const MICROSOFT_UEFI_CA = "Microsoft Corporation UEFI CA 2011";
const DEBIAN_CA = "Debian Secure Boot CA";

const found = locateBuiltIso([
  ["unsquashfs", "squashfs-tools"],
  ["debugfs", "e2fsprogs"],
  ["mcopy", "mtools"],
]);
const why = "why" in found ? found.why : null;
const skip = why && !underCI ? why : false;
const scratch = mkdtempSync(join(tmpdir(), "recon-secure-boot-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe("the built image boots under Secure Boot", { skip }, () => {
  test("the ISO's EFI loader is Debian's signed shim, then signed GRUB and a signed kernel", (t) => {
    if (why || !("iso" in found)) assert.fail(`no image to check: ${why}`);
    const iso = found.iso;
    const media = join(scratch, "media");
    mkdirSync(media);
    const onIso = {
      "/EFI/BOOT/bootx64.efi": join(media, "bootx64.efi"),
      "/EFI/BOOT/grubx64.efi": join(media, "grubx64.efi"),
      "/EFI/debian/grub.cfg": join(media, "debian-grub.cfg"),
      "/boot/x86_64/loader/linux": join(media, "linux"),
    };
    const x = extractFromIso(iso, onIso);
    assert.equal(x.status, 0, x.out);
    for (const [from, to] of Object.entries(onIso))
      assert.ok(existsSync(to), `${from} is not on the ISO`);

    const rootDirs = ["/usr/lib/shim", "/usr/lib/grub/x86_64-efi-signed"];
    const extracted = extractRoot(iso, scratch, rootDirs);
    if ("failed" in extracted) assert.fail(extracted.failed);
    const inRoot = (p: string) => join(extracted.root, p);
    for (const p of [
      "usr/lib/shim/shimx64.efi.signed",
      "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed",
      "usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed",
    ])
      assert.ok(existsSync(inRoot(p)), `the image root lacks /${p} (the master serves it for PXE)`);

    const shim = readFileSync(inRoot("usr/lib/shim/shimx64.efi.signed"));
    const grub = readFileSync(inRoot("usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"));
    assertSignedBy("shimx64.efi.signed", shim, [MICROSOFT_UEFI_CA]);
    assertSignedBy("grubx64.efi.signed", grub, [DEBIAN_CA]);
    assertSignedBy(
      "grubnetx64.efi.signed",
      readFileSync(inRoot("usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed")),
      [DEBIAN_CA],
    );

    // The ISO9660 tree, which the El Torito image mirrors.
    const bootx64 = readFileSync(onIso["/EFI/BOOT/bootx64.efi"]);
    assert.equal(sha256(bootx64), sha256(shim), "EFI/BOOT/bootx64.efi is not shimx64.efi.signed");
    assert.equal(
      sha256(readFileSync(onIso["/EFI/BOOT/grubx64.efi"])),
      sha256(grub),
      "EFI/BOOT/grubx64.efi is not grubx64.efi.signed",
    );
    // The signed GRUB's built-in prefix is /EFI/debian: its grub.cfg finds the medium by
    // KIWI's id file and goes on to the boot menu.
    const debianCfg = readFileSync(onIso["/EFI/debian/grub.cfg"], "utf8");
    assert.match(debianCfg, /search --file --set=root \/boot\/0x[0-9a-f]+/);
    assert.match(debianCfg, /configfile \(\$root\)\/boot\/grub\/grub\.cfg/);
    assertSignedBy("the kernel", readFileSync(onIso["/boot/x86_64/loader/linux"]), [DEBIAN_CA]);

    // The El Torito EFI boot image: the FAT file system the firmware reads.
    const bootImages = join(scratch, "boot-images");
    mkdirSync(bootImages);
    const b = sh("xorriso", ["-osirrox", "on", "-indev", iso, "-extract_boot_images", bootImages]);
    assert.equal(b.status, 0, b.out);
    const efiImage = join(bootImages, "eltorito_img2_uefi.img");
    assert.ok(existsSync(efiImage), `no El Torito EFI image: ${b.out}`);
    for (const [name, expected] of [
      ["bootx64.efi", shim],
      ["grubx64.efi", grub],
    ] as const) {
      const out = join(scratch, `fat-${name}`);
      const m = sh("mcopy", ["-n", "-i", efiImage, `::/EFI/BOOT/${name}`, out]);
      assert.equal(m.status, 0, `${name} in the El Torito EFI image: ${m.out}`);
      assert.equal(
        sha256(readFileSync(out)),
        sha256(expected),
        `the El Torito EFI image's EFI/BOOT/${name} differs from the signed one`,
      );
    }
    const cfg = join(scratch, "fat-debian-grub.cfg");
    const m = sh("mcopy", ["-n", "-i", efiImage, "::/EFI/debian/grub.cfg", cfg]);
    assert.equal(m.status, 0, `EFI/debian/grub.cfg in the El Torito EFI image: ${m.out}`);
    t.diagnostic(
      `shim ${shim.length} bytes (sha256 ${sha256(shim).slice(0, 16)}), grub ${grub.length} bytes, ` +
        `kernel signed; El Torito EFI image ${readFileSync(efiImage).length} bytes`,
    );
  });
});
