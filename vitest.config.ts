import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    // Several files start sqld servers and child processes; two cores.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
