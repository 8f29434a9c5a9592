import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  builtinPolicies,
  DEFAULT_POLICY,
  Machine,
  PciDevice,
  SLOT_ALLOCATOR,
  slotReport,
  type MachbusError,
  type PciBridgeDevice,
  type SlotAllocator,
} from "../src/index.js";
import { applyBarLayout } from "../src/layout/bar-layout.js";
import { machineOptionsFromConfig, parseMachineConfig } from "../src/state/machine-config.js";
import { launchChromium, serveMachine, type Browser, type Served } from "./support/browser.js";
import { machbus } from "./support/cli.js";

/** Screenshots go here (ignored by git); the test prints the path. */
const ARTIFACTS = fileURLToPath(new URL("./artifacts/", import.meta.url));

const BRIDGE_MACHINE = [
  "--device",
  "pci-bridge,id=br0,chassis_nr=1",
  "--device",
  "e1000",
  "--device",
  "virtio-net-pci,id=net1,bus=br0,addr=3",
];
const bridgeMachine = (): Machine =>
  Machine.create({ devices: ["pci-bridge,id=br0,chassis_nr=1", "e1000", "virtio-net-pci,id=net1,bus=br0,addr=3"] });

/** The functions the slot map draws: bus name, devfn, driver, and whether config cycles reach them. */
async function drawnFunctions(
  page: Page,
): Promise<{ bus: string; devfn: number; driver: string; busNumber: number; reachable: boolean }[]> {
  return page.$$eval(".slot-map .fn", (els) =>
    els.map((e) => {
      const d = (e as HTMLElement).dataset;
      return { bus: d.bus!, devfn: Number(d.devfn), driver: d.driver!, busNumber: Number(d.busNumber), reachable: d.reachable === "true" };
    }),
  );
}

/** The config-space grid's bytes, by offset. */
async function gridBytes(page: Page): Promise<number[]> {
  return page.$$eval(".config-grid td[data-offset]", (els) => els.map((e) => parseInt(e.textContent!, 16)));
}

function engineFunctions(m: Machine): { bus: string; devfn: number; driver: string }[] {
  return m
    .buses()
    .flatMap((bus) =>
      [...bus.functions].filter((f) => f !== undefined).map((f) => ({ bus: bus.name, devfn: f.devfn, driver: f.owner.driver })),
    );
}

async function openPage(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(url);
  await page.waitForSelector("body[data-ready]");
  return page;
}

