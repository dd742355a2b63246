"""Real ranks: a course function run by N processes joined in one gloo group; each rank's reply.

Simulated ranks (`sharded.simulated`) give rank 0's memory in one process, but their collectives
move no data, so what they compute is wrong. Real ranks compute real numbers (loss parity) and
each measures its own bytes. Each rank is a fresh Python process, started through `children`
(its own process group, tied to this process, sandboxed while grading), that joins the group
through a file store (a TCP port found free can be taken by another process before the group
binds it), calls `job(rank, world, **kwargs)` and writes what it returns as `wire` data.

    replies = on_ranks("autograder.ch15_fsdp:_rank_job", 2, shipment=..., steps=4)

Known limitations: gloo only (CPU tensors; on a GPU, NCCL would be the backend); every rank
runs on this machine.
"""
from __future__ import annotations

import datetime
import os
import pickle
import sys
import tempfile

from .. import children, wire

_MAIN = "import sys; from autograder.memory.ranks import _rank_main; sys.exit(_rank_main(*sys.argv[1:]))"


class RankError(RuntimeError):
    """A rank failed or ran past its time; the message has the end of what it wrote."""


def on_ranks(job: str, world: int, timeout: float = 120.0, **kwargs) -> list:
    """`job` ("module:qualname", a course function) called as job(rank, world, **kwargs) on each
    of `world` processes of one gloo group; their replies, by rank. `kwargs` travel pickled
    (the grader's own data: a student's code goes as a `Shipment`, landed by the job)."""
    with tempfile.TemporaryDirectory(prefix="ranks-") as tmp:
        payload = os.path.join(tmp, "job.pkl")
        with open(payload, "wb") as f:
            pickle.dump({"job": job, "kwargs": kwargs, "store": os.path.join(tmp, "store"),
                         "timeout": timeout}, f)
        env = dict(os.environ, WORLD_SIZE=str(world), OMP_NUM_THREADS="1",
                   PYTHONPATH=children.PACKAGE_PARENT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        ranks = [children.start([sys.executable, "-c", _MAIN, payload, os.path.join(tmp, f"r{r}.json")],
                                env={**env, "RANK": str(r)}) for r in range(world)]
        done = [children.wait(p, timeout) for p in ranks]   # one clock: the ranks run together
        for r, (p, (_, err, late)) in enumerate(zip(ranks, done)):
            if late or p.returncode:
                tail = "\n".join(err.strip().splitlines()[-12:])
                raise RankError(f"rank {r} of {world} {f'ran past {timeout:.0f} s' if late else 'failed'}:\n{tail}")
        replies = []
        for r in range(world):
            with open(os.path.join(tmp, f"r{r}.json"), "rb") as f:
                replies.append(wire.loads(f.read()))
    return replies


def _rank_main(payload_path: str, result_path: str) -> int:
    """In a rank's process: join the group, run the job, write its reply."""
    import importlib
    import warnings

    import torch
    import torch.distributed as dist
    with open(payload_path, "rb") as f:
        job = pickle.load(f)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="FSDP2-wrapped module")
    module, qualname = job["job"].split(":")
    fn = importlib.import_module(module)
    for part in qualname.split("."):
        fn = getattr(fn, part)
    dist.init_process_group("gloo", init_method=f"file://{job['store']}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=job["timeout"]))
    try:
        reply = fn(rank, world, **job["kwargs"])
    finally:
        dist.destroy_process_group()
    with open(result_path, "w") as f:
        f.write(wire.dumps(reply))
    return 0
