/**
 * The CLI and credentials, run as child processes against a real sqld with
 * JWT auth:
 *
 * - `--url` with `user:password@` (or `RF_DB_URL`) fails with one line that
 *   names the problem and contains no part of the password, also with
 *   `RF_DB_DEBUG=1` (stack traces);
 * - `--auth-token-file PATH` works for every command (migrate, status, demo, check);
 *   a missing or empty file, or both token options, is a usage error (exit 2);
 * - `--auth-token` does not stay in `/proc/<pid>/cmdline` (world-readable):
 *   rf-db overwrites its own command line at start, as `mysql` does with
 *   `-p`; `status --watch` and `demo` — which run for minutes, while any
 *   wrapper (`npx`, `npm run`, a shell) keeps the token in ITS command line —
 *   also warn once on stderr and name the alternatives.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RFDatabase } from "../src/index";
import { cmdline, runCli, startCli, until, type CliResult } from "./support/cli";
import { blackHole, type HungServer } from "./support/hung-servers";
import { generateJwtKeyPair, signJwt } from "./support/jwt";
import { startSqld, type SqldServer } from "./support/sqld";

const PASSWORD = "Pw-0f-the-URL-never-printed";
let server: SqldServer;
let hole: HungServer;
let token: string;
let dir: string;
let keys: ReturnType<typeof generateJwtKeyPair>;
beforeAll(async () => {
  keys = generateJwtKeyPair();
  server = await startSqld({ jwtPublicKey: keys.publicKeyPem });
  token = signJwt(keys.privateKey);
  hole = await blackHole();
  dir = mkdtempSync(join(tmpdir(), "rf-db-cli-cred-"));
}, 60_000);
afterAll(async () => {
  await server?.stop();
  await hole?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function expectOneLine(r: CliResult, code: number, pattern: RegExp) {
  expect(r.code, r.stderr).toBe(code);
  expect(r.stderr).toMatch(/^rf-db: [^\n]+\n$/);
  expect(r.stderr).toMatch(pattern);
}

function tokenFile(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

// Every test is independent (the JWT sqld is shared; the one that needs an empty database has its own):
// they run at the same time, each mostly waiting on child processes.
describe.concurrent("credentials and the CLI", () => {
  describe("rf-db and a URL with credentials", () => {
    it("fails with one line naming the problem, and prints no part of the password", async () => {
      const url = `http://alice:${PASSWORD}@127.0.0.1:${server.port}`;
      const weird = `libsql://alice:p@ss-${PASSWORD}@db.example.com`;
      const runs = await Promise.all([
        runCli(["status", "--url", url], dir),
        runCli(["migrate", "--url", weird], dir),
        runCli(["demo", "--url", url], dir),
        runCli(["status"], dir, { RF_DB_URL: url }),
        runCli(["migrate", "--url", url], dir, { RF_DB_DEBUG: "1" }),
      ]);
      runs.forEach((r, i) => {
        expect(r.code, r.stderr).toBe(1);
        expect(r.stderr).toMatch(/^rf-db: .*carries credentials.*RF_DB_AUTH_TOKEN/);
        if (i < 4) expectOneLine(r, 1, /credentials/);
        const all = r.stdout + r.stderr;
        for (const part of [PASSWORD, "Pw-0f", "never-printed", "p@ss"]) expect(all).not.toContain(part);
      });
    });
  });

  describe("--auth-token-file", () => {
    it("works for every command: migrate, status, demo, check", async () => {
      // A server of its own (same key): the other tests of this file run at the same time.
      const own = await startSqld({ jwtPublicKey: keys.publicKeyPem });
      try {
        const file = tokenFile("token", `${token}\n`);
        const via = ["--url", own.url, "--auth-token-file", file];
        const migrate = await runCli(["migrate", ...via], dir);
        expect(migrate.code, migrate.stderr).toBe(0);
        expect(migrate.stdout).toMatch(/applied|up to date/);
        const demo = await runCli(
          ["demo", ...via, ...["--pipelines", "1", "--shards", "2", "--actors", "1", "--work-ms", "0"]],
          dir,
        );
        expect(demo.code, demo.stderr).toBe(0);
        const [status, check] = await Promise.all([runCli(["status", ...via], dir), runCli(["check", ...via], dir)]);
        expect(status.code, status.stderr).toBe(0);
        expect(status.stdout).toMatch(/Experiment \d+ .*completed/);
        expect(check.code, check.stderr).toBe(0);
        expect(check.stdout).toMatch(/^ok: /);
        for (const r of [migrate, demo, status, check]) {
          expect(r.stderr).toBe("");
          expect(r.stdout).not.toContain(token);
        }
      } finally {
        await own.stop();
      }
    });

    it("a missing or empty file, or both token options, is a usage error; a wrong token is an AuthError, unprinted", async () => {
      const wrong = signJwt(generateJwtKeyPair().privateKey);
      const [missing, empty, both, rejected] = await Promise.all([
        runCli(["status", "--url", server.url, "--auth-token-file", join(dir, "nope")], dir),
        runCli(["migrate", "--url", server.url, "--auth-token-file", tokenFile("empty", "\n")], dir),
        runCli(
          ["status", "--url", server.url, "--auth-token", token, "--auth-token-file", tokenFile("t2", token)],
          dir,
        ),
        runCli(["status", "--url", server.url, "--auth-token-file", tokenFile("wrong", wrong)], dir),
      ]);
      expectOneLine(missing, 2, /--auth-token-file .*nope.*(no such file|cannot read)/i);
      expectOneLine(empty, 2, /--auth-token-file .*empty/);
      expectOneLine(both, 2, /either --auth-token or --auth-token-file/);
      expectOneLine(rejected, 1, /HTTP 401/);
      for (const r of [missing, empty, both, rejected]) {
        expect(r.stdout + r.stderr).not.toContain(token);
        expect(r.stdout + r.stderr).not.toContain(wrong);
      }
    });
  });

  describe("--auth-token on the command line", () => {
    it("does not stay in /proc/<pid>/cmdline while `status --watch` runs; a warning names the alternatives", async () => {
      const db = await RFDatabase.open({ url: server.url, authToken: token, migrate: true });
      const id = await db.experiments.create({ experimentName: "watched", numActors: 1 });
      const run = startCli(["status", "--watch", "--interval", "100", "--url", server.url, "--auth-token", token], dir);
      try {
        await until("the first progress line", () => run.stdout().includes(`experiment ${id} running`));
        const seen = cmdline(run.child.pid!);
        expect(seen).toContain("status --watch");
        expect(seen).not.toContain(token);
        expect(seen).toContain("--auth-token ***");
        expect(run.stderr()).toMatch(/^rf-db: warning: --auth-token .*--auth-token-file .*RF_DB_AUTH_TOKEN/);
        await db.experiments.setStatus(id, "completed");
        const r = await run.done;
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout + r.stderr).not.toContain(token);
      } finally {
        run.child.kill("SIGKILL");
        await db.close();
      }
    });

    it("a one-shot command hanging on a dead server does not show it either", async () => {
      const run = startCli(["migrate", "--url", hole.httpUrl, "--auth-token", token], dir);
      try {
        const hidden = await until("the token to leave the command line", () => {
          const seen = cmdline(run.child.pid!);
          return seen.includes("migrate") && !seen.includes(token) ? seen : undefined;
        });
        expect(hidden).toContain("--auth-token ***");
        expect(run.child.exitCode).toBeNull(); // still waiting on the black hole
        expect(run.stderr()).toBe(""); // one-shot commands do not warn
      } finally {
        run.child.kill("SIGKILL");
        await run.done;
      }
    });
  });
});
