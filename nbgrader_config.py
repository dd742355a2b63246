"""nbgrader course directory: the repository root.

solutions/<slug>/ is the source (with answers and hidden tests), exercises/<slug>/ the
release that `python3 dev.py exercises` generates. submitted/, autograded/, feedback/ and
gradebook.db (which holds the hidden tests) stay out of git.
"""
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, IgnorePattern,
                                    LimitOutput, OverwriteCells, OverwriteKernelspec, SaveAutoGrades)

from autograder.grading.preprocessors import DropDuplicateIds, StderrIsNotFailure
from autograder.grading.verdict import Verdict

c = get_config()  # noqa: F821  (nbgrader provides it)

c.CourseDirectory.course_id = "gpu-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"

# A student's cell may loop forever: stop it after this many seconds, grade the rest.
c.Execute.timeout = 300
# A student may delete a test cell: put it back from the gradebook, and run it.
c.OverwriteCells.add_missing_cells = True
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
# A student may paste a copy of a graded cell: grade the last copy, not lose the notebook.
c.Autograde.sanitize_preprocessors = [ClearOutput, DropDuplicateIds, OverwriteKernelspec,
                                      OverwriteCells, CheckCellMetadata]
# The notebook runs in a sandboxed kernel, but its graded checks are decided in this process,
# from its answers as data (Verdict replaces nbgrader's Execute). A warning printed by a cell
# (stderr) is passed on as ordinary output before the grades are read.
c.Autograde.autograde_preprocessors = [Verdict, StderrIsNotFailure, IgnorePattern,
                                       ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
                                       AssignLatePenalties, CheckCellMetadata]
