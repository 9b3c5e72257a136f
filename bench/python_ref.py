"""
Stand-in for the Python module this package replaces: Python's sqlite3 with
hand-written SQL (the same statements as bench/impl/sql.ts), autocommit,
WAL + synchronous=NORMAL + foreign_keys=ON, the API-for-API form (7 calls per
task). It is a *floor* for the real module (which adds its own Python code per
call); the issue's measured numbers for the real module are quoted separately.

  python3 bench/python_ref.py <db-path> <form api|fused> <pipelines> <shards> <actors> [warm|cold]

"warm" first runs the same workload untimed on a 1 x 2 shape on the same
connection (what bench/lib/contenders.ts does for every contender).

Python's sqlite3 here may be older than 3.42, where the schema's
created_at default (unixepoch('subsec')) evaluates to NULL, so the INSERTs
below pass created_at explicitly (one more bound parameter).

Prints one JSON object: {"ms": total, "calls": n, "tasks": n, "latency": {type: [ms, ...]}}.
"""
import json
import sqlite3
import sys
import time

SQL = {
    "createExperiment": "INSERT INTO experiments (experiment_name, num_actors, num_shards, status, created_at) VALUES (?, ?, ?, 'running', ?)",
    "createPipeline": "INSERT INTO pipelines (experiment_id, pipeline_name, pipeline_type, model_config, sampling_params, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    "setPipelineStatus": "UPDATE pipelines SET status = ? WHERE pipeline_id = ?",
    "setExperimentStatus": "UPDATE experiments SET status = ? WHERE experiment_id = ?",
    "listPipelines": "SELECT * FROM pipelines WHERE experiment_id = ? ORDER BY pipeline_id",
    "getPipeline": "SELECT * FROM pipelines WHERE pipeline_id = ?",
    "createTask": "INSERT INTO actor_tasks (experiment_id, pipeline_id, actor_id, shard_id, status, created_at) VALUES (?, ?, ?, ?, 'scheduled', ?)",
    "setTaskStatus": "UPDATE actor_tasks SET status = ? WHERE task_id = ?",
    "setTaskStartTime": "UPDATE actor_tasks SET started_at = ? WHERE task_id = ?",
    "listRunning": "SELECT * FROM actor_tasks WHERE experiment_id = ? AND status = 'in_progress' ORDER BY task_id",
    "setPipelineProgress": "UPDATE pipelines SET current_shard_id = ?, shards_completed = ?, total_samples_processed = ? WHERE pipeline_id = ?",
    "setTaskEndTime": "UPDATE actor_tasks SET completed_at = ?, duration_seconds = ? WHERE task_id = ?",
    "createRunningTask": "INSERT INTO actor_tasks (experiment_id, pipeline_id, actor_id, shard_id, status, started_at, created_at) VALUES (?, ?, ?, ?, 'in_progress', ?, ?)",
    "advanceTaskPipeline": "UPDATE pipelines SET shards_completed = shards_completed + 1, total_samples_processed = total_samples_processed + ?, current_shard_id = coalesce(?, current_shard_id) "
    "WHERE pipeline_id = (SELECT pipeline_id FROM actor_tasks WHERE task_id = ? AND status = 'in_progress') RETURNING pipeline_id, shards_completed, total_samples_processed",
    "completeTask": "UPDATE actor_tasks SET status = 'completed', completed_at = ?, duration_seconds = max(0, (? - started_at) / 1000.0) WHERE task_id = ? AND status = 'in_progress'",
}
MODEL_CONFIG = json.dumps({"model": "llama-3-8b-instruct", "dtype": "bfloat16", "max_model_len": 8192}, separators=(",", ":"))
SAMPLING_PARAMS = json.dumps({"temperature": 0.7, "top_p": 0.9, "max_tokens": 512}, separators=(",", ":"))
SAMPLES_PER_SHARD = 128


def main():
    path, form, n_pipes, n_shards, n_actors = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    warm = len(sys.argv) > 6 and sys.argv[6] == "warm"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 100")
    if warm:
        workload(conn, form, 1, 2, 1)
    out = workload(conn, form, n_pipes, n_shards, n_actors)
    conn.close()
    out["sqlite"] = sqlite3.sqlite_version
    print(json.dumps(out))


