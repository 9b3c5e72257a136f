/**
 * Secrets never reach a stored configuration: in every JSON column of every
 * table, strings under keys matching `redactKeys` are stored as "***" —
 * checked on the rows the repositories return AND on the raw column text.
 * A JSON column added to the schema without a case here fails the first test.
 */
import { getTableColumns } from "drizzle-orm";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_REDACT_KEYS, type RFDatabase, redactSecrets, Repositories } from "../src/index";
import * as schema from "../src/schema";
import { BACKENDS, openBackend, type Backend } from "./support/backends";
import { makeExperiment, makePipeline } from "./support/factories";

/** Secrets at several depths, in arrays, and values that must stay. */
const config = () => ({
  api_key: "sk-live-0000",
  client_config: { base_url: "https://api.example", "x-api-key": "k-1", max_tokens: 512, timeout: 30 },
  auth: { password: "hunter2", tokens: ["t-1", "t-2"], secretValue: { nested: "s-1", n: 7 } },
  list: [{ Access_Token: "at-1", keep: "visible" }],
  model: "meta-llama/Llama-3.1-8B",
});
const SECRETS = ["sk-live-0000", "k-1", "hunter2", "t-1", "t-2", "s-1", "at-1"];
const redacted = {
  api_key: "***",
  client_config: { base_url: "https://api.example", "x-api-key": "***", max_tokens: 512, timeout: 30 },
  auth: { password: "***", tokens: ["***", "***"], secretValue: { nested: "***", n: 7 } },
  list: [{ Access_Token: "***", keep: "visible" }],
  model: "meta-llama/Llama-3.1-8B",
};

/** Every JSON column of the schema, as `table.column` (SQL names). */
function jsonColumns(): string[] {
  const out: string[] = [];
  for (const value of Object.values(schema)) {
    const table = value as SQLiteTable;
    if (typeof value !== "object" || value === null || !(Symbol.for("drizzle:IsDrizzleTable") in value)) continue;
    const name = (table as unknown as Record<symbol, string>)[Symbol.for("drizzle:Name")];
    for (const column of Object.values(getTableColumns(table)))
      if (column.dataType === "json") out.push(`${name}.${column.name}`);
  }
  return [...new Set(out)].sort();
}

