/**
 * `rf-db demo`: the README's "main job". It runs a small simulated
 * multi-pipeline inference experiment end to end, the way RF-Inferno uses the
 * database: the controller (this process) creates the experiment, a shared
 * RAG context, the pipelines and one `scheduled` task per (pipeline, shard);
 * actor *processes* (demo-worker) claim tasks, report progress and complete
 * them, all writing the same database at once; the controller watches
 * progress through the database only — not through IPC — and finally closes
 * the experiment and prints a summary computed from the database.
 */
import { createHash } from "node:crypto";
import type { RFDatabase } from "../index";
import {
  CliError,
  DEMO_LIMITS,
  EXIT,
  formatDuration,
  openDatabase,
  resolveTarget,
  warnIfTokenOnCommandLine,
  sleep,
  type ConnectionOptions,
} from "./common";
import { ActorPool, describeExit, type WorkerExit, workerEntry } from "./demo-actors";
import { ProgressDisplay, renderDemoSummary } from "./demo-display";
import { DEMO_CONTEXT, demoPipelines, experimentName } from "./demo-plan";

export interface DemoOptions extends ConnectionOptions {
  pipelines: number;
  shards: number;
  actors: number;
  workMs: number;
  /** SIGKILL a random actor mid-task every few seconds and start another: leases hand its task on. */
  chaos?: boolean;
}

/** How often `--chaos` kills an actor: every 2–4 s. */
const CHAOS_EVERY_MS: [number, number] = [2000, 4000];
/** The controller's liveness lease (`experiments.heartbeat`), renewed every third of it. */
const CONTROLLER_LEASE_MS = 15_000;

/**
 * The actors' task lease: long enough for any shard between heartbeats, short
 * under `--chaos` so a killed actor's task is taken over within a second or two.
 */
export function demoLeaseMs(workMs: number, chaos: boolean): number {
  return chaos ? Math.max(1500, 3 * workMs) : Math.max(30_000, 3 * workMs);
}

/** Tasks per transaction when scheduling: fast on a file, and short enough for sqld's ~5 s transaction limit remotely. */
const CREATE_CHUNK = 100;
/** How often the controller re-reads progress from the database. */
const REFRESH_MS = 200;

/** A delay before the next `--chaos` kill. */
const chaosDelay = () => CHAOS_EVERY_MS[0] + Math.random() * (CHAOS_EVERY_MS[1] - CHAOS_EVERY_MS[0]);

/** A random element (undefined for none). */
const pick = <T>(xs: T[]): T | undefined => xs[Math.floor(Math.random() * xs.length)];

/** After a crash or Ctrl-C: leave no task looking alive, so `status` and recovery tell the truth. */
async function abandon(
  db: RFDatabase,
  experimentId: number,
  outcome: "failed" | "cancelled",
  reason: string,
): Promise<void> {
  await db.actorTasks.failUnfinished(experimentId, reason);
  for (const p of await db.pipelines.list(experimentId)) {
    if (p.status === "new" || p.status === "ongoing")
      await (outcome === "failed" ? db.pipelines.fail(p.pipelineId, reason) : db.pipelines.stop(p.pipelineId));
  }
  await db.experiments.setError(experimentId, reason);
  await db.experiments.setStatus(experimentId, outcome);
}

/**
 * Runs the demo. Resolves after printing the summary; throws a `CliError`
 * when a worker fails (exit 1) or on Ctrl-C/SIGTERM (exit 130), after
 * stopping every worker and recording the outcome in the database.
 */
