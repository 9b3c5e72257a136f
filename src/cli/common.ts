/**
 * What the `rf-db` commands share: exit codes, the one error type a command
 * throws on purpose, option parsers, the connection options, and small text
 * helpers. Kept free of side effects so tests and other modules can import it.
 */
import { readFileSync } from "node:fs";
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
  /** A file holding the token (one line; surrounding whitespace ignored). */
  authTokenFile?: string;
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
      "auth token for a remote URL (default: $RF_DB_AUTH_TOKEN; prefer it or --auth-token-file: arguments show up in `ps`)",
    )
    .option("--auth-token-file <path>", "read the auth token from this file (e.g. a mounted secret, mode 0600)");
}

/**
 * The auth token the options give: `--auth-token`, or the contents of
 * `--auth-token-file` (trimmed), or undefined (then `$RF_DB_AUTH_TOKEN`).
 * Both options at once, or a file that cannot be read or is empty, is a usage
 * error (exit 2) — the message names the path, never the contents.
 */
export function tokenOf(opts: ConnectionOptions): string | undefined {
  if (opts.authTokenFile === undefined) return opts.authToken;
  if (opts.authToken !== undefined) {
    throw new CliError("give either --auth-token or --auth-token-file, not both", EXIT.USAGE);
  }
  let text: string;
  try {
    text = readFileSync(opts.authTokenFile, "utf8");
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message;
    throw new CliError(`cannot read --auth-token-file ${opts.authTokenFile}: ${why}`, EXIT.USAGE);
  }
  const token = text.trim();
  if (!token) throw new CliError(`--auth-token-file ${opts.authTokenFile} is empty`, EXIT.USAGE);
  return token;
}

/**
 * `status --watch` and `demo` run for minutes: a token given with
 * `--auth-token` was visible to every user of the machine while rf-db started
 * (rf-db then hides it, see `hideTokenArguments`), and stays visible in the
 * command line of any wrapper (npx, npm run, a shell script) for the whole
 * run. Said once, on stderr.
 */
export function warnIfTokenOnCommandLine(
  opts: ConnectionOptions,
  write = (s: string) => process.stderr.write(s),
): void {
  if (opts.authToken === undefined) return;
  write(
    "rf-db: warning: --auth-token is visible to other users in process lists (and stays so in wrappers such as " +
      "npx or npm run while this command runs); use --auth-token-file PATH or RF_DB_AUTH_TOKEN instead\n",
  );
}

/**
 * Overwrites this process's command line (what `ps` and /proc/<pid>/cmdline
 * show every user) with the same arguments but the `--auth-token` value
 * replaced by `***`, as `mysql -p…` does. Linux and macOS (Node's
 * `process.title` writes over the original argv memory). Only for the
 * entry point: returns false when there was nothing to hide.
 */
export function hideTokenArguments(argv: readonly string[]): boolean {
  let hidden = false;
  const shown = argv.map((arg, i) => {
    if (argv[i - 1] === "--auth-token") {
      hidden = true;
      return "***";
    }
    if (arg.startsWith("--auth-token=")) {
      hidden = true;
      return "--auth-token=***";
    }
    return arg;
  });
  if (hidden) process.title = shown.join(" ");
  return hidden;
}

/**
 * The database the options name, resolved by the library exactly as
 * `RFDatabase.open` resolves it (`--url` → `$RF_DB_URL` → the embedded
 * default; token: `--auth-token` → `$RF_DB_AUTH_TOKEN`) — once: a command looks
 * at the result (a missing local file, the URL for worker processes) and then
 * opens exactly that with `openDatabase`.
 */
export function resolveTarget(opts: ConnectionOptions, migrate: "auto" | boolean = "auto"): ResolvedConfig {
  const authToken = tokenOf(opts);
  return resolveNodeConfig({
    ...(opts.url === undefined ? {} : { url: opts.url }),
    ...(authToken === undefined ? {} : { authToken }),
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
  const value = (name: string, i: number): string | undefined => {
    const arg = argv[i]!;
    if (arg === name && i + 1 < argv.length) return argv[i + 1];
    return arg.startsWith(`${name}=`) ? arg.slice(name.length + 1) : undefined;
  };
  const urls = [env.RF_DB_URL];
  for (let i = 0; i < argv.length; i++) {
    const token = value("--auth-token", i);
    if (token !== undefined) secrets.push(token);
    const file = value("--auth-token-file", i);
    if (file !== undefined) {
      try {
        secrets.push(readFileSync(file, "utf8").trim());
      } catch {
        /* reported when the command resolves its options */
      }
    }
    urls.push(value("--url", i));
  }
  if (env.RF_DB_AUTH_TOKEN) secrets.push(env.RF_DB_AUTH_TOKEN);
  // The user-info of a URL (refused by the library, and never printed by it): scrubbed here too.
  for (const url of urls) {
    const info = url && /^[a-z][a-z0-9+.-]*:\/\/([^?#]*)@/i.exec(url)?.[1];
    if (info) secrets.push(info, ...info.split(":").filter((p) => p.length >= 4));
  }
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
