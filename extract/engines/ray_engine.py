"""The Ray engine: the same shard tasks as the local path, dispatched to Ray actors.

Why actors, not plain tasks: an actor is a long-lived worker process that keeps its
built model across tasks (extract.runner caches it per process), so a million-image job
builds the model once per worker, not once per shard. Workers write their own shards;
the driver only dispatches, retries (a bounded number of times, and only what the failed
attempt had not committed) and records. Per-batch progress streams back through a Ray
generator, so the driver's bar shows every worker's speed.
"""
from __future__ import annotations

import logging
import os
import queue
import sys
import threading
from collections import deque
from dataclasses import dataclass

import ray
from ray.exceptions import RayActorError

from extract import devices
from extract.engines import EngineError, Report
from extract.engines.commits import CommitTracker
from extract.runner import ShardTask, TaskResult, run_task
from extract.weights import WeightsError

LOOPBACK = "127.0.0.1"
LOCAL_OBJECT_STORE_BYTES = 256 * 1024**2  # tasks and results are small: no need for Ray's 30 % of RAM


class TaskFailedError(RuntimeError):
    pass


def _usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@ray.remote(max_restarts=0, max_task_retries=0)  # the driver retries, knowing what was committed
class ShardWorker:
    def __init__(self, threads: int | None):
        devices.prepare_tensorflow()  # memory growth on before TensorFlow touches the GPU
        import tensorflow as tf

        if threads:  # one TensorFlow thread pool per reserved CPU: workers do not fight over cores
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        # "ip:pid device": which process, and whether its images go through a GPU or the CPU
        self.label = f"{ray.util.get_node_ip_address()}:{os.getpid()} {devices.device_label()}"

    def run(self, task: ShardTask, expected_hashes: dict[str, str]):
        """Yields its label, then the image count of every batch, then the TaskResult."""
        yield self.label
        events: queue.SimpleQueue = queue.SimpleQueue()
        outcome: dict = {}

        def work() -> None:
            try:
                outcome["result"] = run_task(task, expected_hashes, events.put)
            except BaseException as error:  # re-raised below, in the generator the driver reads
                outcome["error"] = error
            finally:
                events.put(None)

        thread = threading.Thread(target=work, name="shard-task", daemon=True)
        thread.start()
        while (count := events.get()) is not None:
            yield count
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        yield outcome["result"]


@dataclass
class _Running:
    worker: object  # actor handle
    task: ShardTask
    attempt: int
    expected: dict[str, str]
    label: str = "starting"
    reported: int = 0


