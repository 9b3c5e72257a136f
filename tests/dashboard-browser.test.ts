/**
 * The dashboard in a real browser: Debian's headless Chromium driven by
 * playwright-core (no browser download), against `rf-db dashboard` started as
 * a user starts it, on a temp file that a demo-like workload writes from this
 * process (actors claiming and completing tasks). The page must show a
 * pipeline's progress advancing, a stop pressed (twice: one operation) must
 * appear as a pending IC operation, and once a worker applies it
 * (`icOperations.claimNext` + `apply`, as the scheduler does) the pipeline must
 * show as stopped — all through server-sent events, without a reload. A
 * pipeline named like markup must show as text.
 *
 * Skipped, with the reason printed, when Chromium is not installed (.ci/run
 * installs it).
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RFDatabase } from "../src/index";
import { ROOT } from "./support/cli";
import {
  applyNextOperation,
  CHROMIUM_ARGS,
  createWorkload,
  findChromium,
  type RunningDashboard,
  startDashboard,
} from "./support/dashboard";

const found = findChromium();
if (!found.path) console.log(`dashboard browser test skipped: ${found.reason}`);

const MARKUP = `<img src=x onerror="window.__pwned=1">evil`;

describe.skipIf(!found.path)("rf-db dashboard in headless Chromium", () => {
  let dir = "";
  const stopWork = new AbortController();
  let db: RFDatabase;
  let dashboard: RunningDashboard;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  let workload: Awaited<ReturnType<typeof createWorkload>>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "rf-db-dashboard-"));
    const url = `file:${join(dir, "rapidfire.db")}`;
    db = await RFDatabase.open({ url });
    workload = await createWorkload(db, {
      names: ["llama-3-8b t=0.2", MARKUP, "mistral-7b t=0.7"],
      shards: 40,
      actors: 3,
      workMs: 60,
      signal: stopWork.signal,
    });
    [dashboard, browser] = await Promise.all([
      startDashboard(url, dir),
      chromium.launch({ executablePath: found.path!, args: CHROMIUM_ARGS, timeout: 30_000 }),
    ]);
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("dialog", (d) => void d.accept());
    // A CSP violation (a blocked style or script) or an uncaught error in the page is a failure.
    page.on("console", (m) => void (m.type() === "error" && problems.push(m.text())));
    page.on("pageerror", (e) => void problems.push(e.message));
  }, 90_000);

  afterAll(async () => {
    stopWork.abort();
    await workload?.done.catch(() => undefined);
    await browser?.close();
    const stopped = await dashboard?.stop();
    await db?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    // Ctrl-C ends the command cleanly, open event streams and all.
    if (stopped) expect(stopped.code).toBe(130);
  }, 60_000);

  const row = (pipelineId: number) => page.locator(`tr[data-pipeline="${pipelineId}"]`);
  const progressOf = async (pipelineId: number) =>
    Number(/^(\d+)\//.exec((await row(pipelineId).locator(".progress-text").textContent()) ?? "")?.[1] ?? -1);

  it("shows the running experiment, then its progress advancing live", async () => {
    const [first, , third] = workload.pipelineIds;
    await page.goto(dashboard.url);
    await expect.poll(() => page.locator("#connection").textContent(), { timeout: 20_000 }).toBe("live");
    await expect.poll(() => page.locator("#experiment .name").textContent()).toContain("dashboard-demo");
    expect(await progressOf(first!)).toBe(0);
    workload.start();
    await expect.poll(() => progressOf(first!), { timeout: 20_000 }).toBeGreaterThanOrEqual(3);
    await expect.poll(() => progressOf(third!), { timeout: 20_000 }).toBeGreaterThanOrEqual(3);
    await expect.poll(() => page.locator("#tasks tr[data-task]").count(), { timeout: 10_000 }).toBeGreaterThan(0);
  }, 60_000);

  it("shows names and configs as text, never as markup", async () => {
    const id = workload.pipelineIds[1]!;
    expect(await row(id).locator(".pipeline-name").textContent()).toBe(MARKUP);
    expect(await row(id).locator("img").count()).toBe(0);
    expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
  });

  it("stop enqueues one IC operation (double click); once a worker applies it the pipeline shows stopped", async () => {
    const id = workload.pipelineIds[0]!;
    await row(id).locator('button[data-operation="stop"]').dblclick();
    const opRow = page.locator("#operations tr[data-operation-id]").filter({ hasText: "stop" });
    await expect.poll(() => opRow.count(), { timeout: 15_000 }).toBe(1);
    expect(await opRow.getAttribute("data-status")).toBe("pending");
    expect(await row(id).locator('button[data-operation="stop"]').isDisabled()).toBe(true);
    const pending = await db.icOperations.listPending();
    expect(pending.map((o) => [o.operation, o.pipelineId])).toEqual([["stop", id]]);

    const applied = await applyNextOperation(db);
    expect(applied).toBe(pending[0]!.icId);
    await expect.poll(() => row(id).locator(".status").textContent(), { timeout: 15_000 }).toBe("stopped");
    await expect.poll(() => opRow.getAttribute("data-status"), { timeout: 15_000 }).toBe("completed");
    expect(await row(id).locator('button[data-operation="resume"]').isEnabled()).toBe(true);
    // Its progress stays where it stopped while the others go on.
    const stoppedAt = await progressOf(id);
    const other = workload.pipelineIds[2]!;
    const otherAt = await progressOf(other);
    await expect.poll(() => progressOf(other), { timeout: 20_000 }).toBeGreaterThan(otherAt);
    expect(await progressOf(id)).toBeLessThanOrEqual(stoppedAt + 3); // tasks already running may finish
  }, 60_000);

  it("clone opens an editor of the parent's config; the edited config becomes the child's", async () => {
    const parent = workload.pipelineIds[2]!;
    await row(parent).locator('button[data-operation="clone"]').click();
    const editor = page.locator("#clone-config");
    await expect.poll(() => editor.inputValue(), { timeout: 10_000 }).toContain('"temperature"');
    const config = JSON.parse(await editor.inputValue());
    expect(config).toEqual((await db.pipelines.get(parent))?.configJson);
    config.sampling.temperature = 0.95;
    await editor.fill(JSON.stringify(config, null, 2));
    await page.locator("#clone-name").fill("mistral-7b t=0.95");
    await page.locator("#clone-submit").dblclick(); // one operation: the editor's dedupe key
    const opRow = page.locator("#operations tr[data-operation-id]").filter({ hasText: "clone" });
    await expect.poll(() => opRow.count(), { timeout: 15_000 }).toBe(1);
    expect((await db.icOperations.listPending()).map((o) => o.operation)).toEqual(["clone"]);
    const childId = (await db.icOperations.apply((await db.icOperations.claimNext())!.icId))!;
    await expect.poll(() => row(childId).count(), { timeout: 15_000 }).toBe(1);
    expect(await row(childId).locator(".pipeline-name").textContent()).toBe(`mistral-7b t=0.95  ← clone of #${parent}`);
    await row(childId).locator("details summary").click();
    expect(await row(childId).locator("dl.config").textContent()).toContain("sampling.temperature0.95");
    expect(problems).toEqual([]);
    mkdirSync(join(ROOT, ".tmp"), { recursive: true });
    await page.screenshot({ path: join(ROOT, ".tmp", "dashboard-test.png"), fullPage: true });
  }, 60_000);
});
