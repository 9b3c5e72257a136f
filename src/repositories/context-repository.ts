import { eq, sql } from "drizzle-orm";
import type { SQLiteUpdateSetSource } from "drizzle-orm/sqlite-core";
import { CONTEXT_STATUSES, contexts, type Context, type ContextStatus } from "../schema";
import * as v from "../validate";
import { BaseRepository, slot } from "./base-repository";

const p = sql.placeholder;

export interface CreateContextInput {
  contextHash: string;
  ragConfig?: unknown;
  promptConfig?: unknown;
  /** Defaults to `pending`. */
  status?: ContextStatus;
}

/** `db.contexts`: RAG contexts, built once and shared by every pipeline with the same hash. */
export class ContextRepository extends BaseRepository {
  /**
   * Creates a context, or returns the id of the one that already has this
   * hash (then the given configs are ignored). One statement — an upsert that
   * rewrites the hash with itself so RETURNING yields the existing id — so two
   * processes racing on one hash both get the same id and no error.
   * @example const ctxId = await db.contexts.create({ contextHash: sha, ragConfig: { k: 5 } });
   */
  async create(input: CreateContextInput): Promise<number> {
    const i = v.record(input, "input");
    const values = {
      contextHash: v.text(i.contextHash, "contextHash", { nonEmpty: true }),
      ragConfig: v.optionalJson(i.ragConfig, "ragConfig"),
      promptConfig: v.optionalJson(i.promptConfig, "promptConfig"),
      status: i.status === undefined ? "pending" : v.oneOf(i.status, CONTEXT_STATUSES, "status"),
    };
    const stmt = this.compiled("create", () =>
      this.db
        .insert(contexts)
        .values({
          contextHash: p("contextHash"),
          ragConfig: p("ragConfig"),
          promptConfig: p("promptConfig"),
          status: p("status"),
        })
        // Not onConflictDoNothing: its RETURNING is empty on conflict, which would cost a second query.
        .onConflictDoUpdate({ target: contexts.contextHash, set: { contextHash: sql`excluded.context_hash` } })
        .returning({ id: contexts.contextId })
        .prepare(),
    );
    const row = await this.settle(stmt.get(values));
    return row!.id;
  }

  /**
   * The context, or `null`.
   * @example const ctx = await db.contexts.get(ctxId); ctx?.ragConfig
   */
  async get(id: number): Promise<Context | null> {
    return this.findById(contexts, contexts.contextId, v.id(id, "contextId"));
  }

  /**
   * The context with this hash, or `null`.
   * @example const ctx = await db.contexts.getByHash(sha);
   */
  async getByHash(hash: string): Promise<Context | null> {
    const contextHash = v.text(hash, "hash");
    const stmt = this.compiled("getByHash", () =>
      this.db
        .select()
        .from(contexts)
        .where(eq(contexts.contextHash, p("hash")))
        .prepare(),
    );
    return (await this.settle(stmt.get({ hash: contextHash }))) ?? null;
  }

  /**
   * Sets the status (any of CONTEXT_STATUSES).
   * @example await db.contexts.setStatus(ctxId, "building");
   */
  async setStatus(id: number, status: ContextStatus): Promise<void> {
    const contextId = v.id(id, "contextId");
    const s = v.oneOf(status, CONTEXT_STATUSES, "status");
    await this.update("setStatus", { status: slot("status") }, { id: contextId, status: s });
  }

  /**
   * Records when building the context started.
   * @example await db.contexts.setStartTime(ctxId, new Date());
   */
  async setStartTime(id: number, time: Date | string): Promise<void> {
    const contextId = v.id(id, "contextId");
    const t = v.time(time, "time");
    await this.update("setStartTime", { startedAt: slot("t") }, { id: contextId, t });
  }

  /**
   * Records when building ended and how long it took; without
   * `durationSeconds` the duration is computed from the recorded start time
   * (null when no start was recorded). An end before the start is refused.
   * @example await db.contexts.setEndTime(ctxId, new Date());
   */
  async setEndTime(id: number, time: Date | string, durationSeconds?: number): Promise<void> {
    const contextId = v.id(id, "contextId");
    const t = v.time(time, "time");
    const d = durationSeconds === undefined ? null : v.duration(durationSeconds, "durationSeconds");
    if (d === null) {
      await this.update(
        "setEndTimeComputed",
        { completedAt: slot("t"), durationSeconds: sql`(${p("ms")} - ${contexts.startedAt}) / 1000.0` },
        { id: contextId, t, ms: t.getTime() },
      );
    } else {
      await this.update("setEndTime", { completedAt: slot("t"), durationSeconds: slot("d") }, { id: contextId, t, d });
    }
  }

  /**
   * Records an error message on the context.
   * @example await db.contexts.setError(ctxId, "embedding service timed out");
   */
  async setError(id: number, error: string): Promise<void> {
    const contextId = v.id(id, "contextId");
    const message = v.text(error, "error");
    await this.update("setError", { error: slot("error") }, { id: contextId, error: message });
  }

  private update(
    key: string,
    set: SQLiteUpdateSetSource<typeof contexts>,
    params: { id: number } & Record<string, unknown>,
  ) {
    return this.updateById(contexts, contexts.contextId, "context", key, set, params);
  }
}