def workload(conn, form, n_pipes, n_shards, n_actors):
    lat = {}
    calls = 0
    now_ms = lambda: int(time.time() * 1000)

    def timed(kind, fn):
        nonlocal calls
        t0 = time.perf_counter()
        v = fn()
        lat.setdefault(kind, []).append((time.perf_counter() - t0) * 1000)
        calls += 1
        return v

    def write(sql, args):
        cur = conn.execute(sql, args)
        if cur.rowcount != 1:
            raise RuntimeError("not found")

    def insert(sql, args):
        return conn.execute(sql, args).lastrowid

    def rows(sql, args):
        return [dict(r) for r in conn.execute(sql, args).fetchall()]

    def complete_with_progress(task_id, samples, shard, ms):
        conn.execute("BEGIN IMMEDIATE")
        try:
            progress = conn.execute(SQL["advanceTaskPipeline"], (samples, shard, task_id)).fetchall()
            write(SQL["completeTask"], (ms, ms, task_id))
            conn.execute("COMMIT")
            return progress
        except Exception:
            conn.execute("ROLLBACK")
            raise

    t0 = time.perf_counter()
    eid = timed("experiments.create", lambda: insert(SQL["createExperiment"], ("bench-" + form, n_actors, n_shards, now_ms())))
    pids = []
    for p in range(n_pipes):
        status = "new" if form == "api" else "ongoing"
        pids.append(timed("pipelines.create", lambda: insert(SQL["createPipeline"], (eid, "pipeline-%d" % p, "vllm", MODEL_CONFIG, SAMPLING_PARAMS, status, now_ms()))))
    if form == "api":
        for pid in pids:
            timed("pipelines.setStatus", lambda: write(SQL["setPipelineStatus"], ("ongoing", pid)))
    for s in range(n_shards):
        for p in range(n_pipes):
            pid = pids[p]
            actor = p % n_actors
            if form == "api":
                tid = timed("actorTasks.create", lambda: insert(SQL["createTask"], (eid, pid, actor, s, now_ms())))
                start = now_ms()
                timed("actorTasks.setStatus", lambda: write(SQL["setTaskStatus"], ("in_progress", tid)))
                timed("actorTasks.setStartTime", lambda: write(SQL["setTaskStartTime"], (start, tid)))
                timed("actorTasks.listRunning", lambda: rows(SQL["listRunning"], (eid,)))
                timed("pipelines.setProgress", lambda: write(SQL["setPipelineProgress"], (s, s + 1, (s + 1) * SAMPLES_PER_SHARD, pid)))
                end = now_ms()
                timed("actorTasks.setEndTime", lambda: write(SQL["setTaskEndTime"], (end, (end - start) / 1000, tid)))
                timed("actorTasks.setStatus", lambda: write(SQL["setTaskStatus"], ("completed", tid)))
            else:
                tid = timed("actorTasks.create(in_progress)", lambda: insert(SQL["createRunningTask"], (eid, pid, actor, s, now_ms(), now_ms())))
                timed("actorTasks.listRunning", lambda: rows(SQL["listRunning"], (eid,)))
                timed("actorTasks.completeWithProgress", lambda: complete_with_progress(tid, SAMPLES_PER_SHARD, s, now_ms()))
        timed("pipelines.list", lambda: rows(SQL["listPipelines"], (eid,)))
    for pid in pids:
        timed("pipelines.setStatus", lambda: write(SQL["setPipelineStatus"], ("completed", pid)))
    if form == "api":
        for pid in pids:
            timed("pipelines.get", lambda: rows(SQL["getPipeline"], (pid,)))
    timed("experiments.setStatus", lambda: write(SQL["setExperimentStatus"], ("completed", eid)))
    ms = (time.perf_counter() - t0) * 1000
    return {"ms": ms, "calls": calls, "tasks": n_pipes * n_shards, "latency": lat}


if __name__ == "__main__":
    main()
