/** Fresh, migrated database files for the benchmark, all copied from one template. */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "libsql";
import { RFDatabase } from "../../src/index";

export class FreshFiles {
  readonly dir: string;
  #template: string | undefined;
  #n = 0;

  constructor(parent?: string) {
    if (parent) mkdirSync(parent, { recursive: true });
    this.dir = mkdtempSync(join(parent ?? tmpdir(), "rf-bench-"));
  }

  /** A new file holding the package's schema (WAL mode), nothing else. */
  async make(): Promise<string> {
    if (this.#template === undefined) {
      const t = join(this.dir, "template.db");
      const db = await RFDatabase.open({ url: `file:${t}` });
      await db.close();
      // Fold the WAL back into the main file so one copy is the whole database.
      const raw = new Database(t);
      raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      raw.close();
      this.#template = t;
    }
    const path = join(this.dir, `run-${this.#n++}.db`);
    copyFileSync(this.#template, path);
    return path;
  }

  remove(path: string): void {
    for (const suffix of ["", "-wal", "-shm"]) rmSync(path + suffix, { force: true });
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
