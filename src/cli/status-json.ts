/**
 * `rf-db status --json`: the status view as one JSON document (with
 * `--watch`: one document per line, a new one whenever the change feed says
 * the experiment changed). The schema is documented in README.md ("Machine-
 * readable status") and versioned by its `schema` field: fields may be added
 * within `rf-inferno-db/status@1`; a removal, rename or change of meaning
 * gets a new version. Times are ISO-8601 strings (UTC) or null.
 */
import type { RFDatabase } from "../index";
import { CliError, EXIT } from "./common";

export const STATUS_SCHEMA = "rf-inferno-db/status@1";

/** One `rf-db status --json` document (see README.md for each field). */
export interface StatusDocument {
  schema: typeof STATUS_SCHEMA;
  database: string;
  generatedAt: string;
  /** The change-feed cursor of the read (`db.watch({ cursor })` continues from it). */
  cursor: number | null;
  experiment: {
    id: number;
    name: string;
    status: string;
    error: string | null;
    numShards: number;
    numActors: number;
    createdAt: string;
    updatedAt: string;
    controller: {
      owner: string | null;
      heartbeatAt: string | null;
      leaseExpiresAt: string | null;
      stale: boolean;
    } | null;
  } | null;
  /** Shards completed over all pipelines (each capped at numShards), of numShards × pipelines. */
  progress: { shardsCompleted: number; shardsTotal: number } | null;
  pipelines: {
    id: number;
    name: string | null;
    status: string;
    shardsCompleted: number;
    currentShardId: number;
    totalSamplesProcessed: number;
    parentPipelineId: number | null;
    metricRunId: string | null;
    error: string | null;
    updatedAt: string;
  }[];
  tasks: Record<string, number>;
  runningTasks: {
    id: number;
    pipelineId: number;
    shardId: number;
    actorId: number;
    startedAt: string | null;
    leaseOwner: number | null;
    leaseExpiresAt: string | null;
    attempts: number;
  }[];
  /** Oldest first; at most SNAPSHOT_LIMITS.pendingOperations. */
  pendingOperations: { id: number; operation: string; pipelineId: number | null; createdAt: string }[];
  expiredLeases: { tasks: number; icOperations: number };
  recentExperiments: { id: number; name: string; status: string; createdAt: string }[];
}

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

/**
 * The document when there is no experiment to show: the database has none, or
 * (`cursor` null) its file does not exist yet.
 */
export function emptyStatusDocument(
  database: string,
  cursor: number | null,
  recentExperiments: StatusDocument["recentExperiments"] = [],
): StatusDocument {
  return {
    schema: STATUS_SCHEMA,
    database,
    generatedAt: new Date().toISOString(),
    cursor,
    experiment: null,
    progress: null,
    pipelines: [],
    tasks: {},
    runningTasks: [],
    pendingOperations: [],
    expiredLeases: { tasks: 0, icOperations: 0 },
    recentExperiments,
  };
}

/**
 * The document for experiment `id` (null: the database has no experiment).
 * Its reads are issued together: on a remote database, one request.
 */
export async function loadStatusDocument(db: RFDatabase, id: number | null): Promise<StatusDocument> {
  const notFound = (err: unknown): never => {
    if ((err as { code?: string }).code === "NOT_FOUND") throw new CliError(`experiment ${id} not found in ${db.url}`);
    throw err;
  };
  const [recentRows, snap, lease, head] = await Promise.all([
    db.experiments.listRecent(6),
    id === null ? null : db.snapshot(id).catch(notFound),
    id === null ? null : db.experiments.leaseStatus(id),
    id === null ? db.changes.head() : null,
  ]);
  const recent = recentRows.map((e) => ({
    id: e.experimentId,
    name: e.experimentName,
    status: e.status,
    createdAt: e.createdAt.toISOString(),
  }));
  if (snap === null) return emptyStatusDocument(db.url, head, recent);
  const e = snap.experiment;
  const per = e.numShards;
  const c = lease?.controller ?? null;
  return {
    schema: STATUS_SCHEMA,
    database: db.url,
    generatedAt: new Date().toISOString(),
    cursor: snap.cursor,
    experiment: {
      id: e.experimentId,
      name: e.experimentName,
      status: e.status,
      error: e.error,
      numShards: e.numShards,
      numActors: e.numActors,
      createdAt: e.createdAt.toISOString(),
      updatedAt: e.updatedAt.toISOString(),
      controller: c && {
        owner: c.owner,
        heartbeatAt: iso(c.heartbeatAt),
        leaseExpiresAt: iso(c.expiresAt),
        stale: c.stale,
      },
    },
    progress: {
      shardsCompleted: snap.pipelines.reduce(
        (s, p) => s + (per > 0 ? Math.min(p.shardsCompleted, per) : p.shardsCompleted),
        0,
      ),
      shardsTotal: per * snap.pipelines.length,
    },
    pipelines: snap.pipelines.map((p) => ({
      id: p.pipelineId,
      name: p.pipelineName,
      status: p.status,
      shardsCompleted: p.shardsCompleted,
      currentShardId: p.currentShardId,
      totalSamplesProcessed: p.totalSamplesProcessed,
      parentPipelineId: p.parentPipelineId,
      metricRunId: p.metricRunId,
      error: p.error,
      updatedAt: p.updatedAt.toISOString(),
    })),
    tasks: { ...snap.taskCounts },
    runningTasks: snap.runningTasks.map((t) => ({
      id: t.taskId,
      pipelineId: t.pipelineId,
      shardId: t.shardId,
      actorId: t.actorId,
      startedAt: iso(t.startedAt),
      leaseOwner: t.leaseOwner,
      leaseExpiresAt: iso(t.leaseExpiresAt),
      attempts: t.attempts,
    })),
    pendingOperations: snap.pendingOperations.map((o) => ({
      id: o.icId,
      operation: o.operation,
      pipelineId: o.pipelineId,
      createdAt: o.createdAt.toISOString(),
    })),
    expiredLeases: { tasks: lease?.expiredTaskLeases ?? 0, icOperations: lease?.expiredIcLeases ?? 0 },
    recentExperiments: recent,
  };
}

/**
 * Prints the document (one line). With `watch`: then one more line each time
 * the change feed reports a change of the experiment (one `since` per
 * `intervalMs`, the document re-read only then), until the experiment is no
 * longer running; Ctrl-C ends it with exit code 130.
 */
export async function printStatusJson(
  db: RFDatabase,
  id: number | null,
  opts: { watch?: boolean; intervalMs: number },
  write: (text: string) => void,
): Promise<void> {
  let doc = await loadStatusDocument(db, id);
  write(`${JSON.stringify(doc)}\n`);
  if (!opts.watch || id === null || doc.experiment?.status !== "running") return;
  const stop = new AbortController();
  const onSigint = () => stop.abort();
  process.on("SIGINT", onSigint);
  try {
    const batches = db.watch({
      experimentId: id,
      cursor: doc.cursor ?? 0,
      intervalMs: opts.intervalMs,
      signal: stop.signal,
    });
    for await (const _batch of batches) {
      doc = await loadStatusDocument(db, id);
      write(`${JSON.stringify(doc)}\n`);
      if (doc.experiment?.status !== "running") return;
    }
    if (stop.signal.aborted) throw new CliError("interrupted", EXIT.INTERRUPTED);
  } finally {
    process.off("SIGINT", onSigint);
  }
}
