import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    // Several files start sqld servers and child processes; two cores.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Vitest's default on 2 cores is ONE worker (cpus - 1), which leaves the cores idle while
    // files wait on child processes, sqld and lease timers: 6m15s wall. Three: 3m59s, same CPU
    // (measured 2026-11-30, quiet machine). The heavy suite (npm run test:stress) runs one at a time.
    maxWorkers: 3,
  },
});
