"""The course's grading machinery, kept apart from the reference package that students read.

* :mod:`cnnvit_grader.instructor`: the instructor's commands (release, autograde, feedback, export);
* :mod:`cnnvit_grader.nbgrader_plugins`: nbgrader preprocessors (resilient, sandboxed execution,
  plain outputs in test cells, feedback without hidden tests), used by ``nbgrader_config.py``;
* :mod:`cnnvit_grader.sandbox`: bubblewrap and resource limits around every student kernel.

The student-facing checker stays ``cnnvit_ref.grading``: test cells import it, and it is part of
what a student reads. Nothing here is imported by a student kernel.
"""
