/**
 * `rf-db`: the package's command line — `migrate` (deploys), `status`
 * (inspection), `demo` (the simulated multi-process experiment).
 *
 * Contract: exit 0 on success; on failure exactly one line
 * `rf-db: <message>` on stderr and a non-zero exit code — 2 for a usage error
 * (unknown command or option, bad number), 1 for anything else, 130 after
 * Ctrl-C. No stack traces unless `RF_DB_DEBUG=1`. Nothing printed ever
 * contains the auth token (it is scrubbed from every line as a last resort).
 *
 * Importing this module has no side effects; it runs only as the entry point
 * (`node dist/cli/main.js`, the npm bin, or `tsx src/cli/main.ts`).
 *
 * The commands' options are declared here; their implementations (and with
 * them libSQL and Drizzle) are imported only when a command runs, so `--help`
 * and usage errors answer in a fraction of the time.
 */
import { realpathSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, Option } from "commander";
import {
  addConnectionOptions,
  DEMO_LIMITS,
  EXIT,
  errorLine,
  exitCodeOf,
  hideTokenArguments,
  integerOption,
  knownSecrets,
  scrubSecrets,
} from "./common";
import type { CheckCommandOptions } from "./check-command";
import type { DashboardCommandOptions } from "./dashboard-command";
import type { DemoOptions } from "./demo-command";
import type { ImportCommandOptions } from "./import-command";
import type { MigrateCommandOptions } from "./migrate-command";
import type { ReapCommandOptions } from "./reap-command";
import type { StatusCommandOptions } from "./status-command";

