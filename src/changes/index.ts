/**
 * Dashboards and services: the change feed (`db.changes`), `db.watch`,
 * `db.snapshot` and `toEventStream`. Web-safe. Reads the change log the
 * database's triggers keep (src/schema/change-log.ts, change-triggers.ts).
 */
export {
  type Change,
  type ChangeBatch,
  ChangeFeed,
  DEFAULT_CHANGE_LIMIT,
  DEFAULT_RETENTION_MS,
  MAX_CHANGE_LIMIT,
  type PruneOptions,
  type SinceOptions,
} from "./feed";
export { type Snapshot, SnapshotReader, SNAPSHOT_LIMITS } from "./snapshot";
export { watchChanges, watchOptions, type WatchOptions } from "./watch";
export { type ChangeSource, type EventStreamOptions, SSE_HEADERS, toEventStream } from "./event-stream";
