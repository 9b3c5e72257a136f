/**
 * `RFDatabase.open` checks its options in one place (src/config.ts): an
 * unknown key, a wrong type, or an option that does not apply to the URL is
 * a ConfigError naming the option — nothing is silently ignored.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { OPEN_OPTION_KEYS, openOptionsOf, resolveConfig } from "../src/config";
import { ConfigError, type OpenOptions, RFDatabase } from "../src/index";

const dir = mkdtempSync(join(tmpdir(), "rf-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const FILE = `file:${join(dir, "c.db")}`;
const REMOTE = "http://127.0.0.1:9";
const noDefault = () => {
  throw new Error("no default in this test");
};
const resolve = (o: unknown, env: Record<string, string> = {}) => resolveConfig(o as OpenOptions, noDefault, env);

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("open options", () => {
  it("are exactly the list of API.md, defined once", () => {
    expect([...OPEN_OPTION_KEYS].sort()).toEqual(
      [
        "url",
        "authToken",
        "migrate",
        "readOnly",
        "encryptionKey",
        "syncUrl",
        "syncIntervalSeconds",
        "requestTimeoutMs",
        "busyTimeoutMs",
        "busyRetryMs",
        "logger",
        "redactKeys",
      ].sort(),
    );
  });

  it.each([
    ["intMode", { intMode: "bigint" }, /unknown open option "intMode"/],
    ["a misspelling", { busyTimeoutMS: 10 }, /unknown open option "busyTimeoutMS" \(did you mean "busyTimeoutMs"\?\)/],
    ["another", { encryption_key: "k" }, /did you mean "encryptionKey"/],
    ["a prototype key", JSON.parse('{"__proto__": {"x": 1}}'), /unknown open option "__proto__"/],
  ])("an unknown key (%s) is a ConfigError naming it", (_name, options, message) => {
    expect(configError(() => resolve({ url: FILE, ...options })).message).toMatch(message);
  });

  it("an unknown key fails RFDatabase.open before anything is opened", async () => {
    const url = `file:${join(dir, "never.db")}`;
    await expect(RFDatabase.open({ url, intMode: "string" } as OpenOptions)).rejects.toThrow(ConfigError);
    const { existsSync } = await import("node:fs");
    expect(existsSync(join(dir, "never.db"))).toBe(false);
  });

  it.each([
    ["url", 5],
    ["authToken", 5],
    ["migrate", "yes"],
    ["readOnly", "true"],
    ["encryptionKey", ""],
    ["encryptionKey", 42],
    ["syncUrl", {}],
    ["syncIntervalSeconds", 0],
    ["requestTimeoutMs", -1],
    ["requestTimeoutMs", Number.NaN],
    ["busyTimeoutMs", -5],
    ["busyRetryMs", "100"],
    ["logger", "console"],
    ["redactKeys", "token"],
  ])("%s = %j (wrong type) is a ConfigError naming it, never quoting the value", (key, value) => {
    const err = configError(() => resolve({ url: FILE, [key]: value }));
    expect(err.message).toContain(`open option ${key} must be`);
    if (typeof value === "string" && value.length > 3) expect(err.message).not.toContain(value);
  });

  it.each([
    [
      "encryptionKey on a remote URL",
      { url: REMOTE, encryptionKey: "k" },
      /encryptionKey does not apply to a remote URL/,
    ],
    [
      "encryptionKey on :memory:",
      { url: ":memory:", encryptionKey: "k" },
      /encryptionKey does not apply to an in-memory/,
    ],
    ["syncUrl with :memory:", { url: ":memory:", syncUrl: REMOTE }, /syncUrl needs a file: URL/],
    ["syncUrl with a remote URL", { url: REMOTE, syncUrl: REMOTE }, /syncUrl needs a file: URL/],
    [
      "syncIntervalSeconds without syncUrl",
      { url: FILE, syncIntervalSeconds: 5 },
      /syncIntervalSeconds does not apply to a local file/,
    ],
    [
      "busyTimeoutMs on a remote URL",
      { url: REMOTE, busyTimeoutMs: 10 },
      /busyTimeoutMs does not apply to a remote URL/,
    ],
    [
      "requestTimeoutMs on a file",
      { url: FILE, requestTimeoutMs: 10 },
      /requestTimeoutMs does not apply to a local file/,
    ],
    ["readOnly on a remote URL", { url: REMOTE, readOnly: true }, /readOnly does not apply to a remote URL/],
    ["readOnly on :memory:", { url: ":memory:", readOnly: true }, /readOnly does not apply to an in-memory/],
    [
      "readOnly on a replica",
      { url: FILE, syncUrl: REMOTE, readOnly: true },
      /readOnly does not apply to an embedded replica/,
    ],
    ["authToken on a local file", { url: FILE, authToken: "t0ken-abc" }, /authToken does not apply to a local file/],
    ["readOnly with migrate: true", { url: FILE, readOnly: true, migrate: true }, /migrate: true cannot apply/],
    ["a syncUrl that is not remote", { url: FILE, syncUrl: "file:/x.db" }, /syncUrl must be a libsql/],
  ])("%s is a ConfigError", (_name, options, message) => {
    const err = configError(() => resolve(options));
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain("t0ken-abc");
  });

  it("reads file: URL query parameters instead of ignoring them", () => {
    expect(resolve({ url: `${FILE}?mode=ro` })).toMatchObject({ kind: "file", readOnly: true });
    expect(resolve({ url: `${FILE}?mode=rwc` })).toMatchObject({ kind: "file", readOnly: false });
    expect(configError(() => resolve({ url: `${FILE}?cache=shared` })).message).toMatch(
      /unsupported query parameter "cache"/,
    );
    expect(configError(() => resolve({ url: `${FILE}?mode=memory` })).message).toMatch(
      /mode must be one of ro, rw, rwc/,
    );
    expect(configError(() => resolve({ url: `${FILE}?mode=ro`, readOnly: false })).message).toMatch(/contradicts/);
    expect(configError(() => resolve({ url: "file::memory:?cache=shared" })).message).toMatch(/in-memory/);
  });

  it("takes the auth token from the environment only where a token applies", () => {
    const env = { RF_DB_AUTH_TOKEN: "env-token" };
    expect(resolve({ url: FILE }, env).authToken).toBeUndefined();
    expect(resolve({ url: REMOTE }, env).authToken).toBe("env-token");
    expect(resolve({ url: FILE, syncUrl: REMOTE }, env).authToken).toBe("env-token");
  });

  it("openOptionsOf gives back options that resolve to the same configuration (only those that apply)", () => {
    const logger = () => {};
    for (const options of [
      { url: FILE, busyTimeoutMs: 7, busyRetryMs: 9, logger },
      { url: `${FILE}?mode=ro`, migrate: false as const },
      { url: FILE, encryptionKey: "k", syncUrl: REMOTE, authToken: "t", syncIntervalSeconds: 3 },
      { url: REMOTE, authToken: "t", requestTimeoutMs: 1234, redactKeys: /x/ },
      { url: ":memory:" },
    ]) {
      const config = resolve(options);
      expect(resolve(openOptionsOf(config))).toEqual(config);
    }
  });

  it("accepts every option where it applies", () => {
    expect(
      resolve({
        url: FILE,
        migrate: false,
        readOnly: true,
        encryptionKey: "k",
        busyTimeoutMs: 0,
        busyRetryMs: 0,
        logger: () => {},
        redactKeys: /secret/,
      }),
    ).toMatchObject({ readOnly: true, encryptionKey: "k", busyTimeoutMs: 0, busyRetryMs: 0 });
    expect(resolve({ url: REMOTE, authToken: "t", requestTimeoutMs: 5 })).toMatchObject({ requestTimeoutMs: 5 });
    expect(resolve({ url: FILE, syncUrl: "libsql://x.turso.io", syncIntervalSeconds: 0.5 })).toMatchObject({
      syncUrl: "libsql://x.turso.io",
      syncIntervalSeconds: 0.5,
    });
  });
});
