/**
 * The statement engine: repository statements are built with Drizzle once
 * and then run without Drizzle's per-call machinery. See compiled-query.ts
 * (what a compiled statement is), statement-cache.ts (one per repository
 * instance) and drizzle-internals.ts (the one file that reads Drizzle's
 * internals, guarded by tests/statement-engine.test.ts).
 */
export { CompiledQuery, slowPath } from "./compiled-query";
export type { Decoder, Encoder, ExecBinding, ExecTarget, QueryTemplate, Slot } from "./types";
export {
  drizzleBuilds,
  forgetTemplates,
  renderedTemplates,
  StatementCache,
  StatementHolder,
  statementsOf,
  type RowOf,
} from "./statement-cache";
export {
  type GeneratedStatement,
  type GeneratedStatements,
  serializeTemplate,
  useGeneratedStatements,
} from "./generated";
export { bindingOf, drizzleOver } from "./drizzle-internals";
