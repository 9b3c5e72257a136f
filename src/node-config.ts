/**
 * Configuration on Node: the embedded default database, and the one
 * resolution `RFDatabase.open` (from `rf-inferno-db`) performs — options →
 * environment → default. The CLI resolves with `resolveNodeConfig` once, looks
 * at what it resolved (is it a local file that does not exist yet? what URL do
 * the demo's workers get?), and opens exactly that with `openOptionsOf`.
 * Node only (the home directory); the web entry has no default.
 */
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { currentEnv, resolveConfig, type OpenOptions, type ResolvedConfig } from "./config";

/** `file:<RF_DB_PATH or ~/db>/rapidfire.db` — the embedded default. */
export function defaultDatabaseUrl(env: Record<string, string | undefined> = currentEnv()): string {
  const dir = env.RF_DB_PATH || join(homedir(), "db");
  return `file:${join(resolve(dir), "rapidfire.db")}`;
}

/**
 * What `RFDatabase.open(options)` opens on Node.
 * @example const { kind, path } = resolveNodeConfig({ url: process.env.MY_URL });
 */
export function resolveNodeConfig(options?: OpenOptions): ResolvedConfig {
  return resolveConfig(options, defaultDatabaseUrl);
}
