import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { machbus } from "./support/cli.js";

const REPO = fileURLToPath(new URL("..", import.meta.url));

describe("machbus run: machine-definition scripts and files", () => {
  it("docs/examples/lab-machine.ts: TypeScript with its own decorated device, no build step", () => {
    const r = machbus(["run", "docs/examples/lab-machine.ts", "info", "pci"]);
    expect([r.status, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toContain("    Class 65280: PCI device 1234:1ab0\n");
    expect(r.stdout).toContain('      id "counter"\n');
    // The loop put two NICs on the root bus and the third behind the bridge (bus 0 lists the bridge, not what is behind it).
    expect(r.stdout.match(/id "nic\d"/g)).toEqual(['id "nic0"', 'id "nic1"']);
    expect(machbus(["run", "docs/examples/lab-machine.ts"]).stdout).toBe(r.stdout);
  });

  it("the command after FILE takes its own options; the condition follows the environment", () => {
    const slots = machbus(["run", "docs/examples/lab-machine.ts", "slots", "--json"], undefined, { env: { LAB_NICS: "6" } });
    const report = JSON.parse(slots.stdout) as { allocator: string; buses: { bus: string; slots: { functions?: { id: string }[] }[] }[] };
    expect(report.allocator).toBe("irq-balance");
    const ids = report.buses.flatMap((b) => b.slots.flatMap((s) => (s.functions ?? []).map((f) => `${b.bus}/${f.id}`)));
    expect(ids).toEqual(expect.arrayContaining(["pci.0/nic1", "lab/nic5", "pci.0/disk", "pci.0/counter"]));
    const layout = machbus(["run", "docs/examples/lab-machine.ts", "layout", "--device", "rtl8139"]);
    expect(layout.status).toBe(0);
    expect(layout.stdout).toMatch(/^ {2}01:00\.0 +e1000,id=nic2 +BAR0 +mem +0x[0-9a-f]+ +128 KiB$/m);
    expect(layout.stdout).toMatch(/ rtl8139 +BAR0 +io /);
  });

  it("a YAML machine file runs like --config", () => {
    const dir = mkdtempSync(join(tmpdir(), "machbus-run-"));
    const file = join(dir, "m.yaml");
    writeFileSync(file, machbus(["dump-config", "--device", "e1000", "--allocator", "append-only"]).stdout);
    expect(machbus(["run", file, "slots"]).stdout).toBe(machbus(["slots", "--config", file]).stdout);
    expect(machbus(["run", file, "slots"]).stdout).toContain("allocation policy: append-only\n");
  });

  describe("errors name the script, and its line", () => {
    let dir: string;
    const script = (name: string, text: string): string => {
      writeFileSync(join(dir, name), text);
      return name;
    };
    const run = (...args: string[]) => machbus(["run", ...args], undefined, { cwd: dir });
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "machbus-scripts-"));
      writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
      mkdirSync(join(dir, "node_modules"));
      symlinkSync(REPO, join(dir, "node_modules", "machbus"));
    });

    it("a syntax error, a throw, a bad device spec: FILE:LINE, one line, exit 1", () => {
      const cases: [string, string, string][] = [
        [
          "syntax.ts",
          'const a: number = 1;\nexport default {\n  machine: "pc",\n  devices: [[,\n};\n',
          'machbus: syntax.ts:5:0: Unexpected "}"\n',
        ],
        [
          "throws.ts",
          'export default () => {\n  const n = 2;\n  if (n > 1) throw new RangeError("only one NIC");\n};\n',
          "machbus: throws.ts:3:20: RangeError: only one NIC\n",
        ],
        [
          "spec.ts",
          'export default {\n  devices: [\n    "e1000",\n    "e1000,addr=zz",\n  ],\n};\n',
          "machbus: spec.ts:4: -device e1000,addr=zz: Property 'e1000.addr' doesn't take value 'zz' (expected SLOT[.FUNCTION] in hex, slot 0-1f, function 0-7)\n",
        ],
        [
          "keys.ts",
          "export default { machine: 'pc', devcies: [] };\n",
          "machbus: keys.ts: the machine definition has unknown key 'devcies' (valid: machine, devices, globals, memory, allocator, drivers, policies, host, drives, clock, machineTypes)\n",
        ],
        [
          "none.js",
          "export const machine = {};\n",
          "machbus: none.js: no default export (export a machine definition, or a function returning one)\n",
        ],
        [
          "config.ts",
          "export default { machbus: 1, machine: { type: 'pc' }, devices: [{ driver: 'e1000', adr: '03.0' }] };\n",
          "machbus: config.ts: devices[0]: unknown key 'adr'\n",
        ],
      ];
      for (const [name, text, stderr] of cases) {
        const r = run(script(name, text));
        expect([r.status, r.stdout, r.stderr], name).toEqual([1, "", stderr]);
      }
    });

    it("a script's own policy that returns devfn 9999 or -5 is refused with its name", () => {
      const text = (devfn: number) => `import { allocationPolicy, type SlotAllocator } from "machbus";

@allocationPolicy({ name: "off-by-far", description: "answers nonsense", params: {} })
class OffByFar implements SlotAllocator {
  readonly name = "off-by-far";
  allocate(): number {
    return ${devfn};
  }
}

export default { allocator: "off-by-far", policies: [OffByFar], devices: ["e1000"] };
`;
      for (const devfn of [9999, -5]) {
        const r = run(script(`policy${devfn}.ts`, text(devfn)), "info", "pci");
        expect([r.status, r.stderr]).toEqual([
          1,
          `machbus: policy${devfn}.ts:11: -device e1000: allocation policy 'off-by-far' returned devfn ${devfn} for e1000: not a devfn (0-255: slot * 8 + function)\n`,
        ]);
      }
    });

    it("a script may build the machine itself; machine options then cannot change it", () => {
      const name = script(
        "built.ts",
        'import { Machine } from "machbus";\nexport default () => Machine.create({ devices: ["rtl8139,id=own"] });\n',
      );
      expect(run(name, "info", "pci").stdout).toContain('id "own"');
      expect(run(name, "info", "pci", "--device", "e1000").stderr).toBe(
        "machbus: built.ts built the machine itself; machine options cannot change it\n",
      );
    });

    it("a .ts script in a CommonJS package gets a hint to name it .mts", () => {
      const cjs = mkdtempSync(join(tmpdir(), "machbus-cjs-"));
      writeFileSync(join(cjs, "m.ts"), "export default { devices: ['e1000'] };\n");
      writeFileSync(join(cjs, "m.mts"), "export default { devices: ['e1000,id=mts'] };\n");
      expect(machbus(["run", "m.ts"], undefined, { cwd: cjs }).stderr).toBe(
        'machbus: m.ts: outside a package with "type": "module" a .ts script is CommonJS; name it .mts\n',
      );
      expect(machbus(["run", "m.mts"], undefined, { cwd: cjs }).stdout).toContain('id "mts"');
    });
  });
});