/** The package version, read at run time (src/cli and dist/cli are both two levels below package.json). */
function packageVersion(): string {
  try {
    return (createRequire(import.meta.url)("../../package.json") as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** The help's closing lines: what the command does beyond its options, then its examples. */
function helpAfter(cmd: Command, note: string, examples: string[]): void {
  const list = examples.map((e) => `  ${e}`).join("\n");
  cmd.addHelpText("after", `\n${note}\nExample${examples.length === 1 ? "" : "s"}:\n${list}`);
}

/**
 * A command's action, run from its module — imported only when the command
 * runs, so `--help` and usage errors do not load libSQL and Drizzle. Only the
 * options are passed on (commander also passes the Command).
 */
function lazy<T>(load: () => Promise<(opts: T) => Promise<void>>): (opts: T) => Promise<void> {
  return async (opts: T) => (await load())(opts);
}

/**
 * The commander program. Commander's own errors are routed through the same
 * one-line `rf-db: …` format (and secret scrubbing) as ours, and it never
 * calls `process.exit` itself (exitOverride), so `main` decides the code.
 */
export function buildProgram(secrets: readonly string[] = []): Command {
  const program = new Command("rf-db");
  program
    .description("rf-inferno-db: migrate, inspect and demo the database of multi-pipeline LLM inference experiments")
    .version(packageVersion(), "-V, --version")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void process.stdout.write(scrubSecrets(s, secrets)),
      writeErr: (s) => void process.stderr.write(scrubSecrets(s, secrets)),
      outputError: (s, write) =>
        write(
          `rf-db: ${s
            .replace(/^error: /, "")
            .replace(/\s*\n\s*/g, " ")
            .trim()}\n`,
        ),
    })
    .showSuggestionAfterError(true)
    .addHelpText(
      "after",
      "\nDatabase: --url, else $RF_DB_URL, else the embedded file:<$RF_DB_PATH or ~/db>/rapidfire.db.\n" +
        "Auth token for remote URLs: $RF_DB_AUTH_TOKEN or --auth-token-file PATH (or --auth-token, visible in `ps`).\n" +
        "RF_DB_DEBUG=1 prints stack traces.\n" +
        "Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted.",
    );

  const migrate = program
    .command("migrate")
    .description("apply pending schema migrations to a database (run it as part of a deploy)")
    .addOption(
      new Option(
        "--baseline",
        "for a database made by drizzle-kit push (tables, no migration records): check the tables match the migrations, then record them",
      ).conflicts(["status", "dryRun"]),
    )
    .addOption(
      new Option(
        "--status",
        "list this package's migrations, applied or pending, and the database's state; writes nothing",
      ).conflicts("dryRun"),
    )
    .option("--dry-run", "print the migrations `rf-db migrate` would apply, with their SQL; writes nothing");
  helpAfter(
    migrate,
    "Prints each migration it applied, or that the database was already up to date. --status and --dry-run open a\n" +
      "local file read-only and do not create a missing one.",
    [
      "RF_DB_AUTH_TOKEN=... rf-db migrate --url libsql://my-db.turso.io",
      "rf-db migrate                       # the embedded default database",
      "rf-db migrate --status              # applied and pending migrations",
      "rf-db migrate --dry-run             # what `rf-db migrate` would apply, and its SQL",
      "rf-db migrate --baseline            # adopt a database made by drizzle-kit push",
    ],
  );
  addConnectionOptions(migrate).action(
    lazy<MigrateCommandOptions>(async () => (await import("./migrate-command")).runMigrate),
  );

  const check = program
    .command("check")
    .description(
      "check a database: SQLite integrity, foreign keys, migration records, and its tables against the migrations (never writes)",
    );
  helpAfter(check, "Prints `ok: <url>`, or one problem per line and exits 1.", [
    "rf-db check",
    "rf-db check --url libsql://my-db.turso.io --auth-token-file ~/.turso-token",
  ]);
  addConnectionOptions(check).action(lazy<CheckCommandOptions>(async () => (await import("./check-command")).runCheck));

  const status = program
    .command("status")
    .description("show an experiment: pipelines with progress bars, task counts by status, running tasks")
    .option(
      "-e, --experiment <id>",
      "experiment id (default: the running one, else the most recent)",
      integerOption(0, Number.MAX_SAFE_INTEGER),
    )
    .option("-w, --watch", "refresh until the experiment is no longer running, then print the final view")
    .option("--interval <ms>", "refresh interval for --watch, in ms", integerOption(50, 60_000), 500)
    .option(
      "--json",
      "print one JSON document (schema rf-inferno-db/status@1, see the README); with --watch one per line, per change",
    );
  helpAfter(
    status,
    "With no experiment in the database it says so and exits 0; a missing database file is not created.",
    ["rf-db status", "rf-db status --experiment 3 --watch", "rf-db status --json | jq .progress"],
  );
  addConnectionOptions(status).action(
    lazy<StatusCommandOptions>(async () => (await import("./status-command")).runStatus),
  );

  const reap = program
    .command("reap")
    .description(
      "recover what dead processes left: fail experiments whose controller stopped heartbeating, hand out tasks and IC operations whose lease ended",
    );
  helpAfter(
    reap,
    "One transaction, by the database's clock; live leases and experiments that never heartbeated are untouched.",
    ["rf-db reap", "rf-db reap --url libsql://my-db.turso.io"],
  );
  addConnectionOptions(reap).action(lazy<ReapCommandOptions>(async () => (await import("./reap-command")).runReap));

  const L = DEMO_LIMITS;
  const demo = program
    .command("demo")
    .description(
      "run a simulated multi-pipeline experiment with actor worker processes writing the database concurrently; live progress, then a summary",
    )
    .option("--pipelines <n>", `pipelines (1-${L.pipelines})`, integerOption(1, L.pipelines), 4)
    .option("--shards <n>", `shards per pipeline (1-${L.shards})`, integerOption(1, L.shards), 16)
    .option("--actors <n>", `actor worker processes (1-${L.actors})`, integerOption(1, L.actors), 4)
    .option(
      "--work-ms <ms>",
      `simulated work per task in ms, each task taking 0.5-1.5x this (0-${L.workMs})`,
      integerOption(0, L.workMs),
      200,
    )
    .option(
      "--chaos",
      "SIGKILL a random actor mid-task every 2-4 s and start another: its task is re-taken when its lease ends, and every shard still completes exactly once",
    );
  helpAfter(
    demo,
    `At most ${L.tasks} tasks (pipelines × shards). The database is the embedded default\n` +
      "(file:<$RF_DB_PATH or ~/db>/rapidfire.db) unless --url or $RF_DB_URL names another.\n" +
      "Watch it from another terminal with `rf-db status --watch`.",
    ["rf-db demo --pipelines 8 --shards 32 --actors 6", "rf-db demo --chaos --shards 32"],
  );
  addConnectionOptions(demo).action(lazy<DemoOptions>(async () => (await import("./demo-command")).runDemo));

  const dashboard = program
    .command("dashboard")
    .description(
      "serve a live web page of an experiment: pipeline progress, running tasks, IC operations, stop/resume/delete/clone",
    )
    .option("--port <n>", "port to listen on (0: any free port)", integerOption(0, 65_535), 7878)
    .option("--host <address>", "address to listen on (127.0.0.1: this machine only)", "127.0.0.1")
    .option(
      "--interval <ms>",
      "how often the page's stream asks the database for changes",
      integerOption(50, 60_000),
      500,
    );
  helpAfter(
    dashboard,
    "Prints the page's address; the page updates by itself (server-sent events) and its buttons\n" +
      "enqueue IC operations for the scheduler. Ctrl-C stops it.",
    ["rf-db dashboard", "rf-db dashboard --port 8080 --url libsql://my-db.turso.io --auth-token-file ~/.turso-token"],
  );
  addConnectionOptions(dashboard).action(
    lazy<DashboardCommandOptions>(async () => (await import("./dashboard-command")).runDashboard),
  );

  const importCmd = program
    .command("import")
    .argument("[legacy.db]", "a database written by RapidFire's Python module (default: see below)")
    .description("move a database written by RapidFire's Python module into this package's database")
    .addOption(
      new Option("--naive-times <zone>", "read the module's zone-less ISO times (task/context start and end) as")
        .choices(["local", "utc"])
        .default("local"),
    )
    .option("--no-progress", "no progress bar (it is drawn on a terminal for sources of 10 000 rows or more)");
  helpAfter(
    importCmd,
    "Reads the source read-only and imports it in one transaction; a second run imports nothing.\n" +
      "Without a file: the Python database at the target's path (the default ~/db/rapidfire.db) is\n" +
      "renamed aside, unchanged (the new name is printed), and imported into a new database there.",
    ["rf-db import", "rf-db import ~/old/rapidfire.db --url libsql://my-db.turso.io"],
  );
  addConnectionOptions(importCmd).action(async (file: string | undefined, opts: ImportCommandOptions) => {
    await (await import("./import-command")).runImport(file, opts);
  });
  return program;
}

/**
 * Runs the CLI with `argv` (as `process.argv`: node, script, args…) and
 * resolves to the exit code; prints the one-line error itself.
 * @example process.exitCode = await main(process.argv);
 */
export async function main(argv: readonly string[] = process.argv): Promise<number> {
  const secrets = knownSecrets(argv.slice(2), process.env);
  if (argv.length <= 2) {
    // Commander would print the whole help to stderr; a usage error is one line here.
    process.stderr.write(
      "rf-db: missing command (migrate, check, status, reap, dashboard, demo, import); see `rf-db --help`\n",
    );
    return EXIT.USAGE;
  }
  const program = buildProgram(secrets);
  try {
    await program.parseAsync([...argv]);
    return EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version "errors" are successes; commander already printed the message.
      if (err.exitCode === 0) return EXIT.OK;
      return EXIT.USAGE;
    }
    process.stderr.write(`rf-db: ${errorLine(err, secrets)}\n`);
    if (process.env.RF_DB_DEBUG === "1" && err instanceof Error && err.stack) {
      process.stderr.write(`${scrubSecrets(err.stack, secrets)}\n`);
    }
    return exitCodeOf(err);
  }
}

/** True when this module is the process's entry point (also through the npm bin symlink). */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  // `rf-db status | head -1`: a closed pipe is not an error worth a stack trace.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(EXIT.OK);
    throw err;
  });
  // First thing: take a token given with --auth-token out of what `ps` shows every user.
  hideTokenArguments(process.argv);
  main().then((code) => {
    process.exitCode = code;
  });
}
