/**
 * The backend matrix: every repository test runs, from the same code, against
 * an in-memory database, a temp file, and a real sqld over http:// on
 * loopback. `RF_TEST_BACKENDS=memory,file` narrows it (e.g. while iterating).
 * Each call to `openBackend` gives a fresh database built by the real migrations.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RFDatabase, type OpenOptions } from "../../src/index";
import { startSqld, type SqldServer } from "./sqld";

export type BackendName = "memory" | "file" | "sqld";

export const ALL_BACKENDS: readonly BackendName[] = ["memory", "file", "sqld"];

export const BACKENDS: readonly BackendName[] = (process.env.RF_TEST_BACKENDS?.split(",") ?? ALL_BACKENDS).filter(
  (b): b is BackendName => (ALL_BACKENDS as readonly string[]).includes(b),
);

export interface Backend {
  name: BackendName;
  url: string;
  db: RFDatabase;
  /** Opens another connection to the same database. */
  reopen(options?: Omit<OpenOptions, "url">): Promise<RFDatabase>;
  /** True where the backend can share one database between connections (not :memory:). */
  shared: boolean;
  close(): Promise<void>;
}

export async function openBackend(name: BackendName): Promise<Backend> {
  let cleanup: () => Promise<void> = async () => {};
  let url: string;
  if (name === "memory") {
    url = ":memory:";
  } else if (name === "file") {
    const dir = mkdtempSync(join(tmpdir(), "rf-db-test-"));
    url = `file:${join(dir, "test.db")}`;
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    const server: SqldServer = await startSqld();
    url = server.url;
    cleanup = () => server.stop();
  }
  // Remote databases are migrated explicitly, as a deploy would.
  const db = await RFDatabase.open({ url, migrate: true });
  const opened: RFDatabase[] = [db];
  return {
    name,
    url,
    db,
    shared: name !== "memory",
    async reopen(options) {
      const other = await RFDatabase.open({ ...options, url });
      opened.push(other);
      return other;
    },
    async close() {
      for (const d of opened) await d.close();
      await cleanup();
    },
  };
}
