/**
 * Imported configurations get what every stored configuration gets (see
 * src/repositories/redact.ts): strings under secret-looking keys become
 * `"***"` in every JSON column, and a pipeline's `configHash` is derived from
 * its (redacted) flattened configuration — so an imported pipeline and one
 * created through the API with the same configuration hash the same.
 */
import { configViews } from "../repositories/pipeline-config";
import { redactSecrets } from "../repositories/redact";
import type { Converted } from "./convert";

export async function secureConverted(rows: Converted, pattern: RegExp): Promise<void> {
  for (const p of rows.pipelines) {
    p.modelConfig = redactSecrets(p.modelConfig, pattern);
    p.samplingParams = redactSecrets(p.samplingParams, pattern);
    let views: Awaited<ReturnType<typeof configViews>>;
    try {
      views = await configViews(p.configJson ?? null, p.flattenedConfig ?? null, pattern);
    } catch {
      // The module's flattened_config is not a flat object of scalars: derive it from the JSON config.
      views = await configViews(p.configJson ?? null, null, pattern);
      rows.warnings.push(`pipeline ${p.pipelineId}: flattened_config was not flat: recomputed from the JSON config`);
    }
    p.configJson = views.configJson;
    p.flattenedConfig = views.flattenedConfig;
    p.configHash = views.configHash;
  }
  for (const c of rows.contexts) {
    c.ragConfig = redactSecrets(c.ragConfig, pattern);
    c.promptConfig = redactSecrets(c.promptConfig, pattern);
  }
  for (const op of rows.icOperations) op.requestData = redactSecrets(op.requestData, pattern);
}
