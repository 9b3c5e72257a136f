import { CompiledQuery } from "./compiled-query";
import type { ExecBinding, QueryTemplate } from "./types";
import { bindingOf } from "./drizzle-internals";
import { generatedTemplate } from "./generated";
import type { Executor, RepositoryOptions } from "../executor";

/** The row type of a Drizzle prepared query (what its `all()` yields). */
export type RowOf<P> = P extends { all(...args: never[]): Promise<Array<infer R>> } ? R : never;

/**
 * Compiled statement templates per owner (a repository class) and key. A key
 * names one fixed query of that class (the builders take no runtime values),
 * so its template is the same for every instance.
 */
let TEMPLATES = new WeakMap<object, Map<string, QueryTemplate>>();

/** The cache of each repository instance, for {@link statementsOf}. */
const CACHES = new WeakMap<object, StatementCache>();

/**
 * Every template built with Drizzle in this process, by repository (entity key) and
 * statement key: what scripts/generate-statements.ts writes out, and what the drift test compares.
 */
const RENDERED = new Map<string, Map<string, QueryTemplate>>();

/** See {@link RENDERED}. */
export function renderedTemplates(): ReadonlyMap<string, ReadonlyMap<string, QueryTemplate>> {
  return RENDERED;
}

/** How many statements were built with Drizzle in this process (0 when all came generated). */
export let drizzleBuilds = 0;

/** Forgets the templates shared by repository classes (with `useGeneratedStatements`: tests, the generator). */
export function forgetTemplates(): void {
  TEMPLATES = new WeakMap();
  RENDERED.clear();
  drizzleBuilds = 0;
}

/** The compiled statements of a repository instance (what the fast-path guard test inspects). */
export function statementsOf(repository: object): StatementCache | undefined {
  return CACHES.get(repository);
}

/**
 * The compiled statements of one repository instance (one executor: the
 * database or one transaction). A statement is built with Drizzle on the
 * first use of its key by any instance of the owner class; later instances
 * reuse the template and only bind it to their executor.
 */
export class StatementCache {
  readonly #byKey = new Map<string, CompiledQuery<unknown>>();
  #bound: ExecBinding | null | undefined;

  readonly #executor: unknown;
  /** The repository class: statement templates are shared by its instances. */
  readonly #owner: object;
  readonly #repository: object;

  /** For `repository` (an instance) running on `executor` (a Drizzle database or transaction). */
  constructor(repository: object, executor: unknown) {
    this.#executor = executor;
    this.#owner = repository.constructor;
    this.#repository = repository;
    CACHES.set(repository, this);
  }

  /** The statement called `key`; `build` returns a Drizzle `.prepare()`d query and runs at most once per owner. */
  get<P>(key: string, build: () => P): CompiledQuery<RowOf<P>> {
    let c = this.#byKey.get(key) as CompiledQuery<RowOf<P>> | undefined;
    if (c === undefined) {
      let templates = TEMPLATES.get(this.#owner);
      if (templates === undefined) {
        templates = new Map();
        TEMPLATES.set(this.#owner, templates);
      }
      const owner = this.#ownerName();
      let template = templates.get(key);
      if (template === undefined && owner !== undefined) {
        template = generatedTemplate(owner, key);
        if (template !== undefined) templates.set(key, template);
      }
      const binding = template ? this.#binding() : undefined;
      if (template && binding) c = new CompiledQuery<RowOf<P>>(template, binding);
      else {
        c = new CompiledQuery<RowOf<P>>(build());
        drizzleBuilds++;
        if (c.template) {
          templates.set(key, c.template);
          if (owner !== undefined) {
            const rendered = RENDERED.get(owner) ?? new Map<string, QueryTemplate>();
            RENDERED.set(owner, rendered);
            rendered.set(key, c.template);
          }
        }
      }
      this.#byKey.set(key, c as CompiledQuery<unknown>);
    }
    return c;
  }

  /** Every statement compiled so far, by key (for the fast-path guard test). */
  entries(): IterableIterator<[string, CompiledQuery<unknown>]> {
    return this.#byKey.entries();
  }

  /** The repository's entity key (`actorTasks`): how generated templates are filed. */
  #ownerName(): string | undefined {
    const key = (this.#repository as { entity?: { key?: unknown } }).entity?.key;
    return typeof key === "string" ? key : undefined;
  }

  #binding(): ExecBinding | undefined {
    if (this.#bound === undefined) this.#bound = bindingOf(this.#executor);
    return this.#bound ?? undefined;
  }
}

/**
 * What every holder of compiled statements shares (the repositories, the change
 * feed, the snapshot reader): the executor it runs on (a Drizzle database or
 * transaction), its error options, and its statement cache.
 */
export abstract class StatementHolder {
  protected readonly statements: StatementCache;

  constructor(
    protected readonly db: Executor,
    protected readonly options: RepositoryOptions = {},
  ) {
    this.statements = new StatementCache(this, db);
  }
}
