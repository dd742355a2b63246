"""One submission graded as a job of its own, and the engines that run many such jobs at once.

nbgrader has no parallel autograde: its gradebook is one SQLite file, which two writers corrupt or
lock. So each job grades ONE submission with a real `nbgrader autograde` in a private temporary
course (the course's config, the assignment's source, and a gradebook with the assignment and no
submissions: `template`), and hands back data only: the grade and comment rows of its private
gradebook and the autograded files. The main process alone writes the course's gradebook
(`grade_class.merge`). A job that raises or whose worker dies is tried once more; then its
submission is recorded as "could not be graded" with the reason, and the batch goes on.

On a machine with GPUs each job in flight holds one GPU of its own: its nbgrader (and the
sandboxed kernel under it) sees only that device through `CUDA_VISIBLE_DEVICES`, so that two
submissions never share a GPU's memory and the meter's peak is the submission's own.

Engines: `run_local` (concurrent.futures processes, at most N in flight, a broken pool replaced)
and `run_dask` (a `distributed.LocalCluster`, or any scheduler's address; the template is
made once by a task that Dask recomputes where its worker died, and it reschedules a job whose
worker died: `allowed-failures`).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable

import multiprocessing

# A fault drill (the tests use it): "<student>=<folder>" makes the first job of that student kill
# its own worker process, as an out-of-memory kill or a lost node would.
DRILL = "GPU_COURSE_GRADE_DRILL"


def gpus() -> list[str]:
    """The GPUs this machine lends to grading: CUDA_VISIBLE_DEVICES where it is set (an empty
    value: none), else the devices `nvidia-smi -L` lists; none without a driver."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, line in enumerate(listed.stdout.splitlines()) if line.startswith("GPU ")] \
        if listed.returncode == 0 else []


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _write(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)


def _drill(student: str) -> None:
    spec = os.environ.get(DRILL, "")
    who, _, marks = spec.partition("=")
    if who == student and marks:
        mark = Path(marks) / f"{student}.killed"
        if not mark.exists():
            mark.write_text("killed once")
            os._exit(9)


def rows(gradebook: Path, assignment: str, student: str) -> dict:
    """The submission's rows in a gradebook, as data: timestamp, and per notebook its late
    penalty, grades and comments by cell name."""
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{gradebook}") as gb:
        sub = gb.find_submission(assignment, student)
        out = {"timestamp": sub.timestamp.isoformat() if sub.timestamp else None, "notebooks": {}}
        for nb in sub.notebooks:
            out["notebooks"][nb.name] = {
                "late_submission_penalty": nb.late_submission_penalty,
                "grades": {g.name: {"auto_score": g.auto_score, "needs_manual_grade": g.needs_manual_grade}
                           for g in nb.grades},
                "comments": {c.name: {"auto_comment": c.auto_comment} for c in nb.comments}}
    return out


def grade_one(job: dict, template: dict[str, bytes]) -> dict:
    """In a worker: grade job["files"] (the student's submitted folder) with `nbgrader autograde`
    in a private course made from `template`; the gradebook rows and autograded files as data."""
    import nbformat
    from .release import tool_env
    student, assignment = job["student"], job["assignment"]
    _drill(student)
    for name, data in job["files"].items():
        if name.endswith(".ipynb"):
            try:
                nbformat.reads(data.decode("utf-8"), as_version=4)
            except Exception as exc:        # noqa: BLE001 (any reading error is the reason)
                raise ValueError(f"{name} is not a readable notebook ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0][:120]})") from None
    env, gpu = tool_env(), job.get("gpu") or _dask_gpu(job.get("gpus"))
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        course = Path(tmp)
        _write(course, template)
        _write(course / "submitted" / student / assignment, job["files"])
        done = subprocess.run(
            [sys.executable, "-m", "nbgrader", "autograde", assignment, "--student", student,
             "--force", "--log-level=WARN"], cwd=course, capture_output=True, text=True, env=env)
        graded = course / "autograded" / student / assignment
        if done.returncode or not graded.is_dir():
            lines = [l for l in (done.stderr + done.stdout).splitlines() if l.strip()]
            raise RuntimeError(f"nbgrader autograde failed ({done.returncode}): "
                               + (lines[-1][:300] if lines else "no message"))
        return {"student": student, "digest": job["digest"], "files": files_of(graded), "gpu": gpu,
                **rows(course / "gradebook.db", assignment, student)}


