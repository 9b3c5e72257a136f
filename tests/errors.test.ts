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
