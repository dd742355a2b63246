# chapter: ch02_first_kernels
# base: release
# score: 0
# A Numba kernel whose module-level code (run where the simulator defines it) tries to write into
# the course and start a background process.
# %% numba_diff_answer
from numba import cuda
import os, subprocess, sys
try:
    open("{ROOT}/autograder/ch02_first_kernels.py", "a").write("\n# hacked\n")
except OSError:
    pass
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)


@cuda.jit
def adjacent_diff(a, out):
    pass
