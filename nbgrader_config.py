"""nbgrader configuration of the course (read by every `nbgrader` command run from the repo root).

solutions/  = nbgrader's *source* notebooks (with ### BEGIN SOLUTION and hidden tests)
exercises/  = nbgrader's *release* notebooks (what students get), generated and committed
grading/    = the instructor's working folder (submissions, autograded copies, feedback,
              gradebook); ignored by git.
"""
import os

c = get_config()  # noqa: F821 - provided by nbgrader/traitlets

ROOT = os.path.dirname(os.path.abspath(__file__))

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

# A student who deletes a test cell gets it back from the database, and it is graded.
c.OverwriteCells.add_missing_cells = True

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
