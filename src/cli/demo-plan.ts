/**
 * What `rf-db demo` simulates: a sweep of pipelines (model × sampling
 * parameters), the RAG context they share, and the experiment's name.
 * Pure data, no database.
 */

const MODELS = [
  { short: "llama-3.1-8b", model: "meta-llama/Llama-3.1-8B-Instruct", max_model_len: 8192 },
  { short: "qwen2.5-7b", model: "Qwen/Qwen2.5-7B-Instruct", max_model_len: 32768 },
  { short: "mistral-7b", model: "mistralai/Mistral-7B-Instruct-v0.3", max_model_len: 32768 },
  { short: "phi-3.5-mini", model: "microsoft/Phi-3.5-mini-instruct", max_model_len: 4096 },
  { short: "gemma-2-9b", model: "google/gemma-2-9b-it", max_model_len: 8192 },
] as const;
const TEMPERATURES = [0, 0.3, 0.7, 1] as const;
const TOP_P = [1, 0.95, 0.9] as const;
const MAX_TOKENS = [256, 512, 1024] as const;

export interface DemoPipelineSpec {
  pipelineName: string;
  modelConfig: Record<string, unknown>;
  samplingParams: Record<string, unknown>;
}

/**
 * `n` pipelines that differ the way a real sweep does: model × temperature ×
 * top-p × output length (the cycles have coprime lengths, so neighbours differ
 * in every dimension).
 */
export function demoPipelines(n: number): DemoPipelineSpec[] {
  return Array.from({ length: n }, (_, i) => {
    const m = MODELS[i % MODELS.length]!;
    const temperature = TEMPERATURES[i % TEMPERATURES.length]!;
    return {
      pipelineName: `p${i + 1}-${m.short}-t${temperature.toFixed(1)}`,
      modelConfig: {
        model: m.model,
        dtype: "bfloat16",
        tensor_parallel_size: 1,
        max_model_len: m.max_model_len,
        gpu_memory_utilization: 0.9,
      },
      samplingParams: {
        temperature,
        top_p: TOP_P[i % TOP_P.length]!,
        max_tokens: MAX_TOKENS[i % MAX_TOKENS.length]!,
        seed: 1000 + i,
      },
    };
  });
}

/** The one RAG context every demo pipeline shares (deduplicated by hash across runs). */
export const DEMO_CONTEXT = {
  ragConfig: {
    corpus: "demo-wiki-sample",
    retriever: "hybrid-bm25-dense",
    embedding_model: "BAAI/bge-small-en-v1.5",
    chunk_size: 512,
    chunk_overlap: 64,
    top_k: 5,
  },
  promptConfig: {
    system: "Answer using only the retrieved passages. Say so when they do not contain the answer.",
    template: "Passages:\n{context}\n\nQuestion: {question}\nAnswer:",
  },
};

/** `demo-YYYYMMDD-HHMMSS` (UTC). */
export function experimentName(now = new Date()): string {
  const iso = now.toISOString();
  return `demo-${iso.slice(0, 10).replaceAll("-", "")}-${iso.slice(11, 19).replaceAll(":", "")}`;
}
