// The page's writes: enqueueing IC operations (with a dedupe key, so a double
// click is one operation) and the clone editor. Text only, as in page.js.

const $ = (id) => document.getElementById(id);

let toastTimer;
export function toast(message, kind = "info") {
  const box = $("toast");
  box.textContent = message;
  box.dataset.kind = kind;
  box.style.display = "block";
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (box.style.display = "none"), kind === "error" ? 8000 : 4000);
}

async function enqueue(body) {
  const response = await fetch("/api/operations", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const reply = await response.json().catch(() => ({ message: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(reply.message || `HTTP ${response.status}`);
  return reply;
}

export async function requestOperation(button, pipeline, operation, extra = {}) {
  if (
    operation === "delete" &&
    !confirm(`Delete pipeline ${pipeline.pipelineId} (${pipeline.pipelineName ?? "unnamed"})?`)
  )
    return;
  button.disabled = true;
  try {
    // The same key while the operation is live: a double click (or two tabs) enqueue one operation.
    const reply = await enqueue({
      operation,
      pipelineId: pipeline.pipelineId,
      dedupeKey: `${operation}:${pipeline.pipelineId}`,
      ...extra,
    });
    toast(`${operation} of pipeline ${pipeline.pipelineId} enqueued (operation #${reply.icId})`);
  } catch (err) {
    toast(`${operation} of pipeline ${pipeline.pipelineId}: ${err.message}`, "error");
    button.disabled = false;
  }
}

// ---- clone editor -------------------------------------------------------------------------------

let cloneTarget = null;

export async function openClone(pipeline) {
  const dialog = $("clone-dialog");
  $("clone-error").textContent = "";
  $("clone-title").textContent = `Clone pipeline ${pipeline.pipelineId}`;
  $("clone-name").value = `${pipeline.pipelineName ?? `pipeline ${pipeline.pipelineId}`} (clone)`;
  $("clone-warm").checked = false;
  $("clone-config").value = "";
  const key = globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random()}`;
  cloneTarget = { pipeline, dedupeKey: `clone:${pipeline.pipelineId}:${key}` };
  dialog.showModal();
  try {
    const response = await fetch(`/api/pipelines/${pipeline.pipelineId}`);
    const reply = await response.json();
    if (!response.ok) throw new Error(reply.message);
    $("clone-config").value = JSON.stringify(reply.pipeline.configJson ?? {}, null, 2);
  } catch (err) {
    $("clone-error").textContent = `cannot read the parent's configuration: ${err.message}`;
  }
}

$("clone-cancel").addEventListener("click", () => $("clone-dialog").close());
$("clone-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!cloneTarget) return;
  let config;
  try {
    config = JSON.parse($("clone-config").value);
    if (typeof config !== "object" || config === null || Array.isArray(config))
      throw new Error("it must be a JSON object");
  } catch (err) {
    $("clone-error").textContent = `Configuration: ${err.message}`;
    return;
  }
  const submit = $("clone-submit");
  submit.disabled = true;
  try {
    const name = $("clone-name").value.trim();
    const { pipeline, dedupeKey } = cloneTarget;
    const reply = await enqueue({
      operation: "clone",
      pipelineId: pipeline.pipelineId,
      config,
      warmStart: $("clone-warm").checked,
      dedupeKey,
      ...(name ? { pipelineName: name } : {}),
    });
    $("clone-dialog").close();
    toast(`clone of pipeline ${pipeline.pipelineId} enqueued (operation #${reply.icId})`);
  } catch (err) {
    $("clone-error").textContent = err.message;
  } finally {
    submit.disabled = false;
  }
});
