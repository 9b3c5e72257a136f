/**
 * Credentials in a database URL (`http://user:password@host`) are refused
 * with a ConfigError, and the password appears nowhere: not in the message,
 * the stack, the cause chain, `util.inspect`, `JSON.stringify` or
 * `String(err)` — whether the URL came from `options.url` or `RF_DB_URL`, on
 * the Node and the web entry. `redactUrl` hides the whole user-info, also
 * when the password itself contains `@` or `/`. (The CLI's side:
 * tests/cli-credentials.test.ts.)
 */
import { inspect } from "node:util";
import { afterEach, describe, expect, it, vi } from "vitest";
import { redactUrl } from "../src/config";
import { ConfigError, RFDatabase } from "../src/index";
import { RFDatabase as WebDatabase } from "../src/web";

afterEach(() => {
  vi.unstubAllEnvs();
});

/** URLs with credentials, and the fragments of the password that must not appear anywhere. */
const CASES: Array<{ url: string; secrets: string[] }> = [
  { url: "http://alice:S3cretPassw0rd@127.0.0.1:1", secrets: ["S3cretPassw0rd"] },
  { url: "libsql://alice:S3cretPassw0rd@db.example.com", secrets: ["S3cretPassw0rd"] },
  { url: "https://alice:p@ssW0rd-with-at@db.example.com/x", secrets: ["p@ss", "ssW0rd-with-at", "W0rd"] },
  { url: "wss://alice:pa/ssW0rdSlash@db.example.com", secrets: ["ssW0rdSlash", "pa/ss"] },
  { url: "http://:OnlyPassw0rd@127.0.0.1:1", secrets: ["OnlyPassw0rd"] },
  { url: "http://alice:p%40ssEncoded@127.0.0.1:1", secrets: ["ssEncoded", "p%40ss", "p@ss"] },
  { url: "ws://tokenAsUser0123456@127.0.0.1:1", secrets: ["tokenAsUser0123456"] },
];

/** Everything a user might print of an error. */
function everything(err: unknown): string {
  const parts: string[] = [String(err), inspect(err, { depth: 20, showHidden: true }), JSON.stringify(err) ?? ""];
  let cur: unknown = err;
  for (let i = 0; cur && i < 10; i++) {
    const e = cur as Error;
    parts.push(String(e.message), String(e.stack), JSON.stringify(e) ?? "");
    cur = (e as { cause?: unknown }).cause;
  }
  return parts.join("\n");
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

describe("a database URL with user:password@", () => {
  for (const { url, secrets } of CASES) {
    it(`is a ConfigError that prints no part of the password: ${redactUrl(url)}`, async () => {
      const errors = [
        await rejection(RFDatabase.open({ url })),
        await rejection(WebDatabase.open({ url })),
        await (async () => {
          vi.stubEnv("RF_DB_URL", url);
          return rejection(RFDatabase.open());
        })(),
      ];
      for (const err of errors) {
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).code).toBe("CONFIG");
        expect((err as Error).message).toMatch(/credentials/);
        expect((err as Error).message).toMatch(/authToken|RF_DB_AUTH_TOKEN/);
        const text = everything(err);
        for (const s of secrets) expect(text).not.toContain(s);
      }
    });
  }
});

describe("redactUrl", () => {
  it("hides the whole user-info, the query and the fragment", () => {
    expect(redactUrl("http://alice:p@ss@db.example.com:8080/x?authToken=abc#f")).toBe(
      "http://***@db.example.com:8080/x?…",
    );
    expect(redactUrl("wss://alice:pa/ss@db.example.com")).toBe("wss://***@db.example.com");
    expect(redactUrl("libsql://db.example.com?authToken=abc")).toBe("libsql://db.example.com?…");
    expect(redactUrl("http://127.0.0.1:8080")).toBe("http://127.0.0.1:8080");
    expect(redactUrl("file:/tmp/a@b/rapidfire.db")).toBe("file:/tmp/a@b/rapidfire.db");
    expect(redactUrl("file:///tmp/a@b/rapidfire.db")).toBe("file:///tmp/a@b/rapidfire.db");
    for (const { url, secrets } of CASES) for (const s of secrets) expect(redactUrl(url)).not.toContain(s);
  });
});
