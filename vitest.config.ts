import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Tests drive real machines through real config cycles; some spawn the CLI or firmware.
    testTimeout: 60_000,
  },
});
