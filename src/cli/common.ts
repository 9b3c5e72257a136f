/**
 * What the `rf-db` commands share: exit codes, the one error type a command
 * throws on purpose, option parsers, the connection options, and small text
 * helpers. Kept free of side effects so tests and other modules can import it.
 */
import { InvalidArgumentError, type Command } from "commander";
import { openOptionsOf, type ResolvedConfig } from "../config";
import { RFDatabaseError } from "../errors";
import type { RFDatabase } from "../index";
import { resolveNodeConfig } from "../node-config";

/**
 * Exit codes of `rf-db`. `USAGE` is kept apart from `FAILURE` so a script can
 * tell "you called it wrong" (fix the command line) from "the database or a
 * worker failed" (retry, look at the database). 130 is the shell's 128+SIGINT.
 */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, INTERRUPTED: 130 } as const;

/** Caps of `rf-db demo`: a demo should finish in minutes and not fill a disk. */
export const DEMO_LIMITS = { pipelines: 64, shards: 10_000, actors: 64, workMs: 60_000, tasks: 100_000 } as const;

/** A failure the CLI reports as `rf-db: <message>`, with its exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.FAILURE,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "CliError";
  }
}

/** Options every command that talks to a database accepts. */
export interface ConnectionOptions {
  url?: string;
  authToken?: string;
}

/**
 * Adds `--url` and `--auth-token`. Both are optional because
 * `RFDatabase.open` already falls back to `RF_DB_URL` / `RF_DB_AUTH_TOKEN` and
 * the embedded default; the help text says so, and recommends the env var for
 * the token since command-line arguments are visible to other users in `ps`.
 */
export function addConnectionOptions(cmd: Command): Command {
  return cmd
    .option(
      "--url <url>",
      "database URL: file:<path>, :memory:, libsql://, http(s)://, ws(s):// (default: $RF_DB_URL, else file:<$RF_DB_PATH or ~/db>/rapidfire.db)",
    )
    .option(
      "--auth-token <token>",
      "auth token for a remote URL (default: $RF_DB_AUTH_TOKEN, which is preferable: arguments show up in `ps`)",
    );
}

/**
 * The database the options name, resolved by the library exactly as
 * `RFDatabase.open` resolves it (`--url` → `$RF_DB_URL` → the embedded
 * default; token: `--auth-token` → `$RF_DB_AUTH_TOKEN`) — once: a command looks
 * at the result (a missing local file, the URL for worker processes) and then
 * opens exactly that with `openDatabase`.
 */
export function resolveTarget(opts: ConnectionOptions, migrate: "auto" | boolean = "auto"): ResolvedConfig {
  return resolveNodeConfig({
    ...(opts.url === undefined ? {} : { url: opts.url }),
    ...(opts.authToken === undefined ? {} : { authToken: opts.authToken }),
    migrate,
  });
}

/**
 * Opens what `resolveTarget` resolved (or the options name). The package
 * (libSQL, Drizzle: ~0.4 s to load) is imported only here, when a command
 * needs it, so `--help` and usage errors answer quickly.
 */
export async function openDatabase(
  target: ConnectionOptions | ResolvedConfig,
  migrate: "auto" | boolean = "auto",
): Promise<RFDatabase> {
  const config = "kind" in target ? target : resolveTarget(target, migrate);
  const { RFDatabase } = await import("../index");
  return RFDatabase.open(openOptionsOf(config));
}

/**
 * A commander argument parser for an integer in [min, max]. Strict (digits
 * only): `parseInt("4abc")` would quietly accept a typo.
 * @example cmd.option("--shards <n>", "shards", integerOption(1, 10_000), 16)
 */
export function integerOption(min: number, max: number): (raw: string) => number {
  return (raw: string) => {
    const text = raw.trim();
    const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}.`);
    }
    return value;
  };
}

/**
 * The auth tokens this invocation knows about (`--auth-token X`,
 * `--auth-token=X`, `RF_DB_AUTH_TOKEN`), so that anything the CLI prints can be
 * scrubbed of them — defence in depth on top of the package's own scrubbing,
 * covering messages commander or Node produce.
 */
export function knownSecrets(argv: readonly string[], env: NodeJS.ProcessEnv): string[] {
  const secrets: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--auth-token" && i + 1 < argv.length) secrets.push(argv[i + 1]!);
    else if (arg.startsWith("--auth-token=")) secrets.push(arg.slice("--auth-token=".length));
  }
  if (env.RF_DB_AUTH_TOKEN) secrets.push(env.RF_DB_AUTH_TOKEN);
  return secrets.filter((s) => s.length > 0);
}

/** Replaces every secret (and its URL-encoded form) with `[redacted]`. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    out = out.split(s).join("[redacted]");
    const encoded = encodeURIComponent(s);
    if (encoded !== s) out = out.split(encoded).join("[redacted]");
  }
  return out;
}

/**
 * The one line `rf-db: <message>` is made of: the package's typed errors and
 * our own `CliError`s already carry a clear message; anything else gets its
 * class name so an unexpected failure is at least identifiable. Newlines are
 * folded so the message stays one line.
 */
export function errorLine(err: unknown, secrets: readonly string[]): string {
  let message: string;
  if (err instanceof CliError || err instanceof RFDatabaseError) message = err.message;
  else if (err instanceof Error) message = err.message ? `${err.name}: ${err.message}` : err.name;
  else message = String(err);
  const oneLine = message.replace(/\s*\r?\n\s*/g, " ").trim() || "unknown error";
  return scrubSecrets(oneLine, secrets);
}

/** The exit code for a failure. */
export function exitCodeOf(err: unknown): number {
  return err instanceof CliError ? err.exitCode : EXIT.FAILURE;
}

/** `1.2 s`, `850 ms`, `3 min 04 s`: durations as a person reads them. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "?";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  const rest = Math.floor(s % 60);
  if (m < 60) return `${m} min ${String(rest).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** Cuts `text` to `width` characters, marking the cut with `…`. */
export function truncate(text: string, width: number): string {
  if (width <= 0) return "";
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

/** Resolves after `ms`; with a signal, early (without rejecting) when it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
