/**
 * One open page's live view: `db.snapshot(experimentId)` once (one
 * consistent read, with its change-feed cursor), then `db.watch({ cursor })`
 * — and for each change batch, only the rows it names are read again and sent
 * as a `patch`. Nothing re-reads a whole table on a timer.
 *
 * The watch is not filtered by experiment, so the picker hears of new
 * experiments; the changes of other experiments are skipped here without a
 * read. A page that follows "running or latest" (no experiment asked for)
 * moves to a new experiment when one is created, with a new snapshot.
 *
 * Task counts come from `actorTasks.countByStatus` after a batch that changed
 * tasks: one primary-key read of the counts the database's triggers keep, the
 * same cost at ten tasks or ten million.
 */
import type { Change } from "../changes";
import { CursorExpiredError, NotFoundError } from "../errors";
import type { RFDatabase } from "../index";
import type { ActorTask, ActorTaskStatus } from "../schema";
import { experimentView, operationView, pipelineView, taskView, type PatchEvent, type SnapshotEvent } from "./view";

export type LiveEvent = { event: "snapshot"; data: SnapshotEvent } | { event: "patch"; data: PatchEvent };

export interface LiveOptions {
  /** The experiment the page asked for; null: the running one, else the latest (and follow new ones). */
  experimentId: number | null;
  /** Ends the stream (the page closed, or the server stops). */
  signal: AbortSignal;
  /** How often the watch asks for changes, ms (default 500). */
  intervalMs?: number | undefined;
}

/** Experiments in the picker (newest first). */
const RECENT = { experiments: 20 } as const;

/** What a connection remembers between batches: which rows the page has, so a patch says only what changed. */
interface ViewState {
  experimentId: number | null;
  cursor: number;
  /** configHash per pipeline the page has: a patch leaves an unchanged flattened config out. */
  configs: Map<number, string | null>;
  /** Task ids the page shows as running. */
  running: Set<number>;
}

const noCounts = (): Record<ActorTaskStatus, number> => ({ scheduled: 0, in_progress: 0, completed: 0, failed: 0 });

/**
 * Reads the snapshot event of experiment `wanted` (or the running-or-latest
 * one) and the state to follow it with. Every read here comes after the
 * cursor it returns, so nothing that happens meanwhile is missed: it arrives
 * as a change (at worst read twice, which is harmless).
 */
async function openView(db: RFDatabase, wanted: number | null): Promise<{ state: ViewState; event: SnapshotEvent }> {
  // Before choosing the experiment: one created meanwhile is a change after this cursor.
  const head = wanted === null ? await db.changes.head() : 0;
  const id = wanted ?? (await db.experiments.getRunningOrLatest())?.experimentId ?? null;
  const snap = id === null ? null : await db.snapshot(id).catch((err: unknown) => notFoundAsNull(err));
  const cursor = snap ? snap.cursor : wanted === null ? head : await db.changes.head();
  const base = {
    database: db.url,
    now: new Date().toISOString(),
    experiments: (await db.experiments.listRecent(RECENT.experiments)).map(experimentView),
    pinned: wanted !== null,
  };
  if (!snap) {
    const state: ViewState = { experimentId: wanted, cursor, configs: new Map(), running: new Set() };
    const event: SnapshotEvent = {
      ...base,
      experiment: null,
      pipelines: [],
      taskCounts: null,
      runningTasks: [],
      operations: [],
    };
    return { state, event };
  }
  const state: ViewState = {
    experimentId: snap.experiment.experimentId,
    cursor,
    configs: new Map(snap.pipelines.map((p) => [p.pipelineId, p.configHash])),
    running: new Set(snap.runningTasks.map((t) => t.taskId)),
  };
  const event: SnapshotEvent = {
    ...base,
    experiment: experimentView(snap.experiment),
    pipelines: snap.pipelines.map((p) => pipelineView(p)),
    taskCounts: snap.taskCounts,
    runningTasks: snap.runningTasks.map(taskView),
    // Pending ones; those that change while the page is open join them (done ones stay listed).
    operations: snap.pendingOperations.map(operationView),
  };
  return { state, event };
}

/** The experiment was deleted between the two reads: show "no experiment", not an error. */
function notFoundAsNull(err: unknown): null {
  if (err instanceof NotFoundError) return null;
  throw err;
}

/** Ids of one entity among the changes, each once, in order. */
function idsOf(changes: readonly Change[], entity: Change["entity"], keep: (c: Change) => boolean = () => true) {
  return [...new Set(changes.filter((c) => c.entity === entity && keep(c)).map((c) => c.id))];
}

/** What one batch means for the page. */
type BatchResult = { restart: true } | { restart: false; patch: PatchEvent | null };

