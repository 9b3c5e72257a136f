/**
 * The configuration views of a pipeline (src/repositories/pipeline-config.ts):
 * the flattening against upstream's own output (the `flattened_config` the
 * 6dd53c1 module stored next to each `pipeline_config_json` in the shared
 * fixture) and against the rules of upstream's `get_flattened_config_leaf`,
 * RFC 8785 canonical JSON, the hash, and the clone merge.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "libsql";
import { describe, expect, it } from "vitest";
import { canonicalJson, configHash, flattenConfig, mergeConfig } from "../src/index";
import { copyFixture, SHARED_DIR } from "./support/shared";

/** The (pipeline_config_json, flattened_config) pairs the Python module wrote, read from a copy. */
function upstreamPairs(): { json: string; flat: string }[] {
  const dir = mkdtempSync(join(tmpdir(), "rf-flatten-"));
  try {
    const copy = copyFixture("rapidfire-6dd53c1.db", dir);
    const raw = new Database(copy, { readonly: true });
    const rows = raw
      .prepare("select pipeline_config_json as json, flattened_config as flat from pipelines order by pipeline_id")
      .all() as { json: string; flat: string }[];
    raw.close();
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("flattenConfig", () => {
  it.skipIf(!SHARED_DIR)("reproduces the flattened_config upstream stored for each pipeline (6dd53c1 fixture)", () => {
    const pairs = upstreamPairs();
    expect(pairs.length).toBeGreaterThan(0);
    for (const { json, flat } of pairs) {
      const ours = flattenConfig(JSON.parse(json));
      expect(ours).toEqual(JSON.parse(flat));
      expect(Object.keys(ours)).toEqual(Object.keys(JSON.parse(flat))); // same order, too
    }
  });

  it("dotted keys for nested objects; every other value is a leaf, arrays and null whole", () => {
    expect(
      flattenConfig({
        pipeline_type: "api",
        client_config: { base_url: "https://x", max_retries: 3 },
        model_config: { model: "gpt-4o-mini", stop: ["\n", "###"], logit_bias: null },
        rag_config: { search_cfg: { type: "similarity", k: 5, filter: null }, docs: [{ a: 1 }] },
      }),
    ).toEqual({
      pipeline_type: "api",
      "client_config.base_url": "https://x",
      "client_config.max_retries": 3,
      "model_config.model": "gpt-4o-mini",
      "model_config.stop": ["\n", "###"],
      "model_config.logit_bias": null,
      "rag_config.search_cfg.type": "similarity",
      "rag_config.search_cfg.k": 5,
      "rag_config.search_cfg.filter": null,
      "rag_config.docs": [{ a: 1 }],
    });
  });

  it("leaves out upstream's skipped keys and empty keys at every depth; empty objects vanish", () => {
    expect(
      flattenConfig({
        output_dir: "/tmp/run",
        logging_dir: "/tmp/logs",
        compute_metrics: "fn",
        formatting_func: "fn",
        reward_funcs: ["f"],
        task_type: "CAUSAL_LM",
        "": 1,
        model_config: { torch_dtype: "bfloat16", model: "m", "": 2, extra: {} },
        empty: {},
      }),
    ).toEqual({ "model_config.model": "m" });
  });

  it("keeps keys that already contain dots (upstream's embedding knobs), and a later duplicate wins", () => {
    expect(flattenConfig({ embedding_cfg: { class: "E", "model_kwargs.device": "cuda" } })).toEqual({
      "embedding_cfg.class": "E",
      "embedding_cfg.model_kwargs.device": "cuda",
    });
    const flat = flattenConfig({ "a.b": 1, a: { b: 2 }, c: 3 });
    expect(flat).toEqual({ "a.b": 2, c: 3 });
    expect(Object.keys(flat)).toEqual(["a.b", "c"]);
  });

  it("a configuration that is not an object flattens to {}; __proto__ stays a key", () => {
    for (const x of [null, 3, "s", [1, { a: 2 }], true]) expect(flattenConfig(x)).toEqual({});
    const flat = flattenConfig(JSON.parse('{"__proto__": {"polluted": 1}, "k": 1}'));
    expect(Object.keys(flat).sort()).toEqual(["__proto__.polluted", "k"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("canonicalJson (RFC 8785) and configHash", () => {
  it("sorts keys by UTF-16 code units at every depth (the RFC's example order)", () => {
    const value = {
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis",
    };
    const text = canonicalJson(value);
    // Positions in the text (JSON.parse would put the integer-like "1" first again).
    const order = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\ud83d\ude00", "\ufb33"].map((k) =>
      text.indexOf(`${JSON.stringify(k)}:`),
    );
    expect(order.every((at) => at >= 0)).toBe(true);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(canonicalJson({ b: [{ z: 1, y: 2 }], a: null })).toBe('{"a":null,"b":[{"y":2,"z":1}]}');
  });

  it("writes numbers as ECMAScript does (RFC 8785's number rule)", () => {
    expect(canonicalJson([1e21, 1e-7, 0.000001, -0, 0.1, 100, 4.5e15, 333333333.3333333])).toBe(
      "[1e+21,1e-7,0.000001,0,0.1,100,4500000000000000,333333333.3333333]",
    );
    expect(canonicalJson('é\n\u2028"')).toBe(JSON.stringify('é\n\u2028"'));
  });

  it("configHash is the sha256 hex of the canonical JSON, the same for any key order", async () => {
    const flat = { "sampling_params.temperature": 0.7, model: "m", "sampling_params.stop": ["a"] };
    const expected = createHash("sha256").update(canonicalJson(flat), "utf8").digest("hex");
    expect(await configHash(flat)).toBe(expected);
    expect(await configHash(Object.fromEntries(Object.entries(flat).reverse()))).toBe(expected);
    expect(await configHash({ ...flat, model: "n" })).not.toBe(expected);
    expect(await configHash({})).toBe(createHash("sha256").update("{}").digest("hex"));
  });
});

describe("mergeConfig (clones)", () => {
  it("merges objects key by key at every depth; arrays, scalars and null replace", () => {
    const parent = {
      batch_size: 8,
      model_config: { model: "m", dtype: "half", extra: { a: 1, b: 2 } },
      sampling_params: { temperature: 0, stop: ["x"], top_p: 1 },
    };
    const edits = {
      batch_size: 16,
      model_config: { extra: { b: 3 } },
      sampling_params: { temperature: 0.9, stop: ["y", "z"], top_p: null },
      online_strategy_kwargs: { strategy: "normal" },
    };
    expect(mergeConfig(parent, edits)).toEqual({
      batch_size: 16,
      model_config: { model: "m", dtype: "half", extra: { a: 1, b: 3 } },
      sampling_params: { temperature: 0.9, stop: ["y", "z"], top_p: null },
      online_strategy_kwargs: { strategy: "normal" },
    });
    expect(parent.model_config.extra).toEqual({ a: 1, b: 2 }); // inputs untouched
    expect(mergeConfig(null, { a: 1 })).toEqual({ a: 1 });
    expect(mergeConfig({ a: 1 }, [2])).toEqual([2]);
  });
});
