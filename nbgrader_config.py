"""nbgrader configuration of the course (read by every `nbgrader` command run from the repo root,
by the formgrader, and by `make autograde`, which is `python -m cnnvit_grader.instructor`).

solutions/  = nbgrader's *source* notebooks (with ### BEGIN SOLUTION and hidden tests)
exercises/  = nbgrader's *release* notebooks (what students get), generated and committed
grading/    = the instructor's working folder (submissions, autograded copies, feedback,
              gradebook); ignored by git, created here so that nbgrader works on a fresh clone.
"""
import os
import sys

c = get_config()  # noqa: F821 - provided by nbgrader/traitlets

ROOT = os.path.dirname(os.path.abspath(__file__))
# The course's nbgrader plugins live in the package cnnvit_grader, beside cnnvit_ref; from a
# checkout they import even when it is not installed (a course copy without it uses the installed one).
if os.path.isdir(os.path.join(ROOT, "cnnvit_grader")) and ROOT not in sys.path:
    sys.path.insert(0, ROOT)
from cnnvit_grader import nbgrader_plugins  # noqa: E402

# nbgrader opens the gradebook before anything else and fails ("There was an error accessing the
# nbgrader database") when its folder is missing, as on a fresh clone. Opening it runs the `alembic`
# script of nbgrader's environment, found on PATH only when that environment is activated (it is
# not when the formgrader runs in `.venv/bin/jupyter lab`): its bin/ is put on PATH.
os.makedirs(os.path.join(ROOT, "grading"), exist_ok=True)
_bin = os.path.dirname(sys.executable)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

c.CourseDirectory.root = ROOT
c.CourseDirectory.course_id = "cnn-vs-vit"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = os.path.join("grading", "submitted")
c.CourseDirectory.autograded_directory = os.path.join("grading", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("grading", "feedback")
# The gradebook: SQLite in grading/ by default; CNNVIT_DB_URL (any SQLAlchemy URL) points it elsewhere,
# e.g. at a PostgreSQL server that several machines grading shards of one assignment write to
# (README, "Several machines, one gradebook"):
#   CNNVIT_DB_URL=postgresql+psycopg2://grader@db.example.org/cnnvit
#   CNNVIT_DB_URL='postgresql+psycopg2://grader@/cnnvit?host=/run/postgresql'   (Unix socket)
c.CourseDirectory.db_url = (os.environ.get("CNNVIT_DB_URL")
                            or "sqlite:///" + os.path.join(ROOT, "grading", "gradebook.db"))

# A test cell's own time limit (cnnvit_ref.grading) stops an endless loop in ~20 s with a
# message; this is the backstop for a cell that is stuck outside Python (default 30 s is too
# short for the exercises' small training cells).
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# Autograding (cnnvit_grader/nbgrader_plugins.py): a kernel that dies in a cell, or a cell stuck past
# Execute.timeout, costs that cell only (the notebook is re-run without it, at most max_restarts
# times); in test cells only an error fails (not a warning on stderr, not a number as the last
# expression). ClearMetadataPreprocessor is left out on purpose: it would strip nbgrader's metadata.
c.Autograde.autograde_preprocessors = nbgrader_plugins.autograde_preprocessors()
c.ResilientExecute.max_restarts = 4
# Student notebooks run in the kernel installed with the course (a submission cannot pick another).
c.Execute.kernel_name = "python3"

# The sandbox of every student kernel (cnnvit_grader/sandbox.py): bubblewrap, no network, a
# read-only file system with a pristine cnnvit_ref, one writable tmpfs. Student code is untrusted
# input. `make autograde ... NO_SANDBOX=1` (instructor autograde --no-sandbox) sets enabled = False,
# keeping only the limits below; without it, autograde refuses where bubblewrap cannot start.
# Per student, sized for a 2-core, 8 GB laptop grading 2 students at a time (2 x 2.8 GB at most):
c.Sandbox.enabled = True
c.Sandbox.memory_mb = 2560        # address space of a kernel (torch + the checker map ~1.4 GB)
c.Sandbox.processes = 128         # processes + threads of a kernel (a grading kernel runs 12)
c.Sandbox.disk_mb = 256           # its writable /scratch (tmpfs, in memory) and largest file
c.Sandbox.output_kb = 1024        # notebook output kept; the rest is cut with a note (errors kept)
c.Sandbox.student_seconds = 900   # wall clock for one student (make autograde), CPU s per kernel
c.Sandbox.open_files = 1024

# Feedback never shows the hidden tests (nbgrader's own feedback would: the autograded notebook
# holds them) nor the tracebacks that quote them.
c.GenerateFeedback.preprocessors = nbgrader_plugins.feedback_preprocessors()

# A student who deletes a test cell gets it back from the database, and it is graded.
c.OverwriteCells.add_missing_cells = True

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
