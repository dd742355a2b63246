"""The guard in front of every sandbox: `python -m autograder.grading.guard DIR... -- bwrap ...`.

bubblewrap hides files and ends a sandbox's processes with it, but bounds neither how many
processes it starts nor how much it writes. The guard starts the sandbox with resource limits,
passes on interrupts (Jupyter interrupts a kernel with SIGINT), watches its process count and
the size of its folders, ends it past a limit, and leaves the reason in `DIR/.sandbox-stopped`
for the grader's message. It dies with its own parent, and the sandbox with it.
"""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from .sandbox import STOPPED, Watchdog, _limits
from ..lifetime import tied_to_parent


def main(argv: list[str]) -> int:
    split = argv.index("--")
    folders, cmd = [Path(a) for a in argv[:split]], argv[split + 1:]
    tie = tied_to_parent()
    if tie is not None:
        tie()                              # this guard dies with the grader, the sandbox with it
    proc = subprocess.Popen(cmd, preexec_fn=_limits)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: proc.send_signal(s))
    dog = Watchdog(proc.pid, folders)
    dog.start()
    code = proc.wait()
    if dog.reason:
        (folders[0] / STOPPED).write_text(dog.reason)
        print(f"the sandbox was stopped: {dog.reason}", file=sys.stderr)
        return 137
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