describe.each(BACKENDS)("secrets on %s", (backendName) => {
  let backend: Backend;
  let db: RFDatabase;
  beforeAll(async () => {
    backend = await openBackend(backendName);
    db = backend.db;
  });
  afterAll(async () => {
    await backend?.close();
  });

  /** The raw text of `table.column` for the row `where id = ?`. */
  const raw = async (table: string, column: string, idColumn: string, id: number) =>
    String(
      (await db.client.execute({ sql: `select ${column} as v from ${table} where ${idColumn} = ?`, args: [id] }))
        .rows[0]!.v,
    );
  const expectNoSecret = (text: string) => {
    for (const s of SECRETS) expect(text, `raw column holds ${s}`).not.toContain(s);
  };

  /** One case per JSON column: writes `config()` there and returns [stored value, raw text]. */
  const CASES: Record<string, () => Promise<[unknown, string]>> = {
    "pipelines.model_config": async () => {
      const id = await makePipeline(db, { modelConfig: config() });
      return [(await db.pipelines.get(id))!.modelConfig, await raw("pipelines", "model_config", "pipeline_id", id)];
    },
    "pipelines.sampling_params": async () => {
      const id = await makePipeline(db, { samplingParams: config() });
      return [
        (await db.pipelines.get(id))!.samplingParams,
        await raw("pipelines", "sampling_params", "pipeline_id", id),
      ];
    },
    "pipelines.config_json": async () => {
      const id = await makePipeline(db, { configJson: config() });
      return [(await db.pipelines.get(id))!.configJson, await raw("pipelines", "config_json", "pipeline_id", id)];
    },
    "pipelines.flattened_config": async () => {
      // computed from configJson: the flattened secrets are redacted as well
      const id = await makePipeline(db, { configJson: config() });
      const row = (await db.pipelines.get(id))!;
      expect(row.flattenedConfig).toMatchObject({
        api_key: "***",
        "auth.password": "***",
        "client_config.max_tokens": 512,
      });
      expectNoSecret(await raw("pipelines", "flattened_config", "pipeline_id", id));
      // given: its dotted keys are matched as a whole
      const given = await makePipeline(db, {
        flattenedConfig: { "client_config.api_key": "sk-live-0000", "x.tokens": ["t-1"], "x.max_tokens": 5, ok: "k" },
      });
      expect((await db.pipelines.get(given))!.flattenedConfig).toEqual({
        "client_config.api_key": "***",
        "x.tokens": ["***"],
        "x.max_tokens": 5,
        ok: "k",
      });
      const nested = await makePipeline(db, { flattenedConfig: { ...flatOf(config()) } });
      return [
        (await db.pipelines.get(nested))!.flattenedConfig,
        await raw("pipelines", "flattened_config", "pipeline_id", nested),
      ];
    },
    "contexts.rag_config": async () => {
      const id = await db.contexts.create({ contextHash: `secret-rag-${backendName}`, ragConfig: config() });
      return [(await db.contexts.get(id))!.ragConfig, await raw("contexts", "rag_config", "context_id", id)];
    },
    "contexts.prompt_config": async () => {
      const id = await db.contexts.create({ contextHash: `secret-prompt-${backendName}`, promptConfig: config() });
      return [(await db.contexts.get(id))!.promptConfig, await raw("contexts", "prompt_config", "context_id", id)];
    },
    "interactive_control.request_data": async () => {
      const pipelineId = await makePipeline(db);
      const id = await db.icOperations.create({ operation: "stop", pipelineId, requestData: config() });
      const clone = await db.icOperations.create({
        operation: "clone",
        parentPipelineId: pipelineId,
        config: config(),
      });
      expect((await db.icOperations.get(clone))!.requestData).toMatchObject({ config: redacted });
      expectNoSecret(await raw("interactive_control", "request_data", "ic_id", clone));
      return [
        (await db.icOperations.get(id))!.requestData,
        await raw("interactive_control", "request_data", "ic_id", id),
      ];
    },
  };
  /** Part of the flattened view of `config()`, by hand: a caller-given flattened config with secrets in it. */
  const flatOf = (c: ReturnType<typeof config>) => ({
    api_key: c.api_key,
    "client_config.x-api-key": c.client_config["x-api-key"],
    "auth.password": c.auth.password,
    "auth.tokens": c.auth.tokens,
    model: c.model,
  });

  /** JSON columns that hold no configuration, with the reason. */
  const NOT_CONFIG: Record<string, string> = {
    "legacy_imports.counts": "row counts of a legacy import (numbers per table), written by the importer",
  };

  it("every JSON column of the schema has a case here (or is named as holding no configuration)", () => {
    expect([...Object.keys(CASES), ...Object.keys(NOT_CONFIG)].sort()).toEqual(jsonColumns());
  });

  it.each(Object.keys(CASES))("%s: strings under secret keys are stored as ***", async (column) => {
    const [stored, text] = await CASES[column]!();
    if (column === "pipelines.flattened_config")
      expect(stored).toEqual({
        api_key: "***",
        "client_config.x-api-key": "***",
        "auth.password": "***",
        "auth.tokens": ["***", "***"],
        model: "meta-llama/Llama-3.1-8B",
      });
    else expect(stored).toEqual(redacted);
    expectNoSecret(text);
  });

  it("a clone's child configuration carries no secret from the request", async () => {
    const parent = await makePipeline(db, { configJson: { model: "m" } });
    const icId = await db.icOperations.create({ operation: "clone", parentPipelineId: parent, config: config() });
    const child = await db.icOperations.apply(icId);
    const row = (await db.pipelines.get(child))!;
    expect(row.configJson).toEqual(redacted);
    expectNoSecret(JSON.stringify(row));
    expectNoSecret(await raw("pipelines", "config_json", "pipeline_id", child));
  });

  it("the hash is over the stored (redacted) configuration: secrets do not change it", async () => {
    const a = await makePipeline(db, { configJson: { client: { api_key: "sk-a" }, t: 1 } });
    const b = await makePipeline(db, { configJson: { client: { api_key: "sk-b" }, t: 1 } });
    expect((await db.pipelines.get(a))!.configHash).toBe((await db.pipelines.get(b))!.configHash);
  });

  it("redactKeys replaces the default pattern (a /g pattern behaves the same on every call)", async () => {
    const custom = new Repositories(db.drizzle, { redactKeys: /^internal_/g });
    const experimentId = await makeExperiment(db);
    for (let i = 0; i < 3; i++) {
      const id = await custom.pipelines.create({
        experimentId,
        pipelineType: "vllm",
        configJson: { internal_url: "http://10.0.0.1", api_key: "kept-by-this-pattern", tokenizer: "llama" },
      });
      expect((await custom.pipelines.get(id))!.configJson).toEqual({
        internal_url: "***",
        api_key: "kept-by-this-pattern",
        tokenizer: "llama",
      });
    }
    // the default pattern also redacts a tokenizer name (a string under a key containing "token")
    const id = await makePipeline(db, { experimentId, modelConfig: { tokenizer: "llama", max_tokens: 8 } });
    expect((await db.pipelines.get(id))!.modelConfig).toEqual({ tokenizer: "***", max_tokens: 8 });
  });
});

describe("redactSecrets", () => {
  it("copies only what it changes, and keeps __proto__ a plain key", () => {
    const clean = { a: { b: [1, "x"] }, c: null };
    expect(redactSecrets(clean)).toBe(clean);
    const mixed = { keep: { b: 1 }, secret: "s" };
    const out = redactSecrets(mixed);
    expect(out).toEqual({ keep: { b: 1 }, secret: "***" });
    expect(out.keep).toBe(mixed.keep);
    expect(mixed.secret).toBe("s"); // the input is untouched
    const proto = redactSecrets(JSON.parse('{"__proto__": {"password": "p"}}'));
    expect(Object.keys(proto)).toEqual(["__proto__"]);
    expect(JSON.stringify(proto)).toBe('{"__proto__":{"password":"***"}}');
    expect(({} as Record<string, unknown>).password).toBeUndefined();
  });

  it("the default pattern: api keys, tokens, secrets, passwords, any case", () => {
    for (const key of [
      "api_key",
      "apiKey",
      "API-KEY",
      "openai_api_key",
      "token",
      "AUTH_TOKEN",
      "client_secret",
      "Password",
    ])
      expect(DEFAULT_REDACT_KEYS.test(key), key).toBe(true);
    for (const key of ["model", "temperature", "key", "base_url", "api_count"])
      expect(DEFAULT_REDACT_KEYS.test(key), key).toBe(false);
  });
});
