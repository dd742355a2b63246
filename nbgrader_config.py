"""nbgrader course directory: the repository root.

solutions/<slug>/ is the source (with answers and hidden tests), exercises/<slug>/ the
release that `python3 dev.py exercises` generates. submitted/, autograded/, feedback/ and
gradebook.db (which holds the hidden tests) stay out of git.
"""
from nbgrader.preprocessors import CheckCellMetadata, ClearOutput, OverwriteCells, OverwriteKernelspec

from autograder.nbgrader_cells import DropDuplicateIds

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