export async function runDemo(
  opts: DemoOptions,
  write: (text: string) => void = (t) => void process.stdout.write(t),
): Promise<void> {
  const tasksTotal = opts.pipelines * opts.shards;
  if (tasksTotal > DEMO_LIMITS.tasks) {
    throw new CliError(
      `--pipelines × --shards is ${tasksTotal} tasks; the demo allows at most ${DEMO_LIMITS.tasks}`,
      EXIT.USAGE,
    );
  }
  // Resolved once (by the library, as open does): the workers get the exact URL (not a redacted one).
  const config = resolveTarget(opts);
  if (config.kind === "memory") {
    throw new CliError(
      "the demo's actor processes need a database they can share; an in-memory one lives in a single process (use a file: or remote URL)",
      EXIT.USAGE,
    );
  }
  warnIfTokenOnCommandLine(opts);
  const tty = Boolean(process.stdout.isTTY);
  const started = Date.now();

  const db = await openDatabase(config);
  let interrupted: NodeJS.Signals | undefined;
  let pool: ActorPool | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted ??= signal;
    pool?.killAll("SIGTERM");
  };
  let experimentId: number | undefined;
  let display: ProgressDisplay | undefined;
  try {
    // Context: "built" once by the controller, shared by every pipeline.
    const contextHash = createHash("sha256").update(JSON.stringify(DEMO_CONTEXT)).digest("hex");
    const contextId = await db.contexts.create({ contextHash, ...DEMO_CONTEXT });
    const context = await db.contexts.get(contextId);
    if (context?.status !== "ready") {
      await db.contexts.setStatus(contextId, "building");
      await db.contexts.setStartTime(contextId, new Date());
      await db.contexts.setEndTime(contextId, new Date());
      await db.contexts.setStatus(contextId, "ready");
    }

    const name = experimentName();
    experimentId = await db.experiments.create({
      experimentName: name,
      numActors: opts.actors,
      numShards: opts.shards,
    });
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    const eid = experimentId;

    const pipelineIds: number[] = [];
    for (const spec of demoPipelines(opts.pipelines)) {
      pipelineIds.push(await db.pipelines.create({ experimentId: eid, pipelineType: "vllm", contextId, ...spec }));
    }
    // Shard-major order: claimNext takes the oldest task, so all pipelines advance side by side.
    // actorId 0 = "not claimed yet"; workers are actors 1..N and claimNext stamps theirs.
    const plan: { pipelineId: number; shardId: number }[] = [];
    for (let shardId = 0; shardId < opts.shards; shardId++)
      for (const pipelineId of pipelineIds) plan.push({ pipelineId, shardId });
    for (let i = 0; i < plan.length; i += CREATE_CHUNK) {
      if (interrupted) break;
      await db.transaction(async (tx) => {
        for (const t of plan.slice(i, i + CREATE_CHUNK))
          await tx.actorTasks.create({ experimentId: eid, actorId: 0, ...t });
      });
    }
    for (const id of pipelineIds) await db.pipelines.start(id);
    // The controller's liveness: if this process dies, `rf-db reap` fails the experiment.
    const owner = `rf-db demo pid ${process.pid}`;
    await db.experiments.heartbeat(eid, { owner, leaseMs: CONTROLLER_LEASE_MS });
    if (interrupted) throw new CliError(`interrupted (${interrupted})`, EXIT.INTERRUPTED);

    const setupMs = Date.now() - started;
    const leaseMs = demoLeaseMs(opts.workMs, opts.chaos === true);
    write(
      `Demo experiment ${eid} "${name}" on ${db.url}\n` +
        `  ${opts.pipelines} pipeline${opts.pipelines === 1 ? "" : "s"} × ${opts.shards} shard${opts.shards === 1 ? "" : "s"} = ${tasksTotal} tasks, ` +
        `${opts.actors} actor process${opts.actors === 1 ? "" : "es"}, ~${opts.workMs} ms of work per task, ${leaseMs} ms task leases\n` +
        (opts.chaos
          ? `  chaos: an actor is SIGKILLed mid-task every ${CHAOS_EVERY_MS[0] / 1000}-${CHAOS_EVERY_MS[1] / 1000} s and another started; its task is re-taken when its lease ends\n`
          : ""),
    );

    const env: NodeJS.ProcessEnv = { ...process.env, RF_DB_URL: config.url };
    if (config.authToken) env.RF_DB_AUTH_TOKEN = config.authToken;
    else delete env.RF_DB_AUTH_TOKEN;

    const pipelinesAtStart = await db.pipelines.list(eid);
    display = new ProgressDisplay(tty, pipelinesAtStart, opts.shards, tasksTotal, write);
    let crash: WorkerExit | undefined;
    let stopping = false;
    /** Actors `--chaos` killed: their exits are expected. */
    const killed = new Set<number>();
    const forkedAt = Date.now();
    const args = { experimentId: eid, workMs: opts.workMs, leaseMs };
    pool = new ActorPool(opts.actors, workerEntry(), args, env, (exit) => {
      if (killed.has(exit.actorId)) return;
      if (!crash && !interrupted && !stopping && (exit.code !== 0 || exit.signal)) {
        crash = exit;
        pool?.killAll("SIGTERM"); // one actor down ends the run: fail fast and say which
      }
    });
    // Start-up barrier: every actor opens the database, then all start claiming together.
    display.note(`starting ${opts.actors} actor process${opts.actors === 1 ? "" : "es"}…`);
    await Promise.all(pool.ready);
    const startupMs = Date.now() - forkedAt;
    if (!crash && !interrupted) display.note(`actors ready after ${formatDuration(startupMs)}: go`);
    const runStart = Date.now();
    if (!crash && !interrupted) pool.start();
    let lastError: unknown;
    /** Tasks seen in progress on a second (or later) claim: their first holder's lease ended. */
    const retaken = new Set<number>();
    let nextActor = opts.actors + 1;
    let nextKill = runStart + chaosDelay();
    let nextBeat = runStart + CONTROLLER_LEASE_MS / 3;
    const refresh = async (final = false) => {
      const [pls, counts, running] = await Promise.all([
        db.pipelines.list(eid),
        db.actorTasks.countByStatus(eid),
        db.actorTasks.listRunning(eid),
      ]);
      for (const t of running) if (t.attempts > 1) retaken.add(t.taskId);
      const chaos = opts.chaos ? ` · ${killed.size} killed · ${retaken.size} re-taken` : "";
      display!.update(pls, counts.completed, counts.in_progress, Date.now() - runStart, final, chaos);
      return { counts, running };
    };
    try {
      while (pool.children.size > 0 && !crash && !interrupted) {
        const { running } = await refresh();
        const now = Date.now();
        if (now >= nextBeat) {
          nextBeat = now + CONTROLLER_LEASE_MS / 3;
          if (!(await db.experiments.heartbeat(eid, { owner, leaseMs: CONTROLLER_LEASE_MS })))
            throw new CliError(`experiment ${eid} is no longer this controller's (reaped or taken over)`);
        }
        if (opts.chaos && now >= nextKill) {
          nextKill = now + chaosDelay();
          // Mid-task: an actor that holds a task right now.
          const holders = new Set(running.map((t) => t.leaseOwner));
          const victim = pool.killOne((ids) => pick(ids.filter((id) => holders.has(id))));
          if (victim !== undefined) {
            killed.add(victim);
            pool.add(nextActor++);
          }
        }
        await sleep(REFRESH_MS);
      }
    } catch (err) {
      lastError = err; // the controller lost the database: stop the workers, then report
    }
    stopping = true; // from here on, a worker exit is ours, not a crash
    await pool.stop();
    const wallMs = Date.now() - runStart;
    try {
      if (!lastError) await refresh(true);
    } catch (err) {
      lastError = err;
    }
    display.stop();

    if (interrupted)
      throw new CliError(`interrupted (${interrupted}); experiment ${eid} marked cancelled`, EXIT.INTERRUPTED);
    if (crash) throw new CliError(`demo failed: ${describeExit(crash)}`);
    if (lastError) throw lastError;

    const counts = await db.actorTasks.countByStatus(eid);
    if (counts.completed !== tasksTotal) {
      throw new CliError(
        `demo failed: all actors exited but only ${counts.completed} of ${tasksTotal} tasks completed`,
      );
    }
    // Exactly once: every pipeline counted each of its shards once (a shard is counted by the same
    // batch that completes its task, as the lease holder).
    const counted = await db.pipelines.list(eid);
    const off = counted.filter((p) => p.shardsCompleted !== opts.shards);
    if (off.length > 0) {
      throw new CliError(
        `demo failed: pipeline ${off[0]!.pipelineId} counted ${off[0]!.shardsCompleted} of ${opts.shards} shards`,
      );
    }
    for (const id of pipelineIds) await db.pipelines.complete(id);
    await db.experiments.setStatus(eid, "completed");

    const [pls, perActor, experiment] = await Promise.all([
      db.pipelines.list(eid),
      db.actorTasks.countCompletedByActor(eid),
      db.experiments.get(eid),
    ]);
    const summary = renderDemoSummary({
      experimentId: eid,
      experimentName: name,
      status: experiment?.status ?? "?",
      url: db.url,
      wallMs,
      setupMs,
      startupMs,
      tasksCompleted: counts.completed,
      tasksTotal,
      samples: pls.map((p) => ({
        pipelineId: p.pipelineId,
        pipelineName: p.pipelineName ?? `#${p.pipelineId}`,
        samples: p.totalSamplesProcessed,
      })),
      perActor,
      ...(opts.chaos ? { chaos: { killed: killed.size, actorProcesses: nextActor - 1 } } : {}),
    });
    write(`\n${summary.join("\n")}\n`);
  } catch (err) {
    display?.stop(); // restores the cursor before the error line
    pool?.killAll("SIGKILL");
    if (experimentId !== undefined) {
      const cancelled = err instanceof CliError && err.exitCode === EXIT.INTERRUPTED;
      const reason = cancelled
        ? `interrupted (${interrupted ?? "signal"})`
        : err instanceof Error
          ? err.message
          : String(err);
      try {
        await abandon(db, experimentId, cancelled ? "cancelled" : "failed", reason);
      } catch {
        /* the original error is the one worth reporting */
      }
    }
    throw err;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    pool?.dispose();
    await db.close();
  }
}
