"""
One fresh-process run of the reference workload in Python, for bench/run.ts
(see bench/lib/workload.ts for the workload and BENCHMARKS.md for the results).

  python3 workload.py init    --db-dir DIR
  python3 workload.py module  --db-dir DIR [--template FILE] --shape P,S,A [--repeat R]
  python3 workload.py sqlite3 --db FILE    [--template FILE] --shape P,S,A --form api|fused --plan PLAN.json [--repeat R]

module   The real Python module (rapidfireai/evals/db at 6158eec, laid out as a
         package by bench/lib/anchor.ts and put on PYTHONPATH), driven through
         its own API, API for API: create_experiment, create_pipeline,
         set_pipeline_status, create_actor_task, set_actor_task_status,
         set_actor_task_start_time, get_running_actor_tasks,
         set_pipeline_progress, set_actor_task_end_time, get_all_pipelines,
         get_pipeline, set_experiment_status. Its database is DIR/rapidfire.db
         (RF_DB_PATH=DIR, as the module reads it). After the module has built
         its connection, this script sets journal_mode=WAL and
         synchronous=NORMAL on that same connection (db.db.conn) — what every
         contender runs with — without changing the module's code, and reports
         what the connection then says.
sqlite3  CPython's sqlite3 running the SQL the package sends (captured into
         PLAN by bench/lib/plan.ts), no module code around it: what this SQL
         costs through Python's binding. Not the module.

--template FILE  copy FILE to the database path first (a fresh database per process).
--repeat R       run the workload R times on the same connection (run 1 is the
                 fresh-process figure, the later ones show a warm process).

Prints one JSON object as the last line of stdout: importMs, openMs, firstCallMs, processCpuMs, pragmas,
runs[{ms, cpuMs, calls, tasks, latency{type: [ms]}}].
"""
import json
import os
import shutil
import sys
import time

T_START = time.perf_counter()
SAMPLES_PER_SHARD = 128
MODEL_CONFIG = json.dumps({"model": "llama-3-8b-instruct", "dtype": "bfloat16", "max_model_len": 8192}, separators=(",", ":"))
SAMPLING_PARAMS = json.dumps({"temperature": 0.7, "top_p": 0.9, "max_tokens": 512}, separators=(",", ":"))


def arg(name, default=None):
    flag = "--" + name
    if flag in sys.argv:
        return sys.argv[sys.argv.index(flag) + 1]
    return default


def fresh_copy(template, path):
    """A fresh database: no WAL or shared-memory file of an earlier run may survive next to the copy."""
    for sfx in ("-wal", "-shm"):
        if os.path.exists(path + sfx):
            os.remove(path + sfx)
    shutil.copyfile(template, path)


def ms_since(t0):
    return (time.perf_counter() - t0) * 1000


class Recorder:
    """Times every call and files it under its call type (the names bench/lib/workload.ts uses)."""

    def __init__(self):
        self.latency = {}
        self.calls = 0
        self.first_call_ms = None

    def __call__(self, kind, fn):
        t0 = time.perf_counter()
        v = fn()
        dt = (time.perf_counter() - t0) * 1000
        if self.first_call_ms is None:
            self.first_call_ms = dt
        self.latency.setdefault(kind, []).append(dt)
        self.calls += 1
        return v


# ---------------------------------------------------------------------------------------------
# The module, through its own API (API for API with the package's "api" form).
# ---------------------------------------------------------------------------------------------


def run_module(rec, db, statuses, n_pipes, n_shards, n_actors):
    ExperimentStatus, PipelineStatus, TaskStatus = statuses
    from datetime import datetime

    t0 = time.perf_counter()
    eid = rec("experiments.create", lambda: db.create_experiment("bench-api", n_actors, num_shards=n_shards))
    pids = []
    for p in range(n_pipes):
        pids.append(
            rec(
                "pipelines.create",
                lambda: db.create_pipeline("pipeline-%d" % p, "vllm", MODEL_CONFIG, SAMPLING_PARAMS, status=PipelineStatus.NEW),
            )
        )
    for pid in pids:
        rec("pipelines.setStatus", lambda: db.set_pipeline_status(pid, PipelineStatus.ONGOING))
    for s in range(n_shards):
        for p in range(n_pipes):
            pid = pids[p]
            actor = p % n_actors
            tid = rec("actorTasks.create", lambda: db.create_actor_task(pid, actor, s))
            start = datetime.now()
            rec("actorTasks.setStatus", lambda: db.set_actor_task_status(tid, TaskStatus.IN_PROGRESS))
            rec("actorTasks.setStartTime", lambda: db.set_actor_task_start_time(tid, start.isoformat()))
            rec("actorTasks.listRunning", lambda: db.get_running_actor_tasks())
            rec(
                "pipelines.setProgress",
                lambda: db.set_pipeline_progress(pid, s, s + 1, (s + 1) * SAMPLES_PER_SHARD),
            )
            end = datetime.now()
            rec(
                "actorTasks.setEndTime",
                lambda: db.set_actor_task_end_time(tid, end.isoformat(), (end - start).total_seconds()),
            )
            rec("actorTasks.setStatus", lambda: db.set_actor_task_status(tid, TaskStatus.COMPLETED))
        # The module's list has no experiment filter: it lists every pipeline in the database.
        rec("pipelines.list", lambda: db.get_all_pipelines())
    for pid in pids:
        rec("pipelines.setStatus", lambda: db.set_pipeline_status(pid, PipelineStatus.COMPLETED))
    for pid in pids:
        rec("pipelines.get", lambda: db.get_pipeline(pid))
    rec("experiments.setStatus", lambda: db.set_experiment_status(eid, ExperimentStatus.COMPLETED))
    return ms_since(t0)


