/**
 * The demo's actor processes: where the worker entry is, how it is forked
 * (with tsx's loader when running from source), and a pool that starts them
 * together, reports each exit, and never leaves one behind.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * Where the worker entry is, next to this module: `demo-worker.ts` when
 * running from source under tsx, `demo-worker.js` in the build (tsup bundles
 * this file into dist/cli/main.js, next to dist/cli/demo-worker.js).
 */
export function workerEntry(moduleUrl: string = import.meta.url): { path: string; typescript: boolean } {
  const typescript = /\.[cm]?tsx?$/.test(new URL(moduleUrl).pathname);
  return { path: fileURLToPath(new URL(typescript ? "./demo-worker.ts" : "./demo-worker.js", moduleUrl)), typescript };
}

/**
 * Node flags for the worker. `fork` passes the parent's `execArgv` on, which
 * under tsx (`tsx main.ts` or `node --import tsx main.ts`) already holds its
 * loader; if the parent runs TypeScript some other way, add tsx's loader so
 * the child can run `demo-worker.ts` too.
 */
function workerExecArgv(typescript: boolean): string[] {
  const inherited = process.execArgv.filter((a) => !a.startsWith("--inspect")); // a debugger port cannot be shared
  if (!typescript || inherited.some((a) => a.includes("tsx"))) return inherited;
  let loader = "tsx";
  try {
    loader = import.meta.resolve("tsx");
  } catch {
    /* resolve from the working directory */
  }
  return [...inherited, "--import", loader];
}

export interface WorkerExit {
  actorId: number;
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The worker's last stderr line (its one-line error message), if any. */
  message: string;
}

/** What every actor process of a run gets. */
export interface ActorArgs {
  experimentId: number;
  workMs: number;
  leaseMs: number;
}

/** The actor processes, with the means to stop them all and never leave one behind. */
export class ActorPool {
  readonly children = new Map<number, ChildProcess>();
  readonly exits: Promise<WorkerExit>[] = [];
  /** Per worker: resolves when it reported "ready" (database open) — or exited. */
  readonly ready: Promise<void>[] = [];
  #killOnExit = () => this.killAll("SIGKILL");
  readonly #execArgv: string[];
  #started = false;

  constructor(
    count: number,
    private readonly entry: { path: string; typescript: boolean },
    private readonly args: ActorArgs,
    private readonly env: NodeJS.ProcessEnv,
    private readonly onExit: (exit: WorkerExit) => void,
  ) {
    // Whatever ends this process (an exception, process.exit), the workers go too.
    process.on("exit", this.#killOnExit);
    this.#execArgv = workerExecArgv(entry.typescript);
    for (let actorId = 1; actorId <= count; actorId++) this.add(actorId);
  }

  /** Forks actor `actorId`; after `start()` it starts claiming as soon as it is ready. */
  add(actorId: number): void {
    const { experimentId, workMs, leaseMs } = this.args;
    const child = fork(
      this.entry.path,
      [
        ...["--experiment", String(experimentId), "--actor", String(actorId)],
        ...["--work-ms", String(workMs), "--lease-ms", String(leaseMs)],
      ],
      { env: this.env, execArgv: this.#execArgv, stdio: ["ignore", "ignore", "pipe", "ipc"] },
    );
    this.children.set(actorId, child);
    let stderr = "";
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    this.ready.push(
      new Promise<void>((resolve) => {
        child.on("message", (m: { type?: unknown } | null) => {
          if (m?.type !== "ready") return;
          if (this.#started) this.#go(child);
          resolve();
        });
        child.once("close", () => resolve());
        child.once("error", () => resolve());
      }),
    );
    this.exits.push(
      new Promise<WorkerExit>((resolve) => {
        let spawnError: Error | undefined;
        child.once("error", (err) => {
          spawnError = err;
          // A failed spawn may never emit "close".
          if (child.pid === undefined) resolve(finish(null, null));
        });
        child.once("close", (code, signal) => resolve(finish(code, signal)));
        const finish = (code: number | null, signal: NodeJS.Signals | null): WorkerExit => {
          this.children.delete(actorId);
          const lines = stderr.trim().split("\n").filter(Boolean);
          const exit = {
            actorId,
            pid: child.pid,
            code,
            signal,
            message: spawnError?.message ?? lines.find((l) => !/^\s+at /.test(l)) ?? lines.at(-1) ?? "",
          };
          this.onExit(exit);
          return exit;
        };
      }),
    );
  }

  #go(child: ChildProcess): void {
    if (child.connected)
      child.send({ type: "start" }, (err) => void err /* it exited meanwhile: its exit reports it */);
  }

  /** Lets every (ready) worker start claiming tasks; workers added later start when ready. */
  start(): void {
    this.#started = true;
    for (const child of this.children.values()) this.#go(child);
  }

  /** SIGKILLs one live worker, chosen by `pick` among the live actor ids; returns its id (undefined: none). */
  killOne(pick: (ids: number[]) => number | undefined): number | undefined {
    const live = [...this.children.entries()].filter(([, c]) => c.exitCode === null && c.signalCode === null);
    const id = pick(live.map(([actorId]) => actorId));
    if (id === undefined) return undefined;
    this.children.get(id)?.kill("SIGKILL");
    return id;
  }

  /** Signals every worker still alive. */
  killAll(signal: NodeJS.Signals = "SIGTERM"): void {
    for (const child of this.children.values()) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    }
  }

  /** Stops every worker (SIGTERM, then SIGKILL after `graceMs`) and waits for them. */
  async stop(graceMs = 3000): Promise<void> {
    this.killAll("SIGTERM");
    const all = Promise.all(this.exits);
    const timer = setTimeout(() => this.killAll("SIGKILL"), graceMs);
    await all;
    clearTimeout(timer);
  }

  dispose(): void {
    process.off("exit", this.#killOnExit);
  }
}

export function describeExit(e: WorkerExit): string {
  const how = e.signal
    ? `was killed by ${e.signal}`
    : e.code === null
      ? "could not be started"
      : `exited with code ${e.code}`;
  return `actor ${e.actorId}${e.pid ? ` (pid ${e.pid})` : ""} ${how}${e.message ? `: ${e.message}` : ""}`;
}
