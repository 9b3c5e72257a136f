/**
 * What every worker script shares: its JSON argument, one-JSON-object-per-line
 * output, a start barrier, an append-only acknowledgement log, and errors as data.
 */
import { closeSync, existsSync, openSync, writeSync } from "node:fs";

/** The worker's one command-line argument, parsed. */
export function args<T>(): T {
  const raw = process.argv[2];
  if (!raw) throw new Error("worker: missing JSON argument");
  return JSON.parse(raw) as T;
}

/** Prints one JSON line on stdout (asynchronously flushed; use `AckLog` for what must survive a SIGKILL). */
export function emit(obj: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls for `file` (written by the parent) so that all workers start at nearly the same instant. */
export async function waitForGo(file: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`no go file ${file} within ${timeoutMs} ms`);
    await sleep(1);
  }
}

/**
 * An append-only log written with a synchronous `write(2)` per line: once
 * `append` returns, the line is in the kernel's page cache and survives a
 * SIGKILL of this process (the parent reads it after the kill).
 */
export class AckLog {
  readonly #fd: number;
  constructor(path: string) {
    this.#fd = openSync(path, "a");
  }
  append(obj: Record<string, unknown>): void {
    writeSync(this.#fd, `${JSON.stringify(obj)}\n`);
  }
  close(): void {
    closeSync(this.#fd);
  }
}

/**
 * An error as data: class name, code, message, the class chain (to tell typed
 * from untyped errors), and — for diagnosing rare failures — the cause chain
 * with the top stack frames of the innermost error.
 */
export function describeError(err: unknown): {
  name: string;
  code?: unknown;
  message: string;
  classes: string[];
  causes: string[];
  where: string;
} {
  const classes: string[] = [];
  if (err && typeof err === "object") {
    for (let p = Object.getPrototypeOf(err); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
      classes.push((p as { constructor: { name: string } }).constructor.name);
    }
  }
  const causes: string[] = [];
  let where = "";
  let cur = (err as { cause?: unknown })?.cause;
  for (let depth = 0; cur && depth < 6; depth++) {
    const c = cur as { name?: unknown; code?: unknown; message?: unknown; stack?: unknown; cause?: unknown };
    causes.push(`${String(c.name ?? typeof cur)}(${String(c.code ?? "")}): ${String(c.message ?? cur).slice(0, 200)}`);
    if (typeof c.stack === "string")
      where = c.stack
        .split("\n")
        .slice(1, 7)
        .map((l) => l.trim())
        .join(" < ");
    cur = c.cause;
  }
  const e = err as { name?: unknown; code?: unknown; message?: unknown; stack?: unknown };
  if (!where && typeof e?.stack === "string")
    where = e.stack
      .split("\n")
      .slice(1, 7)
      .map((l) => l.trim())
      .join(" < ");
  return {
    name: typeof e?.name === "string" ? e.name : typeof err,
    code: e?.code,
    message: String(e?.message ?? err).slice(0, 500),
    classes,
    causes,
    where: where.slice(0, 1200),
  };
}

/** Reports the error and exits non-zero; for failures outside the measured work (open, set-up). */
export function fatal(err: unknown): never {
  try {
    writeSync(1, `${JSON.stringify({ type: "fatal", error: describeError(err) })}\n`);
  } catch {
    // stdout gone; stderr below still says why
  }
  process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(2);
}

/** A small deterministic PRNG (mulberry32), so a run can be replayed from its printed seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