def main_module():
    db_dir = arg("db-dir")
    os.makedirs(db_dir, exist_ok=True)
    template = arg("template")
    if template:
        fresh_copy(template, os.path.join(db_dir, "rapidfire.db"))
    # The module reads its location from RF_DB_PATH when its constants are imported.
    os.environ["RF_DB_PATH"] = db_dir
    t0 = time.perf_counter()
    from rapidfireai.evals.db.rf_db import RFDatabase
    from rapidfireai.evals.utils.constants import ExperimentStatus, PipelineStatus, TaskStatus

    import_ms = ms_since(t0)
    t0 = time.perf_counter()
    db = RFDatabase()
    # Same durability for every contender: set on the module's own connection, after it is built.
    conn = db.db.conn
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    open_ms = ms_since(t0)
    pragmas = {
        "journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0],
        "synchronous": conn.execute("PRAGMA synchronous").fetchone()[0],
    }
    return import_ms, open_ms, pragmas, db, (ExperimentStatus, PipelineStatus, TaskStatus)


# ---------------------------------------------------------------------------------------------
# CPython sqlite3 on the package's own SQL (the plan), both forms.
# ---------------------------------------------------------------------------------------------


class Replay:
    """Runs one plan entry: the package's statements for one call, with the call's inputs bound."""

    def __init__(self, conn, plan):
        self.conn = conn
        self.plan = plan["calls"]

    def call(self, key, inputs):
        entry = self.plan[key]
        result = None
        for client_call in entry["clientCalls"]:
            batch = client_call["batch"]
            if batch:
                self.conn.execute("BEGIN IMMEDIATE")
            try:
                for st in client_call["statements"]:
                    args = [bind(a, inputs) for a in st["args"]]
                    cur = self.conn.execute(st["sql"], args)
                    if st["reader"]:
                        rows = cur.fetchall()
                        if result is None and st.get("result"):
                            result = rows
                    else:
                        if cur.rowcount < 1:
                            raise RuntimeError("%s: %d rows changed by %s" % (key, cur.rowcount, st["sql"][:60]))
                        if result is None and st.get("result"):
                            result = cur.lastrowid
                if batch:
                    self.conn.execute("COMMIT")
            except Exception:
                if batch and self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        if entry.get("returns") == "id":
            return result[0][0] if isinstance(result, list) else result
        return result


def bind(a, inputs):
    if "c" in a:
        return a["c"]
    if a.get("enc") == "now":
        return int(time.time() * 1000)
    return inputs[a["in"]]


