// The dashboard page: one EventSource (a snapshot, then patches of what
// changed), rendered with createElement/textContent only — every name, config
// and error from the database is shown as text, never parsed as HTML — and
// four buttons that enqueue IC operations with a dedupe key.

import { openClone, requestOperation, toast } from "/actions.js";

const $ = (id) => document.getElementById(id);
const TASK_STATUSES = ["scheduled", "in_progress", "completed", "failed"];

const state = {
  experiments: new Map(),
  experiment: null,
  pinned: false,
  pipelines: new Map(),
  tasks: new Map(),
  counts: null,
  operations: new Map(),
  /** Server clock minus browser clock, so lease expiry is measured on the database host's clock. */
  skewMs: 0,
};

/** An element with text children (strings become text nodes, never markup) and safe properties. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-")) node.setAttribute(key, String(value));
    else if (key === "onclick") node.addEventListener("click", value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
  }
  return node;
}

const statusBadge = (status) => el("span", { class: "status", "data-status": status, text: status });
const fmtInt = (n) => Number(n).toLocaleString("en-US");
const clip = (text, n) => (text.length <= n ? text : `${text.slice(0, n - 1)}…`);

function ago(iso) {
  if (!iso) return "-";
  return relative(Date.parse(iso) - (Date.now() + state.skewMs));
}

/** "in 42 s" / "12 s ago". */
function relative(ms) {
  const s = Math.round(Math.abs(ms) / 1000);
  const text = s < 90 ? `${s} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}
// ---- operations ---------------------------------------------------------------------------------

/** A live (pending/processing) operation of this kind on this pipeline, if any. */
function liveOperation(pipelineId, operation) {
  for (const op of state.operations.values()) {
    if (
      op.pipelineId === pipelineId &&
      op.operation === operation &&
      (op.status === "pending" || op.status === "processing")
    )
      return op;
  }
  return null;
}

// ---- rendering ----------------------------------------------------------------------------------

function renderPicker() {
  const picker = $("experiment-picker");
  const current = state.experiment?.experimentId;
  const options = [el("option", { value: "", text: "running or latest" })];
  const sorted = [...state.experiments.values()].sort((a, b) => b.experimentId - a.experimentId);
  for (const e of sorted) {
    options.push(
      el("option", { value: String(e.experimentId), text: `#${e.experimentId} ${e.experimentName} (${e.status})` }),
    );
  }
  picker.replaceChildren(...options);
  picker.value = state.pinned && current ? String(current) : "";
}

function renderExperiment() {
  const box = $("experiment");
  const e = state.experiment;
  if (!e) {
    box.replaceChildren(
      el("div", {
        class: "empty",
        text: state.pinned
          ? "This experiment does not exist."
          : "No experiments yet: the page updates when one starts.",
      }),
    );
    return;
  }
  const per = e.numShards;
  let done = 0;
  for (const p of state.pipelines.values()) done += per > 0 ? Math.min(p.shardsCompleted, per) : 0;
  const total = per * state.pipelines.size;
  const counts = state.counts ? TASK_STATUSES.map((s) => `${fmtInt(state.counts[s] ?? 0)} ${s}`).join(" · ") : "";
  box.replaceChildren(
    el(
      "div",
      { class: "summary" },
      el("span", { class: "name", text: `#${e.experimentId} ${e.experimentName}` }),
      statusBadge(e.status),
      el(
        "span",
        {},
        progressBar(done, total),
        el("span", { class: "progress-text", text: `${fmtInt(done)}/${fmtInt(total)} shards` }),
      ),
      el("span", {
        class: "muted",
        text: `${e.numActors} actors · ${e.numShards} shards per pipeline · started ${ago(e.createdAt)}`,
      }),
      counts && el("span", { class: "muted", text: `tasks: ${counts}` }),
    ),
    ...(e.error ? [el("div", { class: "error", text: e.error })] : []),
  );
}

function progressBar(done, total) {
  const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const fill = el("span");
  fill.style.width = `${(fraction * 100).toFixed(1)}%`;
  return el("span", { class: "bar", role: "progressbar", ariaValueNow: String(Math.round(fraction * 100)) }, fill);
}

const pipelineRows = new Map();

