import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { isReconError } from "../../agent/errors.ts";
import {
  bootAssetsCommand,
  parseBootAssetsArgs,
  writeBootAssets,
} from "../../agent/master/boot-assets.ts";
import { renderDnsmasqConf } from "../../packaging/dnsmasq.ts";
import { renderGrubCfg, renderMenuIpxe } from "../../packaging/menu.ts";

const dir = mkdtempSync(join(tmpdir(), "recon-boot-assets-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const ARGS = [
  "--interface",
  "eth0",
  "--address",
  "10.13.37.1/24",
  "--tftp-root",
  "/run/recon/tftp",
  "--lease-file",
  "/run/recon/dnsmasq.leases",
];

describe("boot-assets", () => {
  it("--dhcp-script puts dnsmasq's dhcp-script line in, and a relative path is refused", async () => {
    const conf = join(dir, "dnsmasq-hook.conf");
    const hook = "/usr/lib/recon/dnsmasq-hook.sh";
    await writeBootAssets(
      parseBootAssetsArgs([...ARGS, "--dnsmasq-out", conf, "--dhcp-script", hook]),
    );
    const lines = readFileSync(conf, "utf8").split("\n");
    assert.ok(lines.includes(`dhcp-script=${hook}`), lines.join("\n"));
    await assert.rejects(
      writeBootAssets(
        parseBootAssetsArgs([...ARGS, "--dnsmasq-out", conf, "--dhcp-script", "hook.sh"]),
      ),
      (error: unknown) => isReconError(error) && /dhcpScript/.test(error.message),
    );
  });

  it("writes the dnsmasq.conf and menu.ipxe the generators render, with derived defaults", async () => {
    const conf = join(dir, "dnsmasq.conf");
    const menu = join(dir, "menu.ipxe");
    const options = parseBootAssetsArgs([
      ...ARGS,
      "--dnsmasq-out",
      conf,
      "--menu-out",
      menu,
      "--image-name",
      "recon",
      "--image-version",
      "1.0.0",
      "--kernel",
      "linux",
      "--initrd",
      "initrd",
      "--kernel-arg",
      "rd.shell",
    ]);
    assert.deepEqual(await writeBootAssets(options), [conf, menu]);
    assert.equal(
      readFileSync(conf, "utf8"),
      renderDnsmasqConf({
        interface: "eth0",
        address: "10.13.37.1",
        netmask: "255.255.255.0",
        dhcpRange: ["10.13.37.100", "10.13.37.250"],
        tftpRoot: "/run/recon/tftp",
        httpBase: "http://10.13.37.1",
        leaseFile: "/run/recon/dnsmasq.leases",
      }),
    );
    assert.equal(
      readFileSync(menu, "utf8"),
      renderMenuIpxe({
        master: "10.13.37.1",
        imageName: "recon",
        imageVersion: "1.0.0",
        kernel: "linux",
        initrd: "initrd",
        extraArgs: ["rd.shell"],
      }),
    );
  });

  it("writes grub.cfg with menu.ipxe's image and arguments, shim and the arm64 loader in dnsmasq.conf", async () => {
    const conf = join(dir, "sb-dnsmasq.conf");
    const menu = join(dir, "sb-menu.ipxe");
    const grub = join(dir, "sb-grub.cfg");
    const image = [
      "--image-name",
      "recon",
      "--image-version",
      "0.1.0",
      "--kernel",
      "linux",
      "--initrd",
      "initrd",
      "--squashfs-path",
      "install/recon/squashfs.img",
    ];
    const options = parseBootAssetsArgs([
      ...ARGS,
      "--dnsmasq-out",
      conf,
      "--efi-file",
      "shimx64.efi",
      "--efi-aarch64-file",
      "grubaa64.efi",
      "--menu-out",
      menu,
      "--grub-cfg-out",
      grub,
      ...image,
      "--aarch64-path",
      "install/recon/aarch64",
      "--extra-arg",
      "nowatchdog",
      "--extra-arg",
      "console=ttyS1,57600",
    ]);
    assert.deepEqual(await writeBootAssets(options), [conf, menu, grub]);
    const same = {
      master: "10.13.37.1",
      imageName: "recon",
      imageVersion: "0.1.0",
      kernel: "linux",
      initrd: "initrd",
      squashfsPath: "install/recon/squashfs.img",
      extraArgs: ["nowatchdog", "console=ttyS1,57600"],
    };
    assert.equal(readFileSync(menu, "utf8"), renderMenuIpxe(same));
    assert.equal(
      readFileSync(grub, "utf8"),
      renderGrubCfg({ ...same, aarch64Path: "install/recon/aarch64" }),
    );
    const text = readFileSync(conf, "utf8");
    assert.match(text, /^dhcp-boot=tag:!ipxe,tag:efi-x86_64,shimx64\.efi,master,10\.13\.37\.1$/m);
    assert.match(text, /^dhcp-boot=tag:!ipxe,tag:efi-arm64,grubaa64\.efi,master,10\.13\.37\.1$/m);
    // grub.cfg alone is enough to ask for
    const only = join(dir, "only-grub.cfg");
    assert.deepEqual(
      await writeBootAssets(parseBootAssetsArgs([...ARGS, "--grub-cfg-out", only, ...image])),
      [only],
    );
  });

  it("takes an explicit DHCP range", async () => {
    const conf = join(dir, "range.conf");
    await writeBootAssets(
      parseBootAssetsArgs([
        ...ARGS,
        "--dnsmasq-out",
        conf,
        "--dhcp-range",
        "10.13.37.10,10.13.37.20",
      ]),
    );
    assert.match(readFileSync(conf, "utf8"), /^dhcp-range=10\.13\.37\.10,10\.13\.37\.20,/m);
  });

  const usage: [string, string[]][] = [
    ["nothing to write", ARGS],
    [
      "missing --interface",
      ["--address", "10.0.0.1/24", "--tftp-root", "/x", "--dnsmasq-out", "/x"],
    ],
    ["unknown flag", [...ARGS, "--dnsmasq-out", "/x", "--bogus"]],
    ["menu without image", [...ARGS, "--menu-out", join(dir, "m")]],
    ["grub.cfg without image", [...ARGS, "--grub-cfg-out", join(dir, "g")]],
    [
      "bad arm64 loader name",
      [...ARGS, "--dnsmasq-out", join(dir, "b"), "--efi-aarch64-file", "../x"],
    ],
    [
      "a peer argument boot-assets refuses (a peer-args line with a space)",
      [
        ...ARGS,
        "--grub-cfg-out",
        join(dir, "g"),
        "--image-name",
        "r",
        "--image-version",
        "1",
        "--kernel",
        "k",
        "--initrd",
        "i",
        "--extra-arg",
        "a b $(reboot)",
      ],
    ],
    [
      "bad interface",
      ["--interface", "eth0\nx", ...ARGS.slice(2), "--dnsmasq-out", join(dir, "b")],
    ],
    [
      "bad address",
      [
        "--interface",
        "eth0",
        "--address",
        "10.0.0.1",
        "--tftp-root",
        "/x",
        "--dnsmasq-out",
        join(dir, "b"),
      ],
    ],
    [
      "bad kernel arg",
      [
        ...ARGS,
        "--menu-out",
        join(dir, "m"),
        "--image-name",
        "r",
        "--image-version",
        "1",
        "--kernel",
        "k",
        "--initrd",
        "i",
        "--kernel-arg",
        "a b",
      ],
    ],
  ];
  for (const [name, argv] of usage) {
    it(`is a usage error: ${name}`, async () => {
      await assert.rejects(bootAssetsCommand(argv), (e: unknown) => {
        assert.ok(isReconError(e));
        assert.equal(e.code, "E_USAGE");
        return true;
      });
    });
  }

  it("is an I/O error when the file cannot be written", async () => {
    await assert.rejects(
      bootAssetsCommand([...ARGS, "--dnsmasq-out", "/nonexistent/dir/dnsmasq.conf"]),
      (e: unknown) => isReconError(e) && e.code === "E_IO",
    );
  });
});
