"""Grading survives a student's tampered cell metadata, and a warning (used by nbgrader_config.py only).

Jupyter's copy and paste keeps a cell's nbgrader metadata, so students hand in notebooks with
two cells claiming one grade id. nbgrader 0.9.6's DeduplicateIds then leaves `nbgrader: {}` on
the copies, and OverwriteCells (with add_missing_cells) reads `grade_id` from every cell that
has the key: a KeyError, and that student gets no grade at all. `DropDuplicateIds` removes the
key instead, from copies and from metadata without a grade id, keeping the last copy graded
as nbgrader does.
"""
from nbgrader.preprocessors import DeduplicateIds, NbGraderPreprocessor


class DropDuplicateIds(DeduplicateIds):
    def preprocess_cell(self, cell, resources, cell_index):
        meta = cell.metadata.get("nbgrader")
        if meta is not None and not (isinstance(meta, dict) and meta.get("grade_id")):
            del cell.metadata["nbgrader"]      # malformed: treat as an ordinary cell
            return cell, resources
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if cell.metadata.get("nbgrader") == {}:
            del cell.metadata["nbgrader"]
        return cell, resources


class StderrIsNotFailure(NbGraderPreprocessor):
    """nbgrader gives 0 to a test cell that wrote anything to stderr. The course's checks fail
    by raising, never by writing to stderr, so there stderr only holds warnings (a scheduler's,
    a library's deprecation) or a progress bar: passed on as ordinary output, they stay visible
    in the feedback and cost no points. A failed check still raises, and still scores 0."""

    def preprocess_cell(self, cell, resources, cell_index):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                out["name"] = "stdout"
        return cell, resources
