"""nbgrader course directory: the repository root.

solutions/<slug>/ is the source (with answers and hidden tests), exercises/<slug>/ the
release that `python3 dev.py exercises` generates. submitted/, autograded/, feedback/ and
gradebook.db (which holds the hidden tests) stay out of git.
"""
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, Execute,
                                    IgnorePattern, LimitOutput, OverwriteCells, OverwriteKernelspec,
                                    SaveAutoGrades)

from autograder.grading.preprocessors import DropDuplicateIds, StderrIsNotFailure

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
# A warning printed while a check ran (stderr) is not a failed check: nbgrader's own list,
# with stderr passed on as ordinary output before the grades are read.
c.Autograde.autograde_preprocessors = [Execute, StderrIsNotFailure, IgnorePattern,
                                       ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
                                       AssignLatePenalties, CheckCellMetadata]
