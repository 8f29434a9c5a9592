// Re-exported from here so the root eslint.config.js resolves them against this workspace's
// TypeScript 6 (typescript-eslint's parser cannot load TypeScript 7).
export { default as js } from "@eslint/js";
export { default as tseslint } from "typescript-eslint";
