import { PciDevice, driverInfo, isMachbusError, type PciFunction } from "machbus";
import { parseCommandLine } from "./command-line.js";
import { fill, h } from "./dom.js";
import { machinePolicy, policyChoices } from "./engine-features.js";
import { EXAMPLES } from "./examples.js";
import { Session, where, type MachineSource, type Outcome } from "./session.js";
import { addressMap } from "./views/address-map.js";
import { deviceList } from "./views/device-list.js";
import { functionView } from "./views/function-view.js";
import { slotMap, type Selection } from "./views/slot-map.js";

/** What `machbus serve` hands the page (src/cli/serve.ts). */
interface StartupMachine {
  readonly title: string;
  readonly commandLine: string | null;
  readonly options: MachineSource["options"];
}

interface State {
  session: Session | null;
  selected: Selection | null;
  showExtended: boolean;
}

const state: State = { session: null, selected: null, showExtended: false };

// ---- the parts that stay (inputs keep their text and focus), then the parts render() redraws ----

const title = h("span", { id: "machine-title" });
const status = h("div", { id: "status", role: "status" });
const commandLine = h("input", {
  id: "command-line",
  type: "text",
  spellcheck: "false",
  placeholder: "-M pc -device e1000,addr=5 -device pci-bridge,id=br0,chassis_nr=1",
  "aria-label": "command line",
});
const examples = h(
  "select",
  { id: "examples", "aria-label": "example machines" },
  h("option", { value: "" }, "Examples…"),
  EXAMPLES.map((e, i) => h("option", { value: i }, e.name)),
);
const fileInput = h("input", { id: "machine-file", type: "file", accept: ".yaml,.yml,.json,application/json,text/yaml" });
const specInput = h("input", {
  id: "device-spec",
  type: "text",
  spellcheck: "false",
  list: "drivers",
  placeholder: "e1000,addr=7 or virtio-net-pci,bus=br0",
  "aria-label": "device spec",
});
const drivers = h("datalist", { id: "drivers" });
const policy = h("select", { id: "policy", "aria-label": "allocation policy" });
const policyParams = h("input", {
  id: "policy-params",
  type: "text",
  size: 12,
  placeholder: "key=value,…",
  "aria-label": "policy parameters",
  hidden: true,
});
const preview = h("p", { id: "preview", class: "preview" });
const slotMapBox = h("div", { id: "slot-map-box" });
const deviceListBox = h("div", { id: "device-list-box" });
const functionBox = h("div", { id: "function-box" });
const addressMapBox = h("div", { id: "address-map-box" });

document
  .getElementById("app")!
  .replaceWith(
    h(
      "div",
      { id: "app" },
      h("header", {}, h("h1", {}, "machbus"), title),
      h(
        "section",
        { class: "load" },
        h(
          "form",
          { id: "command-line-form", onsubmit: (e: Event) => (e.preventDefault(), loadCommandLine(commandLine.value, null)) },
          commandLine,
          h("button", { type: "submit" }, "Build"),
        ),
        examples,
        h("label", { class: "file", title: "a YAML or JSON machine file, as machbus dump-config writes it" }, "Machine file: ", fileInput),
        h("span", { class: "hint" }, "or drop one on the page"),
        h(
          "span",
          { class: "export" },
          "Export machine file: ",
          h("button", { id: "export-yaml", onclick: () => exportFile("yaml") }, "YAML"),
          h("button", { id: "export-json", onclick: () => exportFile("json") }, "JSON"),
        ),
      ),
      status,
      h(
        "main",
        {},
        h(
          "div",
          { class: "column" },
          slotMapBox,
          h(
            "section",
            { class: "devices" },
            h("h2", {}, "Devices"),
            h(
              "form",
              { id: "add-form", onsubmit: (e: Event) => (e.preventDefault(), addDevice()) },
              specInput,
              drivers,
              h("button", { type: "submit", id: "add-device" }, "device_add"),
              h("label", {}, " allocation policy ", policy),
              policyParams,
            ),
            preview,
            deviceListBox,
          ),
        ),
        h("div", { class: "column" }, functionBox, addressMapBox),
      ),
    ),
  );

