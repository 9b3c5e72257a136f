/**
 * `rf-db dashboard` as a command: its address on stdout, usage errors (exit
 * 2), a port in use (exit 1, one line), Ctrl-C (streams closed, exit 130),
 * and a remote database with a token (JWT sqld): the token reaches the
 * database connection only — never stdout, stderr, the page, the API or the
 * event stream.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allowedHostsFor, isLoopback } from "../src/cli/dashboard-command";
import { RFDatabase } from "../src/index";
import { runCli } from "./support/cli";
import { startDashboard } from "./support/dashboard";
import { generateJwtKeyPair, signJwt } from "./support/jwt";
import { startSqld, type SqldServer } from "./support/sqld";

const dir = mkdtempSync(join(tmpdir(), "rf-db-dashboard-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Reads an event stream for `ms` and returns what arrived. */
async function readStream(url: string, ms: number): Promise<string> {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), ms);
  let text = "";
  try {
    const r = await fetch(url, { signal: stop.signal });
    const decoder = new TextDecoder();
    for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk);
  } catch {
    /* aborted: done reading */
  } finally {
    clearTimeout(timer);
  }
  return text;
}

describe("rf-db dashboard", () => {
  it("knows which hosts are this machine's only", () => {
    expect(["127.0.0.1", "127.3.2.1", "localhost", "::1", "[::1]"].every(isLoopback)).toBe(true);
    expect(["0.0.0.0", "::", "192.168.1.5", "example.com"].some(isLoopback)).toBe(false);
    expect(allowedHostsFor("127.0.0.1")).toEqual(["127.0.0.1", "localhost", "[::1]"]);
    expect(allowedHostsFor("0.0.0.0")).toBe("any");
  });

  it("a bad port is a usage error (exit 2); a port in use is one line (exit 1)", async () => {
    const bad = await runCli(["dashboard", "--port", "70000"], dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^rf-db: .*--port.*0 to 65535/);
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const port = (busy.address() as { port: number }).port;
    try {
      const r = await runCli(["dashboard", "--port", String(port), "--url", `file:${join(dir, "busy.db")}`], dir);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(`rf-db: 127.0.0.1:${port} is in use: choose another --port (0: any free port)`);
    } finally {
      busy.close();
    }
  }, 60_000);

  describe("on a remote database with a token", () => {
    let sqld: SqldServer;
    let token: string;
    beforeAll(async () => {
      const keys = generateJwtKeyPair();
      sqld = await startSqld({ jwtPublicKey: keys.publicKeyPem });
      token = signJwt(keys.privateKey);
      const db = await RFDatabase.open({ url: sqld.url, authToken: token, migrate: true });
      const e = await db.experiments.create({ experimentName: "remote", numActors: 1, numShards: 4 });
      await db.pipelines.create({ experimentId: e, pipelineName: "p", pipelineType: "vllm", configJson: { a: 1 } });
      await db.close();
    }, 60_000);
    afterAll(async () => sqld?.stop());

    it("serves the experiment; the token appears in nothing it prints or serves; Ctrl-C exits 130", async () => {
      const dash = await startDashboard(sqld.url, dir, [], { RF_DB_AUTH_TOKEN: token });
      let stopped = false;
      try {
        // (the token comes from the environment, as the README recommends)
        expect(dash.cli.child.spawnargs.join(" ")).not.toContain(token);
        const page = await (await fetch(dash.url)).text();
        const script = await (await fetch(`${dash.url}page.js`)).text();
        const api = await (await fetch(`${dash.url}api/pipelines/1`)).text();
        const events = await readStream(`${dash.url}api/events`, 1500);
        expect(events).toMatch(/^event: snapshot$/m);
        expect(events).toContain('"experimentName":"remote"');
        for (const text of [page, script, api, events, dash.cli.stdout(), dash.cli.stderr()])
          expect(text).not.toContain(token);
        expect(dash.cli.stdout()).toContain(`database ${sqld.url}`);
        const { code, stderr } = await dash.stop();
        stopped = true;
        expect(code).toBe(130);
        expect(stderr.trim()).toBe("rf-db: interrupted");
        expect(stderr).not.toContain(token);
      } finally {
        if (!stopped) await dash.stop();
      }
    }, 90_000);
  });
});
