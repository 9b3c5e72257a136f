import { eq, sql } from "drizzle-orm";
import { CONTEXT_STATUSES, CONTEXT_TRANSITIONS, contexts, type Context } from "../schema";
import * as v from "../validate";
import { defineEntity } from "./entity";
import { field, type InputOf, inputSpec } from "./input";
import { TimedLifecycleRepository } from "./lifecycle";
import { redactFields } from "./redact";

const p = sql.placeholder;

/** The context entity (see entity.ts). */
export const contextEntity = defineEntity(contexts, {
  key: "contexts",
  name: "context",
  timed: true,
  unfinished: ["pending", "building"],
  transitions: CONTEXT_TRANSITIONS,
});

/** `contexts.create`'s input; the status default (`pending`) is the schema's. */
export const contextInput = inputSpec(contexts, {
  contextHash: field.text({ nonEmpty: true }),
  ragConfig: field.json().optional(),
  promptConfig: field.json().optional(),
  /** Defaults to `pending`. */
  status: field.oneOf(CONTEXT_STATUSES).optional(),
});
export interface CreateContextInput extends InputOf<typeof contextInput> {}

/** `db.contexts`: RAG contexts, built once and shared by every pipeline with the same hash. */
export class ContextRepository extends TimedLifecycleRepository<typeof contextEntity> {
  protected readonly entity = contextEntity;

  /**
   * Creates a context, or returns the id of the one that already has this
   * hash (then the given configs are ignored). One statement — an upsert that
   * rewrites the hash with itself so RETURNING yields the existing id — so two
   * processes racing on one hash both get the same id and no error.
   * @example const ctxId = await db.contexts.create({ contextHash: sha, ragConfig: { k: 5 } });
   */
  async create(input: CreateContextInput): Promise<number> {
    const values = redactFields(contextInput, contextInput.parse(input), this.options.redactKeys);
    const stmt = this.compiled("create", () =>
      this.db
        .insert(contexts)
        .values(contextInput.placeholders())
        // Not onConflictDoNothing: its RETURNING is empty on conflict, which would cost a second query.
        .onConflictDoUpdate({ target: contexts.contextHash, set: { contextHash: sql`excluded.context_hash` } })
        .returning({ id: contexts.contextId })
        .prepare(),
    );
    const row = await this.settle(stmt.get(values));
    return row!.id;
  }

  /**
   * The context with this hash, or `null`.
   * @example const ctx = await db.contexts.getByHash(sha);
   */
  async getByHash(hash: string): Promise<Context | null> {
    const contextHash = v.text(hash, "hash");
    const stmt = this.rows("getByHash", () => ({ where: eq(contexts.contextHash, p("hash")) }));
    return (await this.settle(stmt.get({ hash: contextHash }))) ?? null;
  }
}
