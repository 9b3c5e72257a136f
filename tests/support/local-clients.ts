/**
 * Local clients on fresh files in a temp folder, closed after each test and
 * the folder removed after the file. Call once at the top of a test file.
 * @example const { freshFile, client } = localClients("read-connection");
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach } from "vitest";
import { type LocalClient, type LocalClientOptions, openLocalClient } from "../../src/driver/local";

export function localClients(name: string) {
  const dir = mkdtempSync(join(tmpdir(), `${name}-test-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let fileNo = 0;
  const open: LocalClient[] = [];
  afterEach(() => {
    for (const c of open.splice(0)) c.close();
  });
  return {
    dir,
    /** A path in the folder no test has used yet. */
    freshFile: () => join(dir, `db${fileNo++}.db`),
    /** A client closed after the current test. */
    client(opts: LocalClientOptions): LocalClient {
      const c = openLocalClient(opts);
      open.push(c);
      return c;
    },
  };
}
