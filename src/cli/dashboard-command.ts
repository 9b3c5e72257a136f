/**
 * `rf-db dashboard`: serves the live web page (src/dashboard/) for the
 * database the options name, until Ctrl-C. It prints the address and the
 * database (never a token); the page and the server never see the token
 * either — only the database connection holds it.
 *
 * The page's files are read from the package at start: `src/dashboard/`
 * when run from the source, `dist/dashboard/` (copied there by the build)
 * when installed — both are `../dashboard/` from this command's module (the
 * CLI bundle lives in dist/cli/).
 */
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { createAdaptorServer } from "@hono/node-server";
import { ASSET_FILES, type DashboardAssets } from "../dashboard/assets";
import { createDashboardApp } from "../dashboard/server";
import {
  CliError,
  EXIT,
  openDatabase,
  resolveTarget,
  warnIfTokenOnCommandLine,
  type ConnectionOptions,
} from "./common";

export interface DashboardCommandOptions extends ConnectionOptions {
  port: number;
  host: string;
  /** How often each open page's stream asks the database for changes, in ms. */
  interval: number;
}

/** Where the command writes (tests capture it). */
export interface DashboardOutput {
  out(line: string): void;
  err(line: string): void;
}

const stdio: DashboardOutput = {
  out: (line) => void process.stdout.write(`${line}\n`),
  err: (line) => void process.stderr.write(`${line}\n`),
};

/** The page and its script, from the package's own files. */
export function loadAssets(dir = fileURLToPath(new URL("../dashboard/", import.meta.url))): DashboardAssets {
  try {
    return Object.fromEntries(ASSET_FILES.map((f) => [f, readFileSync(`${dir}${f}`, "utf8")])) as DashboardAssets;
  } catch (cause) {
    throw new CliError(`the dashboard's page is missing from ${dir} (reinstall rf-inferno-db)`, EXIT.FAILURE, {
      cause,
    });
  }
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** The Host names a page on `host` is reached under (DNS rebinding protection), or "any" for a non-loopback bind. */
export function allowedHostsFor(host: string): string[] | "any" {
  if (!isLoopback(host)) return "any";
  const h = host.toLowerCase();
  return [...new Set(["127.0.0.1", "localhost", "[::1]", h.includes(":") && !h.startsWith("[") ? `[${h}]` : h])];
}

/**
 * Runs the dashboard until SIGINT/SIGTERM, then closes every stream, the
 * server and the database and throws `CliError("interrupted", 130)` — the
 * exit code every rf-db command gives after Ctrl-C. A port in use or an
 * address that cannot be bound is a one-line error (exit 1).
 */
export async function runDashboard(
  opts: DashboardCommandOptions,
  io: DashboardOutput = stdio,
  stop?: AbortSignal,
): Promise<void> {
  const target = resolveTarget(opts);
  warnIfTokenOnCommandLine(opts, (s) => {
    io.err(s.trimEnd());
    return true;
  });
  const assets = loadAssets();
  const allowedHosts = allowedHostsFor(opts.host);
  const db = await openDatabase(target);
  const shutdown = new AbortController();
  const server = createAdaptorServer({
    fetch: createDashboardApp(db, { assets, allowedHosts, intervalMs: opts.interval, signal: shutdown.signal }).fetch,
  });
  try {
    const address = await new Promise<AddressInfo>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port, opts.host, () => {
        server.off("error", reject);
        resolve(server.address() as AddressInfo);
      });
    }).catch((err: NodeJS.ErrnoException) => {
      const where = `${opts.host}:${opts.port}`;
      if (err.code === "EADDRINUSE") throw new CliError(`${where} is in use: choose another --port (0: any free port)`);
      if (err.code === "EACCES") throw new CliError(`not allowed to listen on ${where}: choose a --port above 1023`);
      if (err.code === "EADDRNOTAVAIL" || err.code === "ENOTFOUND")
        throw new CliError(`cannot listen on ${where}: no such address on this machine (--host)`);
      throw new CliError(`cannot listen on ${where}: ${err.message}`);
    });
    const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
    if (allowedHosts === "any") {
      io.err(
        `rf-db: warning: the dashboard listens on ${shown}:${address.port} with no authentication: anyone who can ` +
          "reach it can stop, delete and clone pipelines. Use the default --host 127.0.0.1 and an SSH tunnel instead.",
      );
    }
    io.out(`rf-db dashboard: http://${shown}:${address.port}/ (database ${db.url}); Ctrl-C stops it`);
    await waitForSignal(stop);
    throw new CliError("interrupted", EXIT.INTERRUPTED);
  } finally {
    shutdown.abort(); // every event stream ends
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
    });
    await db.close();
  }
}

/** Resolves on SIGINT or SIGTERM (or when `stop` aborts, for tests). */
function waitForSignal(stop?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      stop?.removeEventListener("abort", done);
      resolve();
    };
    process.on("SIGINT", done);
    process.on("SIGTERM", done);
    if (stop?.aborted) done();
    stop?.addEventListener("abort", done, { once: true });
  });
}