def _dask_gpu(devices: list[str] | None) -> str | None:
    """On a Dask LocalCluster with GPUs: the device of this worker (worker names are 0, 1, ...,
    one worker per GPU). A cluster that pins devices itself (dask-cuda) ships no list."""
    if not devices:
        return None
    from distributed import get_worker
    name = get_worker().name
    return devices[int(name) % len(devices)] if str(name).isdigit() else None


Report = Callable[[dict, dict | None, str | None], None]   # (job, result, error) -> None


def run_local(jobs: list[dict], template: dict[str, bytes], workers: int, report: Report,
              devices: list[str] = ()) -> None:
    """Grade `jobs` in `workers` processes; each job tried at most twice; `report` is called in
    this process once per job, with its result or its last error. With `devices` (GPU ids, at
    least `workers` of them), each job in flight is given one no other job holds."""
    queue, tries = list(jobs), {j["student"]: 0 for j in jobs}
    free = list(devices)
    ctx = multiprocessing.get_context("spawn")
    while queue:
        pool, running = ProcessPoolExecutor(workers, mp_context=ctx), {}
        try:
            while queue or running:
                while queue and len(running) < workers:
                    job = queue.pop(0)
                    tries[job["student"]] += 1
                    if devices:
                        job = {**job, "gpu": free.pop(0)}
                    running[pool.submit(grade_one, job, template)] = job
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                broken = False
                for fut in finished:
                    job = running.pop(fut)
                    if "gpu" in job:
                        free.append(job["gpu"])
                    try:
                        report(job, fut.result(), None)
                        continue
                    except BrokenProcessPool:
                        broken, why = True, "its grading process died"
                    except Exception as exc:    # noqa: BLE001 (recorded, the batch goes on)
                        why = str(exc) or type(exc).__name__
                    if tries[job["student"]] < 2:
                        queue.append(job)
                    else:
                        report(job, None, why)
                if broken:                  # every job still in flight died with the pool
                    for fut, job in running.items():
                        if "gpu" in job:
                            free.append(job["gpu"])
                        if tries[job["student"]] < 2:
                            queue.append(job)
                        else:
                            report(job, None, "its grading process died")
                    running = {}
                    break
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def run_dask(jobs: list[dict], template: dict[str, bytes], workers: int, address: str | None,
             report: Report, devices: list[str] = ()) -> None:
    """Grade `jobs` on Dask: a LocalCluster of `workers` single-threaded processes (worker i on
    GPU `devices[i]` where there are GPUs), or the scheduler at `address` (whose workers bring
    their own devices: dask-cuda's LocalCUDACluster, or a Slurm job's GPU per worker). A raising job is retried once (`retries=1`); a job whose worker dies
    is rescheduled once (the scheduler's `allowed-failures`, set for a LocalCluster) and then
    fails with KilledWorker."""
    import dask
    from distributed import Client, LocalCluster, as_completed
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = None if address else LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        try:
            with Client(address or cluster) as client:
                # one copy for all jobs, made by a task and not by client.scatter: Dask's active
                # memory manager drops a broadcast's extra replicas, and scattered data that only
                # a dying worker held is lost for good (CI saw the drill's kill fail two jobs);
                # a task's result is recomputed
                shipped = client.submit(dict, template, key="template", pure=False)
                if cluster is not None and devices:
                    jobs = [{**job, "gpus": list(devices)} for job in jobs]
                futures = {client.submit(grade_one, job, shipped, retries=1, pure=False,
                                         key=f"grade-{job['student']}-{job['digest'][:12]}"): job
                           for job in jobs}
                for fut in as_completed(futures):
                    job = futures[fut]
                    try:
                        result = fut.result()
                    except Exception as exc:    # noqa: BLE001 (KilledWorker included)
                        name = type(exc).__name__
                        why = ("its grading worker died twice" if name == "KilledWorker"
                               else str(exc) or name)
                        report(job, None, why)
                    else:
                        report(job, result, None)
        finally:
            if cluster is not None:
                cluster.close()