/**
 * The patch for one batch (null when nothing the page shows changed), or a
 * restart when the page must start over with a new snapshot: its experiment
 * was deleted, or it follows the latest experiment and a new one was created.
 */
async function patchOf(
  db: RFDatabase,
  state: ViewState,
  changes: readonly Change[],
  pinned: boolean,
): Promise<BatchResult> {
  const current = state.experimentId;
  const experimentChanges = changes.filter((c) => c.entity === "experiments");
  if (experimentChanges.some((c) => c.id === current && c.op === "delete")) return { restart: true };
  if (!pinned && experimentChanges.some((c) => c.op === "insert" && (current === null || c.id > current)))
    return { restart: true };

  const mine = (c: Change) => current !== null && c.experimentId === current && c.op !== "delete";
  // Tasks: only those running now are read (actor, lease); any other status just leaves the list.
  const taskChanges = changes.filter(
    (c) => c.entity === "actorTasks" && current !== null && c.experimentId === current,
  );
  const started = idsOf(taskChanges, "actorTasks", (c) => c.op !== "delete" && c.status === "in_progress");
  // Every read of the batch is issued at once: on a remote database they travel in one request.
  const [experiments, pipelines, operations, startedRows, counted] = await Promise.all([
    Promise.all(idsOf(experimentChanges, "experiments", (c) => c.op !== "delete").map((id) => db.experiments.get(id))),
    Promise.all(idsOf(changes, "pipelines", mine).map((id) => db.pipelines.get(id))),
    Promise.all(idsOf(changes, "icOperations", mine).map((id) => db.icOperations.get(id))),
    Promise.all(started.map((id) => db.actorTasks.get(id))),
    taskChanges.length > 0 && current !== null ? db.actorTasks.countByStatus(current) : null,
  ]);
  const runningTasks = startedRows.filter((t) => t?.status === "in_progress").map((t) => taskView(t as ActorTask));
  const nowRunning = new Set(runningTasks.map((t) => t.taskId));
  const finishedTasks = [...new Set(taskChanges.map((c) => c.id))].filter(
    (id) => state.running.has(id) && !nowRunning.has(id),
  );
  for (const id of finishedTasks) state.running.delete(id);
  for (const id of nowRunning) state.running.add(id);

  const patch: PatchEvent = {
    now: new Date().toISOString(),
    experiments: experiments.filter((e) => e !== null).map(experimentView),
    pipelines: pipelines
      .filter((p) => p !== null)
      .map((p) => {
        const known = state.configs.get(p.pipelineId);
        state.configs.set(p.pipelineId, p.configHash);
        // A patch leaves the flattened config out when the page has this one already.
        return pipelineView(p, known === undefined || known !== p.configHash);
      }),
    runningTasks,
    finishedTasks,
    taskCounts: counted && { ...noCounts(), ...counted },
    operations: operations.filter((o) => o !== null).map(operationView),
  };
  const size =
    patch.experiments.length +
    patch.pipelines.length +
    runningTasks.length +
    finishedTasks.length +
    patch.operations.length +
    (counted ? 1 : 0);
  return { restart: false, patch: size === 0 ? null : patch };
}

/**
 * The page's events: a snapshot, then a patch per change batch that touched
 * what it shows (and a new snapshot when it must start over). Ends when
 * `signal` aborts; a database error ends it by throwing (the page reconnects).
 * @example for await (const ev of liveEvents(db, { experimentId: null, signal })) send(ev.event, ev.data);
 */
export async function* liveEvents(db: RFDatabase, o: LiveOptions): AsyncGenerator<LiveEvent, void, undefined> {
  const pinned = o.experimentId !== null;
  while (!o.signal.aborted) {
    const { state, event } = await openView(db, o.experimentId);
    if (o.signal.aborted) return;
    yield { event: "snapshot", data: event };
    // One watch per view: a restart ends it (no timer or read left behind) and opens the next.
    const view = new AbortController();
    const endView = () => view.abort();
    o.signal.addEventListener("abort", endView, { once: true });
    let restart = false;
    try {
      const batches = db.watch({ cursor: state.cursor, intervalMs: o.intervalMs ?? 500, signal: view.signal });
      for await (const batch of batches) {
        const result = await patchOf(db, state, batch.changes, pinned);
        if (result.restart) {
          restart = true;
          break;
        }
        if (result.patch && !o.signal.aborted) yield { event: "patch", data: result.patch };
      }
    } catch (err) {
      // Deletes after our cursor were pruned from the change log: start over from a fresh snapshot.
      if (!(err instanceof CursorExpiredError)) throw err;
      restart = true;
    } finally {
      view.abort();
      o.signal.removeEventListener("abort", endView);
    }
    if (!restart) return;
  }
}