describe("the web app in Chromium (machbus serve, playwright-core)", () => {
  let browser: Browser;
  let e1000: Served;
  let bridged: Served;
  let tmp: string;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "machbus-web-"));
    [browser, e1000, bridged] = await Promise.all([launchChromium(), serveMachine(["--device", "e1000"]), serveMachine(BRIDGE_MACHINE)]);
  });

  afterAll(async () => {
    await Promise.all([browser?.close(), e1000?.stop(), bridged?.stop()]);
    rmSync(tmp, { recursive: true, force: true });
  });

  it("machbus serve --device e1000: the page draws the slot map with the board's chips and the e1000 at 00:02.0", async () => {
    const page = await openPage(browser, e1000.url);
    const m = Machine.create({ devices: ["e1000"] });
    expect(await drawnFunctions(page)).toEqual(engineFunctions(m).map((f) => ({ ...f, busNumber: 0, reachable: true })));
    const slots = await page.$$eval(".slot-map .slot", (els) =>
      els.map((e) => ({
        bus: (e as HTMLElement).dataset.bus,
        slot: Number((e as HTMLElement).dataset.slot),
        state: (e as HTMLElement).dataset.state,
        hotplug: (e as HTMLElement).dataset.hotplug === "true",
      })),
    );
    expect(slots).toEqual(
      slotReport(m).buses.flatMap((b) => b.slots.map((s) => ({ bus: b.bus, slot: s.slot, state: s.state, hotplug: s.hotplug }))),
    );
    expect(await page.textContent('.slot[data-slot="2"]')).toContain("e1000");
    await page.click('.fn[data-driver="e1000"]');
    await page.waitForSelector(".config-grid");
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, "web-slot-map.png");
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot of the page (machbus serve --device e1000, e1000 selected): ${shot}`);
    await page.close();
  });

  it("the slot map shows the bridge's bus and its device, which config cycles do not reach until the bridge is numbered", async () => {
    const page = await openPage(browser, bridged.url);
    const m = bridgeMachine();
    const drawn = await drawnFunctions(page);
    expect(drawn.map(({ bus, devfn, driver }) => ({ bus, devfn, driver }))).toEqual(engineFunctions(m));
    expect(drawn.find((f) => f.driver === "virtio-net-pci")).toEqual({
      bus: "br0",
      devfn: 3 << 3,
      driver: "virtio-net-pci",
      busNumber: 0,
      reachable: false,
    });
    expect(await page.textContent('.bus[data-bus="br0"] .bus-note')).toContain("Config cycles do not reach it yet");
    await page.close();
  });

  it("clicking a function shows its config space: the bytes config cycles read, its masks, BARs and capability chain", async () => {
    const page = await openPage(browser, bridged.url);
    const m = bridgeMachine();
    const nic = m.findBus("pci.0").get(3 << 3)!;
    expect(nic.owner.driver).toBe("e1000");
    await page.click('.fn[data-bus="pci.0"][data-devfn="24"]');
    const cycles: number[] = [];
    for (let off = 0; off < 256; off += 4) {
      const v = m.configRead(0, nic.devfn, off);
      cycles.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
    }
    expect(await gridBytes(page)).toEqual(cycles);
    const classes = await page.$$eval(".config-grid td[data-offset]", (els) => els.map((e) => e.className.split(" ")[0]));
    const s = nic.space;
    expect(classes).toEqual([...s.wmask].map((w, i) => (s.w1cmask[i] ? "w1c" : w === 0xff ? "w-all" : w ? "w-some" : "ro")));
    expect(classes[0x06 + 1]).toBe("w1c"); // status error bits
    const bars = await page.$$eval(".bars tr[data-bar]", (rows) =>
      rows.map((r) => [Number((r as HTMLElement).dataset.bar), (r as HTMLElement).dataset.mapped]),
    );
    expect(bars).toEqual(nic.bars.filter((b) => b).map((b) => [b!.index, String(b!.mapped)]));

    await page.click('.fn[data-driver="pci-bridge"]');
    const bridge = m.findDevice("br0")!;
    const chain = await page.$$eval("li.cap", (els) => els.map((e) => Number((e as HTMLElement).dataset.offset)));
    expect(chain).toEqual(bridge.capabilities.list().map((c) => c.offset));
    expect(chain.length).toBeGreaterThan(0);

    // Behind the unnumbered bridge no config cycle reaches virtio-net: the grid shows the function's own bytes.
    await page.click('.fn[data-driver="virtio-net-pci"]');
    const net = m.findDevice("net1")!.function;
    expect(await gridBytes(page)).toEqual([...net.space.config.subarray(0, 256)]);
    expect(await page.textContent(".identity")).toContain("Config cycles do not reach it yet");
    await page.close();
  });

  it("device_add puts the device where the allocator says, shows the engine's refusal word for word, and device_del removes it", async () => {
    const page = await openPage(browser, bridged.url);
    const m = bridgeMachine();
    const expected = (m.addDevice("rtl8139,id=nic2") as PciDevice).function;

    await page.fill("#device-spec", "rtl8139,id=nic2");
    await page.waitForFunction(() => document.querySelector("#preview")!.textContent!.includes("would put it at"));
    const policy = m.container.resolve<SlotAllocator>(SLOT_ALLOCATOR).name;
    expect(
      await page.$$eval("#policy option", (els) => els.map((e) => [(e as HTMLOptionElement).value, (e as HTMLOptionElement).selected])),
    ).toContainEqual([policy, true]);
    // Every policy of the engine's catalogue is offered, the default first.
    const offered = await page.$$eval("#policy option", (els) => els.map((e) => (e as HTMLOptionElement).value));
    expect(offered[0]).toBe(DEFAULT_POLICY);
    expect([...offered].sort()).toEqual(builtinPolicies.names());
    expect(await page.textContent("#preview")).toBe(`${policy} would put it at bus pci.0, slot ${expected.devfn >> 3} function 0`);
    await page.click("#add-device");
    const added = await page.$eval('.slot-map .fn[data-id="nic2"]', (e) => ({
      bus: (e as HTMLElement).dataset.bus,
      devfn: Number((e as HTMLElement).dataset.devfn),
    }));
    expect(added).toEqual({ bus: "pci.0", devfn: expected.devfn });
    expect(await page.textContent("#status")).toBe(`device_add rtl8139,id=nic2: bus pci.0, slot ${expected.devfn >> 3} function 0`);
    expect(await page.$eval(".function-view h2", (e) => e.textContent)).toContain("rtl8139");

    let refusal = "";
    try {
      m.addDevice("e1000,addr=3");
    } catch (e) {
      refusal = (e as MachbusError).describe();
    }
    expect(refusal).toMatch(/^PCI: slot 3 function 0 not available for e1000, in use by e1000,id=/);
    const before = (await drawnFunctions(page)).length;
    await page.fill("#device-spec", "e1000,addr=3");
    await page.click("#add-device");
    expect(await page.textContent("#status")).toBe(refusal);
    expect(await page.getAttribute("#status", "class")).toBe("error");
    expect((await drawnFunctions(page)).length).toBe(before);

    await page.click('#device-list tr[data-id="nic2"] button.remove');
    m.removeDevice("nic2");
    expect((await drawnFunctions(page)).map(({ bus, devfn, driver }) => ({ bus, devfn, driver }))).toEqual(engineFunctions(m));
    expect(await page.textContent("#status")).toBe(`device_del nic2: removed rtl8139 at bus pci.0, slot ${expected.devfn >> 3} function 0`);
    await page.close();
  });

  it("guest config writes program the e1000's BARs; the BAR table and the address map show where they decode", async () => {
    const page = await openPage(browser, e1000.url);
    const m = Machine.create({ devices: ["e1000"] });
    const writes: [number, 1 | 2 | 4, number][] = [
      [0x10, 4, 0xfebc0000],
      [0x14, 4, 0xc000],
      [0x04, 2, 0x0003],
    ];
    await page.click('.fn[data-driver="e1000"]');
    for (const [offset, size, value] of writes) {
      m.configWrite(0, 2 << 3, offset, size, value);
      await page.fill(".write-form input[name=offset]", `0x${offset.toString(16)}`);
      await page.selectOption(".write-form select[name=size]", String(size));
      await page.fill(".write-form input[name=value]", `0x${value.toString(16)}`);
      await page.click('.write-form button[type="submit"]');
      expect(await page.getAttribute("#status", "class")).toBe("ok");
    }
    const nic = m.findBus("pci.0").get(2 << 3)!;
    const mmio = nic.bars[0]!;
    const io = nic.bars[1]!;
    expect([mmio.address, io.address]).toEqual([0xfebc0000n, 0xc000n]);
    expect(await page.textContent('.bars tr[data-bar="0"]')).toContain(`0x${mmio.address.toString(16)} mapped`);
    expect(await page.textContent('.bars tr[data-bar="1"]')).toContain(`0x${io.address.toString(16)} mapped`);
    const bars = await page.$$eval(".address-map tr.bar", (rows) =>
      rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent)),
    );
    expect(bars).toEqual([
      ["0xc000", "0xc03f", "64 B", "BAR", "e1000 (00:02.0) BAR1 e1000-io"],
      ["0xfebc0000", "0xfebdffff", "128 KiB", "BAR", "e1000 (00:02.0) BAR0 e1000-mmio"],
    ]);
    expect(await gridBytes(page).then((b) => b.slice(0x10, 0x18))).toEqual([...nic.space.config.subarray(0x10, 0x18)]);
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, "web-address-map.png");
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot with the e1000's BARs programmed: ${shot}`);
    await page.close();
  });

  it("a bridge's programmed memory window appears in the address map as the engine opens it", async () => {
    const page = await openPage(browser, bridged.url);
    const m = bridgeMachine();
    const bridge = m.findDevice("br0") as PciBridgeDevice;
    await page.click('.fn[data-driver="pci-bridge"]');
    for (const [offset, value] of [
      [0x20, 0xfe00],
      [0x22, 0xfe00],
      [0x04, 0x0002],
    ] as const) {
      m.configWrite(0, bridge.function.devfn, offset, 2, value);
      await page.fill(".write-form input[name=offset]", `0x${offset.toString(16)}`);
      await page.selectOption(".write-form select[name=size]", "2");
      await page.fill(".write-form input[name=value]", `0x${value.toString(16)}`);
      await page.click('.write-form button[type="submit"]');
    }
    const open = bridge.windowsNow().filter((w) => w.enabled && w.base <= w.limit);
    expect(open.map((w) => w.kind)).toContain("memory");
    const rows = await page.$$eval(".address-map tr.window", (trs) =>
      trs.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent)),
    );
    expect(rows.map((r) => [r[0], r[1], r[4]]).sort()).toEqual(
      open
        .map((w) => [`0x${w.base.toString(16)}`, `0x${w.limit.toString(16)}`, `pci-bridge,id=br0 (00:02.0) ${w.kind} window to br0`])
        .sort(),
    );
    expect(await page.textContent(".bridge-summary")).toContain("memory 0xfe000000-0xfe0fffff");
    await page.close();
  });

  it("'Assign BARs as firmware does' numbers the bridge and programs every BAR and window as the engine's applyBarLayout does", async () => {
    const page = await openPage(browser, bridged.url);
    const m = bridgeMachine();
    const layout = applyBarLayout(m);
    await page.click(".address-map button.layout");
    expect(await page.getAttribute("#status", "class")).toBe("ok");
    const drawn = await page.$$eval(".address-map tr.bar", (rows) => rows.map((r) => r.querySelector("td")!.textContent!));
    const decoding = m
      .buses()
      .flatMap((bus) => [...bus].flatMap((fn) => fn.bars.filter((b) => b?.mapped).map((b) => `0x${b!.address.toString(16)}`)));
    expect(drawn.sort()).toEqual(decoding.sort());
    // Every BAR the plan placed decodes at its address, ROMs aside (firmware leaves them disabled).
    const placed = layout.bars.filter((b) => b.bar !== 6).map((b) => `0x${b.address.toString(16)}`);
    expect(drawn.sort()).toEqual(placed.sort());
    // The device behind the bridge is reachable now: firmware numbered the bridge's bus.
    const behind = (await drawnFunctions(page)).find((f) => f.driver === "virtio-net-pci")!;
    expect([behind.busNumber, behind.reachable]).toEqual([m.findBus("br0").number, true]);
    expect(behind.busNumber).toBe(1);
    await page.close();
  });

  it("the exported machine file is what machbus dump-config writes for the same machine", async () => {
    const page = await openPage(browser, e1000.url);
    for (const [button, args] of [
      ["#export-yaml", []],
      ["#export-json", ["--json"]],
    ] as const) {
      const [download] = await Promise.all([page.waitForEvent("download"), page.click(button)]);
      expect(readFileSync((await download.path())!, "utf8")).toBe(machbus(["dump-config", ...args, "--device", "e1000"]).stdout);
    }
    await page.close();
  });

  it("a device without an id is removed by rebuilding from the machine file without it; no other device moves", async () => {
    const page = await openPage(browser, bridged.url);
    const before = await drawnFunctions(page);
    await page.click('#device-list tr[data-driver="e1000"] button.remove');
    expect(await page.textContent("#status")).toBe(
      "removed e1000 at bus pci.0, slot 3 function 0 (it has no id: the machine was rebuilt from its machine file without it)",
    );
    expect(await drawnFunctions(page)).toEqual(before.filter((f) => f.driver !== "e1000"));
    await page.close();
  });

  it("a command line the engine refuses leaves the page's machine as it was and shows the engine's message", async () => {
    const page = await openPage(browser, bridged.url);
    let refusal = "";
    try {
      Machine.create({ devices: ["nosuch"] });
    } catch (e) {
      refusal = (e as MachbusError).describe();
    }
    const before = await drawnFunctions(page);
    await page.fill("#command-line", "-M pc -device nosuch");
    await page.click('#command-line-form button[type="submit"]');
    expect(await page.textContent("#status")).toBe(refusal);
    expect(await drawnFunctions(page)).toEqual(before);
    await page.close();
  });

  it("a dump-config file loaded through the file picker shows the same functions as machbus info pci for it", async () => {
    const dump = machbus([
      "dump-config",
      "--device",
      "pci-bridge,id=br0,chassis_nr=1",
      "--device",
      "e1000,addr=06.0,multifunction=on",
      "--device",
      "rtl8139,addr=06.1",
      "--device",
      "virtio-net-pci,bus=br0,addr=2",
      "--device",
      "VGA",
    ]);
    expect(dump.status).toBe(0);
    const file = join(tmp, "m.yaml");
    writeFileSync(file, dump.stdout);
    const info = machbus(["info", "pci", "--config", file]);
    expect(info.status).toBe(0);
    const listed = [...info.stdout.matchAll(/^ {2}Bus +(\d+), device +(\d+), function (\d+):$/gm)].map((g) => `${g[1]}:${g[2]}.${g[3]}`);
    expect(listed.length).toBeGreaterThan(6);

    const page = await openPage(browser, e1000.url);
    await page.setInputFiles("#machine-file", file);
    await page.waitForFunction(() => document.querySelector("#status")!.textContent === "loaded m.yaml");
    const drawn = await drawnFunctions(page);
    expect(drawn.filter((f) => f.reachable).map((f) => `${f.busNumber}:${f.devfn >> 3}.${f.devfn & 7}`)).toEqual(listed);
    // The one function info pci cannot list is the device behind the bridge no firmware numbered.
    const m = Machine.create(machineOptionsFromConfig(parseMachineConfig(dump.stdout, file), file));
    expect(drawn.map(({ bus, devfn, driver }) => ({ bus, devfn, driver }))).toEqual(engineFunctions(m));
    expect(drawn.filter((f) => !f.reachable).map((f) => f.driver)).toEqual(["virtio-net-pci"]);
    expect(await page.textContent("#machine-title")).toContain("m.yaml");

    // The same machine as JSON, dropped on the page.
    const json = machbus(["dump-config", "--json", "--config", file]);
    const dataTransfer = await page.evaluateHandle((text) => {
      const dt = new DataTransfer();
      dt.items.add(new File([text], "m.json", { type: "application/json" }));
      return dt;
    }, json.stdout);
    await page.dispatchEvent("body", "drop", { dataTransfer });
    await page.waitForFunction(() => document.querySelector("#status")!.textContent === "loaded m.json");
    expect(await drawnFunctions(page)).toEqual(drawn);
    await page.close();
  });

  it("machbus serve hands out the page's files and machine.json only, and refuses a bad machine before it listens", async () => {
    const machine = (await (await fetch(new URL("machine.json", bridged.url))).json()) as { commandLine: string };
    expect(machine.commandLine).toBe(BRIDGE_MACHINE.join(" "));
    expect((await fetch(new URL("index.html", bridged.url))).status).toBe(200);
    for (const path of ["../package.json", "%2e%2e/%2e%2e/package.json", "src/cli/serve.ts", "%zz"]) {
      expect([path, (await fetch(`${bridged.url}${path}`)).status]).toEqual([path, path === "%zz" ? 400 : 404]);
    }
    expect((await fetch(bridged.url, { method: "POST" })).status).toBe(405);
    const bad = machbus(["serve", "--port", "0", "--device", "nosuch"]);
    expect([bad.status, bad.stdout, bad.stderr.split("\n").length]).toEqual([1, "", 2]);
    expect(bad.stderr).toMatch(/^machbus: -device nosuch: 'nosuch' is not a valid device model name/);
  });

  it("the page threw no uncaught error", () => {
    expect(browser.pageErrors).toEqual([]);
  });
});