/** A pipeline's row is kept (an open config stays open); only its cells change. */
function pipelineRow(p) {
  let row = pipelineRows.get(p.pipelineId);
  if (!row) {
    const cells = {
      id: el("td", { class: "num" }),
      name: el("td"),
      status: el("td"),
      progress: el("td"),
      samples: el("td", { class: "num" }),
      actions: el("td", { class: "actions" }),
    };
    const config = el("details", {}, el("summary", { text: "flattened config" }));
    cells.name.append(el("div", { class: "pipeline-name" }), el("div", { class: "error" }), config);
    const buttons = {};
    for (const [operation, label] of [
      ["stop", "Stop"],
      ["resume", "Resume"],
      ["delete", "Delete"],
      ["clone", "Clone"],
    ]) {
      buttons[operation] = el("button", {
        type: "button",
        text: label,
        "data-operation": operation,
        onclick: (event) => {
          const current = state.pipelines.get(p.pipelineId);
          if (operation === "clone") openClone(current);
          else requestOperation(event.currentTarget, current, operation);
        },
      });
      cells.actions.append(buttons[operation]);
    }
    const tr = el("tr", { "data-pipeline": p.pipelineId }, ...Object.values(cells));
    row = { tr, cells, config, buttons, configHash: undefined };
    pipelineRows.set(p.pipelineId, row);
  }
  return row;
}

function renderConfig(row, flat) {
  const list = el("dl", { class: "config" });
  const entries = Object.entries(flat ?? {});
  for (const [key, value] of entries) list.append(el("dt", { text: key }), el("dd", { text: JSON.stringify(value) }));
  row.config.replaceChildren(
    el("summary", { text: `flattened config (${entries.length})` }),
    entries.length ? list : el("div", { class: "muted", text: "none" }),
  );
}

function renderPipelines() {
  const box = $("pipelines");
  const per = state.experiment?.numShards ?? 0;
  const sorted = [...state.pipelines.values()].sort((a, b) => a.pipelineId - b.pipelineId);
  $("pipelines-count").textContent = sorted.length ? `(${sorted.length})` : "";
  if (!sorted.length) {
    box.replaceChildren(el("div", { class: "empty", text: "No pipelines." }));
    pipelineRows.clear();
    return;
  }
  let table = box.querySelector("table");
  if (!table) {
    table = el(
      "table",
      {},
      el(
        "thead",
        {},
        el("tr", {}, ...["ID", "Pipeline", "Status", "Progress", "Samples", ""].map((h) => el("th", { text: h }))),
      ),
      el("tbody"),
    );
    box.replaceChildren(table);
  }
  const body = table.tBodies[0];
  const rows = sorted.map((p) => {
    const row = pipelineRow(p);
    const c = row.cells;
    c.id.textContent = String(p.pipelineId);
    const name = p.pipelineName ?? `(unnamed ${p.pipelineType})`;
    c.name.firstChild.textContent = p.parentPipelineId ? `${name}  ← clone of #${p.parentPipelineId}` : name;
    c.name.children[1].textContent = p.error ?? "";
    if (row.configHash !== p.configHash || row.configHash === undefined) {
      row.configHash = p.configHash;
      renderConfig(row, p.flattenedConfig);
    }
    c.status.replaceChildren(statusBadge(p.status));
    const pct = per > 0 ? Math.floor(Math.min(1, p.shardsCompleted / per) * 100) : 0;
    c.progress.replaceChildren(
      progressBar(p.shardsCompleted, per),
      el("span", { class: "progress-text", text: `${p.shardsCompleted}/${per} (${pct}%)` }),
    );
    c.samples.textContent = fmtInt(p.totalSamplesProcessed);
    const allowed = {
      stop: ["new", "ongoing"],
      resume: ["stopped"],
      delete: ["new", "ongoing", "stopped", "completed", "failed"],
      clone: ["new", "ongoing", "stopped", "completed", "failed"],
    };
    for (const [operation, button] of Object.entries(row.buttons)) {
      const live = operation === "clone" ? null : liveOperation(p.pipelineId, operation);
      button.disabled = !allowed[operation].includes(p.status) || live !== null;
      button.title = live ? `${operation} operation #${live.icId} is ${live.status}` : "";
    }
    return row.tr;
  });
  body.replaceChildren(...rows);
  for (const id of pipelineRows.keys()) if (!state.pipelines.has(id)) pipelineRows.delete(id);
}

function table(headers, rows) {
  return el(
    "table",
    {},
    el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { text: h })))),
    el("tbody", {}, ...rows),
  );
}

function pipelineLabel(id) {
  const p = id === null ? null : state.pipelines.get(id);
  return id === null ? "-" : p?.pipelineName ? `#${id} ${p.pipelineName}` : `#${id}`;
}

function renderTasks() {
  const tasks = [...state.tasks.values()].sort((a, b) => a.taskId - b.taskId);
  $("tasks-count").textContent = tasks.length ? `(${tasks.length})` : "";
  if (!tasks.length) return $("tasks").replaceChildren(el("div", { class: "empty", text: "No task is running." }));
  const rows = tasks
    .slice(0, 200)
    .map((t) =>
      el(
        "tr",
        { "data-task": t.taskId },
        el("td", { class: "num", text: String(t.taskId) }),
        el("td", { text: pipelineLabel(t.pipelineId) }),
        el("td", { class: "num", text: String(t.shardId) }),
        el("td", { class: "num", text: String(t.leaseOwner ?? t.actorId) }),
        el("td", { text: t.startedAt ? ago(t.startedAt) : "-" }),
        el("td", { text: t.leaseExpiresAt ? ago(t.leaseExpiresAt) : "no lease" }),
        el("td", { class: "num", text: String(t.attempts) }),
      ),
    );
  const more = tasks.length > 200 ? el("div", { class: "muted", text: `… and ${tasks.length - 200} more` }) : null;
  $("tasks").replaceChildren(
    table(["Task", "Pipeline", "Shard", "Actor", "Started", "Lease expires", "Attempts"], rows),
    ...(more ? [more] : []),
  );
}

