import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Machine } from "../src/index.js";
import { formatQtree, sizeToString } from "../src/monitor/info-qtree.js";
import { Monitor } from "../src/monitor/monitor.js";
import { machbus } from "./support/cli.js";
import { QEMU_FIXTURES, QTREE_DIFFERENCES, machineFor, qtreeAsMachbusPrintsIt, readText } from "./support/qemu-fixtures.js";

/** The command line (and image sizes) each captured tree came from: a config scenario's or a drive scenario's. */
function scenario(name: string): { args: string[]; images?: Record<string, number> } {
  const config = `${QEMU_FIXTURES}config/${name}.json`;
  if (existsSync(config)) return JSON.parse(readFileSync(config, "utf8")) as { args: string[] };
  return JSON.parse(readFileSync(`${QEMU_FIXTURES}drives/${name}.json`, "utf8")) as { args: string[]; images: Record<string, number> };
}

const NAMES = readdirSync(`${QEMU_FIXTURES}qtree`)
  .filter((f) => f.endsWith(".txt"))
  .map((f) => f.slice(0, -".txt".length));

describe("info qtree", () => {
  it("covers the chipset, every catalogue device, bridges, drives on IDE and SCSI buses and the ISA bus", () => {
    for (const n of ["chipset", "virtio-scsi-pci@pc-i440fx-7.2", "bridge-devices", "drives-acceptance", "drives-scsi", "isa-debugcon"]) {
      expect(NAMES).toContain(n);
    }
  });

  for (const name of NAMES) {
    it(`${name}: the whole tree, system bus to drives, is the one QEMU 7.2 printed`, () => {
      let qemu = readText(`qtree/${name}.txt`);
      const ours = formatQtree(machineFor(scenario(name)));
      // Each rewrite changes QEMU's text and machbus's then equals it: so each difference is still there.
      for (const d of QTREE_DIFFERENCES.filter((k) => k.applies(qemu))) {
        const rewritten = d.rewrite(qemu);
        expect(rewritten, d.why).not.toBe(qemu);
        qemu = rewritten;
      }
      expect(ours.split("\n")).toEqual(qemu.split("\n"));
    });
  }

  it("issue 12's command line through the CLI, with real 1 MiB images, prints QEMU's tree (info qtree, and info devices too)", () => {
    const dir = mkdtempSync(join(tmpdir(), "machbus-qtree-"));
    try {
      for (const image of ["x.img", "y.img"]) {
        writeFileSync(join(dir, image), "");
        truncateSync(join(dir, image), 1024 * 1024);
      }
      const line = [
        "-drive",
        `if=ide,file=${dir}/x.img,index=1`,
        "-device",
        "lsi53c895a,id=s",
        "-device",
        "scsi-hd,bus=s.0,scsi-id=3,drive=d1",
        "-drive",
        `if=none,id=d1,file=${dir}/y.img`,
      ];
      const r = machbus(["info", "qtree", ...line]);
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(qtreeAsMachbusPrintsIt(readText("qtree/drives-acceptance.txt")));
      expect(machbus(["info", "devices", ...line]).stdout).toBe(r.stdout);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the monitor's info qtree is the CLI's", () => {
    const m = Machine.create({ devices: ["lsi53c895a,id=s", "scsi-cd,bus=s.0"] });
    expect(new Monitor(m).execute("info qtree").output).toBe(formatQtree(m));
    expect(machbus(["info", "qtree", "-device", "lsi53c895a,id=s", "-device", "scsi-cd,bus=s.0"]).stdout).toBe(formatQtree(m));
  });

  it("writes sizes as QEMU's size_to_str does: three significant digits, the unit switching at 1000", () => {
    const cases: [number, string][] = [
      [0, "0 B"],
      [512, "512 B"],
      [999, "999 B"],
      [1000, "0.977 KiB"],
      [4096, "4 KiB"],
      [2 ** 31, "2 GiB"],
      [2 ** 32 - 1, "4 GiB"],
      [1073741824 + 1, "1 GiB"],
    ];
    for (const [bytes, text] of cases) expect({ bytes, text: sizeToString(bytes) }).toEqual({ bytes, text });
    // and as the captured trees have them
    expect(readText("qtree/chipset.txt")).toContain("pci-hole64-size = 2147483648 (2 GiB)");
    expect(readText("qtree/drives-acceptance.txt")).toContain("discard_granularity = 4096 (4 KiB)");
  });
});