examples.addEventListener("change", () => {
  const example = EXAMPLES[Number(examples.value)];
  if (example) loadCommandLine(example.commandLine, example.name);
  examples.value = "";
});
fileInput.addEventListener("change", () => {
  const file = fileInput.files?.[0];
  if (file) void loadFile(file);
  fileInput.value = "";
});
window.addEventListener("dragover", (e) => {
  e.preventDefault();
  document.body.classList.add("dropping");
});
window.addEventListener("dragleave", () => document.body.classList.remove("dropping"));
window.addEventListener("drop", (e) => {
  e.preventDefault();
  document.body.classList.remove("dropping");
  const file = e.dataTransfer?.files[0];
  if (file) void loadFile(file);
});
let previewTimer = 0;
specInput.addEventListener("input", () => {
  clearTimeout(previewTimer);
  previewTimer = window.setTimeout(showPreview, 150);
});
policy.addEventListener("change", () => changePolicy());
policyParams.addEventListener("change", () => changePolicy());

// ---- actions: each asks the engine and shows its answer, or its refusal in its own words ----

function loadCommandLine(text: string, name: string | null): void {
  attempt(() => {
    const session = Session.start({ title: name ?? text, options: parseCommandLine(text), commandLine: text }, null);
    commandLine.value = text;
    state.selected = null;
    return { session, message: `built: ${name ?? text}` };
  });
}

async function loadFile(file: File): Promise<void> {
  const text = await file.text();
  attempt(() => {
    const session = Session.fromFile(file.name, text);
    state.selected = null;
    return { session, message: `loaded ${file.name}` };
  });
}

function addDevice(): void {
  const spec = specInput.value.trim();
  if (!spec) return;
  attempt(() => {
    const outcome = state.session!.add(spec);
    const added = outcome.session.machine.devices().at(-1)?.device;
    if (added instanceof PciDevice) state.selected = { bus: added.function.bus!.name, devfn: added.function.devfn };
    specInput.value = "";
    preview.textContent = "";
    return outcome;
  });
}

function removeDevice(device: PciDevice): void {
  attempt(() => {
    const outcome = state.session!.remove(device);
    state.selected = null;
    return outcome;
  });
}

function changePolicy(): void {
  const choice = policyChoices().find((p) => p.name === policy.value);
  const params = policyParams.value.trim();
  const spec = choice?.params.length && params ? `${policy.value},${params}` : policy.value;
  attempt(() => ({ session: state.session!.withPolicy(spec), message: `allocation policy ${spec}: the machine was rebuilt with it` }));
}

function writeConfig(fn: PciFunction, offset: number, size: 1 | 2 | 4, value: number): void {
  attempt(() => {
    const limit = fn.space.size;
    if (!Number.isInteger(offset) || offset < 0 || offset + size > limit || offset % size !== 0) {
      throw new Error(`offset ${offset} is not an aligned ${size}-byte register inside ${limit} bytes of config space`);
    }
    if (!Number.isInteger(value) || value < 0 || value >= 2 ** (8 * size))
      throw new Error(`value ${value} does not fit in ${size} byte${size > 1 ? "s" : ""}`);
    return state.session!.write(fn, offset, size, value);
  });
}

function layout(): void {
  attempt(() => state.session!.layout());
}

function showPreview(): void {
  const spec = specInput.value.trim();
  if (!spec || !state.session) {
    preview.textContent = "";
    return;
  }
  try {
    const fn = state.session.preview(spec);
    preview.className = "preview ok";
    preview.textContent = fn
      ? `${machinePolicy(state.session.machine)} would put it at ${where(fn)}`
      : "it would be added (not a PCI device)";
  } catch (e) {
    preview.className = "preview error";
    preview.textContent = describe(e);
  }
}

