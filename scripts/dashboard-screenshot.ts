/**
 * The README's picture of `rf-db dashboard`: a demo-like workload on a temp
 * file, the dashboard started as a user starts it, a pipeline stopped through
 * its button and applied by a worker, a clone waiting in the queue — then a
 * screenshot by Debian's headless Chromium (playwright-core, no download).
 *
 *   npx tsx scripts/dashboard-screenshot.ts [out.png]   (default docs/dashboard.png)
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { RFDatabase } from "../src/index";
import { ROOT } from "../tests/support/cli";
import {
  applyNextOperation,
  CHROMIUM_ARGS,
  createWorkload,
  findChromium,
  startDashboard,
} from "../tests/support/dashboard";

const out = resolve(process.argv[2] ?? join(ROOT, "docs/dashboard.png"));
const found = findChromium();
if (!found.path) {
  console.error(`dashboard-screenshot: ${found.reason}`);
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), "rf-db-screenshot-"));
const url = `file:${join(dir, "rapidfire.db")}`;
const stop = new AbortController();
const db = await RFDatabase.open({ url });
const names = ["llama-3-8b t=0.2 k=4", "llama-3-8b t=0.7 k=4", "mistral-7b t=0.2 k=8", "qwen2-7b t=0.2 k=8"];
const workload = await createWorkload(db, {
  names,
  shards: 48,
  actors: 4,
  workMs: 120,
  signal: stop.signal,
  configOf: (name, i) => ({
    model: { name: name.split(" ")[0], max_tokens: 512, temperature: [0.2, 0.7, 0.2, 0.2][i] },
    rag: { retriever: "bm25", k: i < 2 ? 4 : 8, chunk_size: 512 },
    prompt: { template: "qa-v2" },
    api_key: "sk-not-shown",
  }),
});
const dashboard = await startDashboard(url, dir);
const browser = await chromium.launch({ executablePath: found.path, args: CHROMIUM_ARGS });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 980 }, deviceScaleFactor: 1 });
  await page.goto(dashboard.url);
  workload.start();
  const progress = (id: number) => page.locator(`tr[data-pipeline="${id}"] .progress-text`).textContent();
  const [first, second] = workload.pipelineIds as [number, number];
  await page.waitForFunction(() => document.querySelectorAll("#tasks tr[data-task]").length > 0);
  while (!/^(1[0-9]|[2-9]\d)\//.test((await progress(first)) ?? "")) await page.waitForTimeout(200);
  // Stop the second pipeline through its button; the worker applies it, as the scheduler would.
  await page.locator(`tr[data-pipeline="${second}"] button[data-operation="stop"]`).click();
  await page.waitForSelector('#operations tr[data-status="pending"]');
  await applyNextOperation(db);
  await page.waitForSelector('#operations tr[data-status="completed"]');
  // A clone waiting for the scheduler, and one pipeline's config opened.
  await db.icOperations.create({
    operation: "clone",
    experimentId: workload.experimentId,
    parentPipelineId: first,
    config: { model: { temperature: 0.4 } },
    pipelineName: "llama-3-8b t=0.4 k=4",
  });
  await page.waitForSelector('#operations tr[data-status="pending"]');
  await page.locator(`tr[data-pipeline="${first}"] details summary`).click();
  await page.evaluate(() => document.getElementById("toast")?.style.setProperty("display", "none"));
  await page.waitForTimeout(600);
  mkdirSync(dirname(out), { recursive: true });
  await page.screenshot({ path: out, fullPage: true });
  console.log(`dashboard-screenshot: wrote ${out}`);
} finally {
  stop.abort();
  await workload.done.catch(() => undefined);
  await browser.close();
  await dashboard.stop();
  await db.close();
  rmSync(dir, { recursive: true, force: true });
}
