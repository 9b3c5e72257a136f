/** One drizzle-kit migration, embedded in the package. */
export interface Migration {
  /** drizzle-kit's tag, e.g. `0000_initial_schema`. */
  readonly tag: string;
  /** The journal's `when` (ms); drizzle records it as `created_at` and orders by it. */
  readonly when: number;
  /** sha256 of the .sql file, as drizzle records it. */
  readonly hash: string;
  readonly statements: readonly string[];
}
