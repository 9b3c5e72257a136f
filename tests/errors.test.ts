import { describe, expect, it } from "vitest";
import { LibsqlError } from "@libsql/client";
import {
  AuthError,
  causeChain,
  DatabaseBusyError,
  gather,
  isLockedError,
  lastMessage,
  mapDriverError,
  scrubChain,
  StorageError,
} from "../src/errors";

/** An error wrapped the way Drizzle wraps a driver error over HTTP. */
function wrapped(secret: string): Error {
  const http = Object.assign(new Error(`HTTP 401 for https://db.example/?token=${secret}`), { status: 401 });
  const libsql = new LibsqlError(
    `SERVER_ERROR: Server returned HTTP status 401 (${secret})`,
    "SERVER_ERROR",
    undefined,
    undefined,
    http,
  );
  return new Error(`Failed query: SELECT 1`, { cause: libsql });
}

describe("the cause-chain walker", () => {
  it("reads every link, outermost first, and stops on a cycle", () => {
    const a = new Error("a") as Error & { cause?: unknown };
    const b = new Error("b", { cause: a });
    a.cause = b; // a cycle: must not loop
    expect(causeChain(b).length).toBe(8);
    expect(causeChain(new Error("x", { cause: "plain string" }))).toEqual([expect.any(Error), "plain string"]);
    expect(causeChain(undefined)).toEqual([]);
  });

  it("gathers codes, status and messages from every link; the last message is the driver's own", () => {
    const err = wrapped("s3cr3t-token");
    const f = gather(err);
    expect(f.codes).toContain("SERVER_ERROR");
    expect(f.status).toBe(401);
    expect(f.text).toContain("Failed query");
    expect(lastMessage(err)).toBe("HTTP 401 for https://db.example/?token=s3cr3t-token");
  });

  it("scrubs the secret from every link of a copy, keeping names and codes, and the mapped error carries the copy", () => {
    const secret = "s3cr3t-token";
    const copy = scrubChain(wrapped(secret), secret);
    const links = causeChain(copy);
    expect(links).toHaveLength(3);
    expect((links[1] as { code?: string }).code).toBe("SERVER_ERROR");
    expect((links[1] as Error).name).toBe("LibsqlError");
    for (const link of links) {
      expect((link as Error).message).not.toContain(secret);
      expect((link as Error).stack).not.toContain(secret);
    }
    const mapped = mapDriverError(wrapped(secret), { secret });
    expect(mapped).toBeInstanceOf(AuthError);
    expect(JSON.stringify(causeChain(mapped).map((l) => [(l as Error).message, (l as Error).stack]))).not.toContain(
      secret,
    );
  });

  it("finds a lock error on any link", () => {
    const busy = new LibsqlError("database is locked", "SQLITE_BUSY", "SQLITE_BUSY", 5);
    expect(isLockedError(new Error("Failed query", { cause: busy }))).toBe(true);
    expect(isLockedError(new Error("Failed query", { cause: new Error("no such table") }))).toBe(false);
    expect(mapDriverError(new Error("Failed query", { cause: busy }))).toBeInstanceOf(DatabaseBusyError);
  });
});

describe("storage failures", () => {
  const sqlite = (code: string, raw: number, message: string) =>
    new Error("Failed query: INSERT …", { cause: new LibsqlError(message, code.replace(/_[A-Z]+$/, ""), code, raw) });

  it.each([
    ["SQLITE_FULL", 13, "database or disk is full", "full"],
    ["SQLITE_IOERR_WRITE", 778, "disk I/O error", "io"],
    ["SQLITE_READONLY", 8, "attempt to write a readonly database", "read-only"],
    ["SQLITE_READONLY_DIRECTORY", 1544, "attempt to write a readonly database", "read-only"],
    ["SQLITE_CANTOPEN", 14, "unable to open database file", "cannot-open"],
    ["SQLITE_NOTADB", 26, "file is not a database", "not-a-database"],
    ["SQLITE_CORRUPT", 11, "database disk image is malformed", "corrupt"],
  ])("%s is a StorageError (%s) naming the file, never the token", (code, raw, message, reason) => {
    const err = mapDriverError(sqlite(code, raw, `${message} tok-SECRET-123`), {
      secret: "tok-SECRET-123",
      database: "/data/rf.db",
    });
    expect(err).toBeInstanceOf(StorageError);
    expect(err).toMatchObject({ code: "STORAGE", reason, path: "/data/rf.db" });
    expect(err.message).toContain("/data/rf.db");
    expect(err.message).not.toContain("tok-SECRET-123");
    expect(String((err.cause as Error).message)).not.toContain("tok-SECRET-123");
  });

  it("recognises sqld's words without a code, and Node's errno codes", () => {
    const remote = new LibsqlError("SQLite error: database or disk is full", "SQLITE_UNKNOWN");
    expect(mapDriverError(remote, { database: "http://db:8080" })).toMatchObject({
      reason: "full",
      path: "http://db:8080",
    });
    const fsErr = Object.assign(new Error("EROFS: read-only file system, mkdir '/ro/db'"), { code: "EROFS" });
    expect(mapDriverError(fsErr, {})).toMatchObject({ code: "STORAGE", reason: "read-only" });
    const enospc = Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
    expect(mapDriverError(enospc, {})).toMatchObject({ reason: "full" });
  });
});
