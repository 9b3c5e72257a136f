import { execFileSync } from "node:child_process";
import Database from "libsql";
import { cpus, totalmem } from "node:os";
import { readFileSync } from "node:fs";

export interface Machine {
  nproc: number;
  cpu: string;
  node: string;
  os: string;
  memGiB: number;
  libsql: string;
  clientVersion: string;
  drizzle: string;
  python: string | null;
  /** SQLite inside the libsql binding. */
  sqlite: string;
  /** File system of the benchmark's work folder (e.g. ext4, overlay, tmpfs). */
  fs: string;
}

function pkgVersion(name: string): string {
  try {
    return (
      JSON.parse(readFileSync(new URL(`../../node_modules/${name}/package.json`, import.meta.url), "utf8")) as {
        version: string;
      }
    ).version;
  } catch {
    return "?";
  }
}

export function machine(workDir = "."): Machine {
  let nproc = cpus().length;
  try {
    nproc = Number(execFileSync("nproc", { encoding: "utf8" }).trim()) || nproc;
  } catch {
    /* keep os.cpus() */
  }
  let python: string | null = null;
  try {
    python = execFileSync(
      "python3",
      ["-c", "import sys, sqlite3; print(sys.version.split()[0], 'sqlite', sqlite3.sqlite_version)"],
      { encoding: "utf8" },
    ).trim();
  } catch {
    python = null;
  }
  let os = `${process.platform} ${process.arch}`;
  try {
    os = `${execFileSync("uname", ["-sr"], { encoding: "utf8" }).trim()} ${process.arch}`;
  } catch {
    /* keep */
  }
  let fs = "?";
  try {
    fs = execFileSync("stat", ["-f", "-c", "%T", workDir], { encoding: "utf8" }).trim();
  } catch {
    /* keep */
  }
  const mem = new Database(":memory:");
  const sqlite = String((mem.prepare("SELECT sqlite_version()").raw(true).get([]) as unknown[])[0]);
  mem.close();
  return {
    nproc,
    cpu: cpus()[0]?.model.trim() ?? "?",
    node: process.version,
    os,
    memGiB: Math.round(totalmem() / 2 ** 30),
    libsql: pkgVersion("libsql"),
    clientVersion: pkgVersion("@libsql/client"),
    drizzle: pkgVersion("drizzle-orm"),
    python,
    sqlite,
    fs,
  };
}