function renderOperations() {
  const ops = [...state.operations.values()].sort((a, b) => b.icId - a.icId).slice(0, 50);
  const pending = ops.filter((o) => o.status === "pending").length;
  $("operations-count").textContent = ops.length ? `(${pending} pending)` : "";
  if (!ops.length) return $("operations").replaceChildren(el("div", { class: "empty", text: "No operations." }));
  const rows = ops.map((o) =>
    el(
      "tr",
      { "data-operation-id": o.icId, "data-status": o.status },
      el("td", { class: "num", text: String(o.icId) }),
      el("td", { text: o.operation }),
      el("td", { text: pipelineLabel(o.pipelineId) }),
      el("td", {}, statusBadge(o.status)),
      el("td", { text: ago(o.createdAt) }),
      el("td", { text: o.processedAt ? ago(o.processedAt) : "-" }),
      el(
        "td",
        {},
        o.error
          ? el("span", { class: "error", text: o.error })
          : o.request
            ? el("span", {
                class: "muted",
                text: clip(JSON.stringify(o.request), 140),
                title: JSON.stringify(o.request),
              })
            : "",
      ),
    ),
  );
  $("operations").replaceChildren(
    table(["#", "Operation", "Pipeline", "Status", "Requested", "Processed", "Details"], rows),
  );
}

function render() {
  renderPicker();
  renderExperiment();
  renderPipelines();
  renderTasks();
  renderOperations();
}

// ---- the event stream ---------------------------------------------------------------------------

const byId = (list, key) => new Map(list.map((row) => [row[key], row]));

function applySnapshot(s) {
  state.skewMs = Date.parse(s.now) - Date.now();
  $("database").textContent = s.database;
  state.experiments = byId(s.experiments, "experimentId");
  state.experiment = s.experiment;
  state.pinned = s.pinned;
  state.pipelines = byId(s.pipelines, "pipelineId");
  state.tasks = byId(s.runningTasks, "taskId");
  state.counts = s.taskCounts;
  state.operations = byId(s.operations, "icId");
  pipelineRows.clear();
  $("pipelines").replaceChildren();
}

function applyPatch(p) {
  state.skewMs = Date.parse(p.now) - Date.now();
  for (const e of p.experiments) {
    state.experiments.set(e.experimentId, e);
    if (e.experimentId === state.experiment?.experimentId) state.experiment = e;
  }
  for (const pipeline of p.pipelines) {
    const known = state.pipelines.get(pipeline.pipelineId);
    // A patch leaves the flattened config out when it did not change.
    if (!("flattenedConfig" in pipeline) && known) pipeline.flattenedConfig = known.flattenedConfig;
    state.pipelines.set(pipeline.pipelineId, pipeline);
  }
  for (const t of p.runningTasks) state.tasks.set(t.taskId, t);
  for (const id of p.finishedTasks) state.tasks.delete(id);
  if (p.taskCounts) state.counts = p.taskCounts;
  for (const o of p.operations) state.operations.set(o.icId, o);
}

let source = null;

function connect() {
  source?.close();
  const pinned = new URLSearchParams(location.search).get("experiment");
  source = new EventSource(pinned ? `/api/events?experiment=${encodeURIComponent(pinned)}` : "/api/events");
  const connection = $("connection");
  source.addEventListener("open", () => {
    connection.dataset.state = "live";
    connection.textContent = "live";
  });
  source.addEventListener("error", () => {
    connection.dataset.state = "down";
    connection.textContent = "reconnecting…";
  });
  source.addEventListener("snapshot", (event) => {
    applySnapshot(JSON.parse(event.data));
    render();
  });
  source.addEventListener("patch", (event) => {
    applyPatch(JSON.parse(event.data));
    render();
  });
  source.addEventListener("failure", (event) => toast(JSON.parse(event.data).message, "error"));
}

$("experiment-picker").addEventListener("change", (event) => {
  const value = event.currentTarget.value;
  history.replaceState(null, "", value ? `?experiment=${encodeURIComponent(value)}` : location.pathname);
  connect();
});

// Relative times ("in 42 s") move on without asking the server anything.
setInterval(() => {
  renderTasks();
  renderOperations();
}, 1000);

connect();
