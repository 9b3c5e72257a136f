/**
 * Builds databases the way RapidFire's Python module lays them out: its own
 * DDL (tables.sql of either upstream version, read from ../shared/anchors at
 * run time, never copied here) and rows written with plain SQL through the
 * `libsql` package, with every time given explicitly so tests can state them.
 */
import Database from "libsql";
import { anchorTablesSql } from "./shared";

export type Version = "6158eec" | "6dd53c1";

export interface LegacyRows {
  experiments?: Record<string, unknown>[];
  contexts?: Record<string, unknown>[];
  pipelines?: Record<string, unknown>[];
  actor_tasks?: Record<string, unknown>[];
  interactive_control?: Record<string, unknown>[];
}

/** Writes `rows` (column → value, missing columns take the DDL's defaults) into a new file at `path`. */
export function writeLegacyDb(path: string, version: Version, rows: LegacyRows, opts: { wal?: boolean } = {}): void {
  const db = new Database(path);
  try {
    if (opts.wal) db.exec("PRAGMA journal_mode = WAL");
    db.exec(anchorTablesSql(version));
    insertRows(db, rows);
  } finally {
    db.close();
  }
}

export function insertRows(db: Database.Database, rows: LegacyRows): void {
  for (const [table, list] of Object.entries(rows) as [string, Record<string, unknown>[]][]) {
    for (const row of list) {
      const cols = Object.keys(row);
      db.prepare(`INSERT INTO ${table} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`).run(
        ...cols.map((c) => row[c]),
      );
    }
  }
}

/** A small 6158eec-shaped data set: two experiments a minute apart, three pipelines, tasks, an IC operation. */
export function smallLegacyRows(): LegacyRows {
  return {
    experiments: [
      { experiment_name: "first", num_actors: 2, status: "completed", created_at: "2026-01-01 10:00:00" },
      { experiment_name: "second", num_actors: 2, status: "running", created_at: "2026-01-01 10:01:00" },
    ],
    contexts: [{ context_hash: "h1", rag_config_json: '{"k": 1}', status: "ongoing" }],
    pipelines: [
      p("a", "2026-01-01 10:00:00", { context_id: 1, shards_completed: 1 }),
      p("b", "2026-01-01 10:00:30"),
      p("c", "2026-01-01 10:01:00", { status: "ongoing" }),
    ],
    actor_tasks: [
      { pipeline_id: 1, actor_id: 0, shard_id: 0, status: "completed", started_at: "2026-01-01T10:00:05" },
      { pipeline_id: 3, actor_id: 1, shard_id: 0, status: "in_progress", started_at: "2026-01-01T10:01:05" },
    ],
    interactive_control: [{ pipeline_id: 3, operation: "stop", status: "pending", created_at: 1767261700.25 }],
  };
}

function p(name: string, createdAt: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    pipeline_name: name,
    pipeline_type: "vllm",
    model_config_json: '{"model": "m"}',
    sampling_params_json: '{"temperature": 0.5}',
    status: "completed",
    created_at: createdAt,
    ...extra,
  };
}