def run_replay(rec, r, form, n_pipes, n_shards, n_actors):
    now = lambda: int(time.time() * 1000)
    t0 = time.perf_counter()
    eid = rec(
        "experiments.create",
        lambda: r.call("createExperiment", {"name": "bench-" + form, "numActors": n_actors, "numShards": n_shards}),
    )
    pids = []
    for p in range(n_pipes):
        st = "new" if form == "api" else "ongoing"
        pids.append(rec("pipelines.create", lambda: r.call("createPipeline:" + st, {"eid": eid, "name": "pipeline-%d" % p})))
    if form == "api":
        for pid in pids:
            rec("pipelines.setStatus", lambda: r.call("setPipelineStatus:ongoing", {"pid": pid}))
    for s in range(n_shards):
        for p in range(n_pipes):
            pid = pids[p]
            actor = p % n_actors
            if form == "api":
                tid = rec("actorTasks.create", lambda: r.call("createTask", {"eid": eid, "pid": pid, "actor": actor, "shard": s}))
                start = now()
                rec("actorTasks.setStatus", lambda: r.call("setTaskStatus:in_progress", {"tid": tid}))
                rec("actorTasks.setStartTime", lambda: r.call("setTaskStartTime", {"tid": tid, "t": start}))
                rec("actorTasks.listRunning", lambda: r.call("listRunning", {"eid": eid}))
                rec(
                    "pipelines.setProgress",
                    lambda: r.call("setPipelineProgress", {"pid": pid, "cur": s, "done": s + 1, "samples": (s + 1) * SAMPLES_PER_SHARD}),
                )
                end = now()
                rec("actorTasks.setEndTime", lambda: r.call("setTaskEndTime", {"tid": tid, "t": end, "dur": (end - start) / 1000}))
                rec("actorTasks.setStatus", lambda: r.call("setTaskStatus:completed", {"tid": tid}))
            else:
                tid = rec(
                    "actorTasks.create(in_progress)",
                    lambda: r.call("createRunningTask", {"eid": eid, "pid": pid, "actor": actor, "shard": s, "t": now()}),
                )
                rec("actorTasks.listRunning", lambda: r.call("listRunning", {"eid": eid}))
                rec(
                    "actorTasks.completeWithProgress",
                    lambda: r.call("completeWithProgress", {"tid": tid, "samples": SAMPLES_PER_SHARD, "cur": s, "t": now()}),
                )
        rec("pipelines.list", lambda: r.call("listPipelines", {"eid": eid}))
    for pid in pids:
        rec("pipelines.setStatus", lambda: r.call("setPipelineStatus:completed", {"pid": pid}))
    if form == "api":
        for pid in pids:
            rec("pipelines.get", lambda: r.call("getPipeline", {"pid": pid}))
    rec("experiments.setStatus", lambda: r.call("setExperimentStatus:completed", {"eid": eid}))
    return ms_since(t0)


def main():
    target = sys.argv[1]
    n_pipes, n_shards, n_actors = (int(x) for x in arg("shape", "8,64,4").split(","))
    repeat = int(arg("repeat", "1"))
    runs = []
    first_call_ms = None
    if target == "init":
        # Builds the module's schema in --db-dir (the template every module run starts from).
        _, _, _, db, _ = main_module()
        db.close()
        sys.stdout.write("\n{}\n")
        return
    if target == "module":
        import_ms, open_ms, pragmas, db, statuses = main_module()
        for _ in range(repeat):
            rec = Recorder()
            cpu0 = time.process_time()
            ms = run_module(rec, db, statuses, n_pipes, n_shards, n_actors)
            cpu_ms = (time.process_time() - cpu0) * 1000
            first_call_ms = first_call_ms if first_call_ms is not None else rec.first_call_ms
            runs.append({"ms": ms, "cpuMs": cpu_ms, "calls": rec.calls, "tasks": n_pipes * n_shards, "latency": rec.latency})
        db.close()
    elif target == "sqlite3":
        path = arg("db")
        template = arg("template")
        if template:
            fresh_copy(template, path)
        with open(arg("plan")) as f:
            plan = json.load(f)
        t0 = time.perf_counter()
        import sqlite3

        import_ms = ms_since(t0)
        t0 = time.perf_counter()
        conn = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON", "busy_timeout = 5000"):
            conn.execute("PRAGMA " + pragma)
        open_ms = ms_since(t0)
        pragmas = {
            "journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0],
            "synchronous": conn.execute("PRAGMA synchronous").fetchone()[0],
        }
        r = Replay(conn, plan)
        for _ in range(repeat):
            rec = Recorder()
            cpu0 = time.process_time()
            ms = run_replay(rec, r, arg("form"), n_pipes, n_shards, n_actors)
            cpu_ms = (time.process_time() - cpu0) * 1000
            first_call_ms = first_call_ms if first_call_ms is not None else rec.first_call_ms
            runs.append({"ms": ms, "cpuMs": cpu_ms, "calls": rec.calls, "tasks": n_pipes * n_shards, "latency": rec.latency})
        conn.close()
    else:
        raise SystemExit("unknown target " + target)
    import sqlite3

    out = {
        "importMs": import_ms,
        "openMs": open_ms,
        "firstCallMs": first_call_ms,
        "sinceStartMs": ms_since(T_START),
        # CPU time of the whole process so far (all threads), as Node's process.cpuUsage() counts it.
        "processCpuMs": time.process_time() * 1000,
        "pragmas": pragmas,
        "engine": "CPython %s sqlite3 %s" % (sys.version.split()[0], sqlite3.sqlite_version),
        "runs": runs,
    }
    # The last line of stdout is the result (the module may print on its own, e.g. when it creates a folder).
    sys.stdout.write("\n" + json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