function exportFile(format: "yaml" | "json"): void {
  if (!state.session) return;
  const text = state.session.export(format);
  const a = h("a", {
    href: URL.createObjectURL(new Blob([text], { type: format === "json" ? "application/json" : "text/yaml" })),
    download: `machine.${format}`,
  });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000); // after the download has read it
}

/** Runs a change; on success the page shows the new machine, on refusal the old one stays with the error. */
function attempt(change: () => Outcome): void {
  try {
    const { session, message } = change();
    state.session = session;
    setStatus("ok", message);
  } catch (e) {
    setStatus("error", describe(e));
  }
  render();
}

function describe(e: unknown): string {
  if (isMachbusError(e)) return e.describe();
  return e instanceof Error ? e.message : String(e);
}

function setStatus(kind: "ok" | "error", text: string): void {
  status.className = kind;
  status.textContent = text;
}

// ---- drawing ----

function render(): void {
  const session = state.session;
  if (!session) return;
  const m = session.machine;
  title.textContent = ` ${m.type.name}: ${session.source.title}`;
  fill(
    drivers,
    m.drivers
      .names()
      .filter((n) => driverInfo(m.drivers.find(n)).userCreatable)
      .map((n) => h("option", { value: n }, driverInfo(m.drivers.find(n)).description)),
  );
  const current = machinePolicy(m);
  const choices = policyChoices();
  fill(
    policy,
    choices.map((p) =>
      h("option", { value: p.name, selected: current === p.name || current.startsWith(`${p.name},`), title: p.description }, p.name),
    ),
  );
  const chosen = choices.find((p) => p.name === policy.value);
  policyParams.hidden = !chosen?.params.length;
  policyParams.placeholder = chosen?.params.map((p) => `${p}=…`).join(",") ?? "";

  const selected = selectedFunction();
  fill(slotMapBox, slotMap(m, selected ? state.selected : null, select));
  fill(deviceListBox, deviceList(m, select, removeDevice));
  fill(
    functionBox,
    selected
      ? functionView(m, selected.fn, selected.device, {
          remove: () => removeDevice(selected.device),
          write: (offset, size, value) => writeConfig(selected.fn, offset, size, value),
          showExtended: state.showExtended,
          toggleExtended: () => {
            state.showExtended = !state.showExtended;
            render();
          },
        })
      : h(
          "section",
          { class: "function-view empty", id: "function-view" },
          h("h2", {}, "Config space"),
          h("p", {}, "Click a function in the slot map to see its config space."),
        ),
  );
  fill(addressMapBox, addressMap(m, layout));
}

function select(s: Selection): void {
  state.selected = s;
  render();
}

function selectedFunction(): { fn: PciFunction; device: PciDevice } | null {
  const s = state.selected;
  if (!s || !state.session) return null;
  const m = state.session.machine;
  const bus = m.buses().find((b) => b.name === s.bus);
  const fn = bus?.get(s.devfn);
  const device = m.devices().find((p) => p.device instanceof PciDevice && p.device.function === fn)?.device;
  return fn && device instanceof PciDevice ? { fn, device } : null;
}

// ---- start: the machine `machbus serve` was given, or the first example ----

async function start(): Promise<void> {
  let startup: StartupMachine | null = null;
  try {
    const res = await fetch("./machine.json");
    if (res.ok) startup = (await res.json()) as StartupMachine;
  } catch {
    // served as plain files (no machbus serve): start from an example
  }
  if (startup) {
    const source = startup;
    attempt(() => ({
      session: Session.start({ title: source.title, options: source.options, commandLine: source.commandLine }),
      message: `built: ${source.title}`,
    }));
    if (source.commandLine !== null) commandLine.value = source.commandLine;
  } else {
    loadCommandLine(EXAMPLES[0]!.commandLine, EXAMPLES[0]!.name);
  }
  document.body.dataset.ready = "true";
}

void start();
