"""Durable job queue with leases on SQLite and PostgreSQL, and the generic worker loop.

Public names:
- `clarion.queue.sql.SqlJobQueue(engine, max_attempts=8)`: `enqueue(conn, [NewJob]) -> ids`
  inside the caller's open transaction; `run_in_transaction(fn)` (on SQLite, joins a group commit);
  `claim(owner, limit, lease_seconds, kinds=None) -> [Job]`; `complete([Job])`,
  `retry(job, run_at, error)`, `fail(job, error)`, `release([Job])`,
  `extend_leases(owner, ids, lease_seconds)`; `cancel_send(send_id)`,
  `counts(send_id=None)`, `purge(finished_before)`; `wait_for_work(timeout)`; `close()`.
- `clarion.queue.models`: `NewJob`, `Job`, `HandlerResult` (`done()`, `retry(error, after)`,
  `failed(error)`), `Settlement`.
- `clarion.queue.worker.Worker(queue, handlers, on_exhausted=, owner=, concurrency=,
  lease_seconds=, batch=)` with `run()` and `stop(grace)`; `Handler` is
  `async (Job) -> HandlerResult`; `on_exhausted` maps a kind to `async (Job, error) -> None`,
  called before a job that will not run again is marked failed.
- `clarion.queue.backoff.Backoff(base, cap)`: exponential backoff with full jitter.
- `clarion.store.job_tables.jobs`: the table, declared on `clarion.store.metadata.metadata`.
- `clarion.queue.protocol.JobQueue`: what a worker needs from any queue.
- `clarion.queue.metrics`: Prometheus counters and histograms of claims, outcomes, commits.
"""
