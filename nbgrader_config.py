"""nbgrader configuration of the course (read by every `nbgrader` command run from the repo root).

solutions/  = nbgrader's *source* notebooks (with ### BEGIN SOLUTION and hidden tests)
exercises/  = nbgrader's *release* notebooks (what students get), generated and committed
grading/    = the instructor's working folder (submissions, autograded copies, feedback,
              gradebook); ignored by git.
"""
import os
import sys

c = get_config()  # noqa: F821 - provided by nbgrader/traitlets

ROOT = os.path.dirname(os.path.abspath(__file__))
# The course's nbgrader plugins live in the package; from a checkout they import even when the
# package is not installed (a course root that is a copy without cnnvit_ref/ uses the installed one).
if os.path.isdir(os.path.join(ROOT, "cnnvit_ref")) and ROOT not in sys.path:
    sys.path.insert(0, ROOT)
from cnnvit_ref import nbgrader_plugins  # noqa: E402

c.CourseDirectory.root = ROOT
c.CourseDirectory.course_id = "cnn-vs-vit"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = os.path.join("grading", "submitted")
c.CourseDirectory.autograded_directory = os.path.join("grading", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("grading", "feedback")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(ROOT, "grading", "gradebook.db")

# A test cell's own time limit (cnnvit_ref.grading) stops an endless loop in ~20 s with a
# message; this is the backstop for a cell that is stuck outside Python (default 30 s is too
# short for the exercises' small training cells).
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# Autograding (cnnvit_ref/nbgrader_plugins.py): a kernel that dies in a cell, or a cell stuck past
# Execute.timeout, costs that cell only (the notebook is re-run without it, at most max_restarts
# times); in test cells only an error fails (not a warning on stderr, not a number as the last
# expression). ClearMetadataPreprocessor is left out on purpose: it would strip nbgrader's metadata.
c.Autograde.autograde_preprocessors = nbgrader_plugins.autograde_preprocessors()
c.ResilientExecute.max_restarts = 4

# Feedback never shows the hidden tests (nbgrader's own feedback would: the autograded notebook
# holds them) nor the tracebacks that quote them.
c.GenerateFeedback.preprocessors = nbgrader_plugins.feedback_preprocessors()

# A student who deletes a test cell gets it back from the database, and it is graded.
c.OverwriteCells.add_missing_cells = True

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
