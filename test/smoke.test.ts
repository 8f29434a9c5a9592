import { describe, expect, it } from "vitest";
import { Machine } from "../src/index.js";

describe("smoke", () => {
  it("reads the i440FX id through 0xCF8/0xCFC", () => {
    const m = Machine.create();
    m.ioWrite(0xcf8, 4, 0x80000000);
    expect(m.ioRead(0xcfc, 4).toString(16)).toBe("12378086");
  });
});