class RayEngine:
    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, gpus_per_worker: float = 0.0,
                 cpus_per_worker: float = 1.0, max_retries: int = 2):
        if workers is not None and workers < 1:
            raise EngineError(f"--workers must be at least 1. Received: --workers {workers}")
        if gpus_per_worker < 0 or cpus_per_worker <= 0:
            raise EngineError(f"--gpus-per-worker must be >= 0 and --cpus-per-worker > 0. "
                              f"Received: {gpus_per_worker}, {cpus_per_worker}")
        if max_retries < 0:
            raise EngineError(f"--max-retries must be >= 0. Received: --max-retries {max_retries}")
        self.address, self.workers = address, workers
        self.gpus_per_worker, self.cpus_per_worker, self.max_retries = gpus_per_worker, cpus_per_worker, max_retries
        self.retries = 0
        self._owns_ray = False
        self._saved_env: tuple[str | None, object] | None = None
        self._actors: list = []
        self._where = "not started"

    # --- reaching the cluster -------------------------------------------------------------
    def _loopback_only(self) -> None:
        """Ray's single-node mode: every address it binds and advertises is 127.0.0.1."""
        constants = sys.modules.get("ray._private.ray_constants")
        self._saved_env = (os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"),
                           getattr(constants, "ENABLE_RAY_CLUSTER", None))
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # for the processes Ray starts
        if self._saved_env[1] is not None:  # for this one, where ray is already imported
            constants.ENABLE_RAY_CLUSTER = False  # (_check_resources refuses a non-loopback node anyway)

    def _restore_env(self) -> None:
        if self._saved_env is not None:
            env, flag = self._saved_env
            if env is None:
                os.environ.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
            else:
                os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = env
            if flag is not None:
                sys.modules["ray._private.ray_constants"].ENABLE_RAY_CLUSTER = flag
            self._saved_env = None

    def open(self) -> None:
        if ray.is_initialized():  # a notebook that already called ray.init: use it, leave it running
            self._owns_ray, self._where = False, "the caller's ray.init"
        else:
            try:
                if self.address is None:
                    self._loopback_only()
                    ray.init(num_cpus=_usable_cpus(), include_dashboard=False,
                             _node_ip_address=LOOPBACK, object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                             log_to_driver=False, logging_level=logging.WARNING)
                else:
                    ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING)
            except Exception as error:  # noqa: BLE001 - Ray raises many kinds; the user needs one line
                self._restore_env()
                raise EngineError(f"Cannot start or join Ray ({type(error).__name__}: {error}). "
                                  f"Received: --address {self.address or '(none: local instance)'}") from None
            self._owns_ray = True
            self._where = "local instance" if self.address is None else f"cluster {self.address}"
        try:
            self._check_resources()
        except BaseException:
            self.close()
            raise

    def _check_resources(self) -> None:
        if self.address is None and self._owns_ray:
            nodes = {node["NodeManagerAddress"] for node in ray.nodes() if node.get("Alive")}
            if nodes != {LOOPBACK}:
                raise EngineError(f"The local Ray instance is not on loopback only: {sorted(nodes)}")
        total = ray.cluster_resources()
        cpus, gpus = total.get("CPU", 0.0), total.get("GPU", 0.0)
        if self.workers is None:
            fit = gpus // self.gpus_per_worker if self.gpus_per_worker else cpus // self.cpus_per_worker
            self.workers = max(1, int(fit))
        need_cpus, need_gpus = self.workers * self.cpus_per_worker, self.workers * self.gpus_per_worker
        if need_cpus > cpus or need_gpus > gpus:
            raise EngineError(
                f"{self.workers} workers x ({self.cpus_per_worker:g} CPU, {self.gpus_per_worker:g} GPU) need "
                f"{need_cpus:g} CPUs and {need_gpus:g} GPUs; the Ray cluster has {cpus:g} CPUs and {gpus:g} GPUs "
                f"(start its nodes first). Received: --workers {self.workers} "
                f"--cpus-per-worker {self.cpus_per_worker:g} --gpus-per-worker {self.gpus_per_worker:g}")

    def describe(self) -> str:
        each = f"{self.cpus_per_worker:g} CPU" + (f" + {self.gpus_per_worker:g} GPU" if self.gpus_per_worker else "")
        retried = f", {self.retries} retried task{'s' if self.retries > 1 else ''}" if self.retries else ""
        return f"ray ({self._where}): {self.workers} workers x {each}{retried}"

    def close(self) -> None:
        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
        self._owns_ray = False
        self._restore_env()

    # --- dispatching ----------------------------------------------------------------------
    def _spawn(self):
        threads = max(1, int(self.cpus_per_worker)) if not self.gpus_per_worker else None
        actor = ShardWorker.options(num_cpus=self.cpus_per_worker, num_gpus=self.gpus_per_worker).remote(threads)
        self._actors.append(actor)
        return actor

    def _replace(self, actor):
        ray.kill(actor)  # already dead, or alive but failing: either way a fresh process takes over
        self._actors.remove(actor)
        return self._spawn()

    def run(self, tasks: list[ShardTask], expected_hashes: dict[str, str], report: Report) -> list[TaskResult]:
        if not tasks:
            return []
        tracker = CommitTracker.for_task(tasks[0])  # what was committed before any worker started
        pending = deque((task, 0) for task in tasks)
        idle = [self._spawn() for _ in range(min(self.workers or 1, len(tasks)))]
        running: dict = {}  # generator -> _Running
        results: list[TaskResult] = []
        while pending or running:
            while pending and idle:
                task, attempt = pending.popleft()
                expected = {path: expected_hashes[path] for path in task.paths if path in expected_hashes}
                worker = idle.pop()
                running[worker.run.remote(task, expected)] = _Running(worker, task, attempt, expected)
            ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
            for generator in ready:
                job = running[generator]
                try:
                    value = ray.get(next(generator))
                except Exception as error:  # noqa: BLE001 - any failure is retried, a bounded number of times
                    del running[generator]
                    dead = isinstance(error, RayActorError)
                    idle.append(self._replace(job.worker) if dead else job.worker)
                    pending.extendleft(self._retry(job, error, tracker, results, report))
                    continue
                if isinstance(value, str):
                    job.label = value
                elif isinstance(value, int):
                    job.reported += value
                    report(job.label, value)
                else:
                    value.worker = job.label
                    results.append(value)
                    del running[generator]
                    idle.append(job.worker)
        return results

    def _retry(self, job: _Running, error: Exception, tracker: CommitTracker, results: list[TaskResult],
               report: Report) -> list[tuple[ShardTask, int]]:
        """The rest of a failed task, once more; what it had committed is kept and counted."""
        remaining, done = tracker.salvage(job.task, job.expected)
        committed = len(job.task.paths) - len(remaining.paths)
        if job.reported != committed:  # progress then counts each image once, whatever the failures
            report(job.label, committed - job.reported)
        if committed:
            results.append(done)
        if not remaining.paths:
            return []
        cause = getattr(error, "cause", None) or error
        if isinstance(cause, WeightsError):  # another file on that node: a retry would meet it again
            raise TaskFailedError(f"A shard task was refused on worker {job.label}: {str(cause).splitlines()[0]}")
        if job.attempt >= self.max_retries:
            raise TaskFailedError(
                f"A shard task failed {job.attempt + 1} times ({len(remaining.paths)} images left, "
                f"e.g. {remaining.paths[0]}): {type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}"
                f" The committed shards are kept: run the same command again to finish.")
        self.retries += 1
        return [(remaining, job.attempt + 1)]
