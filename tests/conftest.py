"""Shared test fixtures (kept small): the repository root, and a session cache that is computed once
even when pytest-xdist runs the tests in several worker processes."""
from __future__ import annotations

import json
import os
import traceback
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from filelock import FileLock

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """One intra-op thread per test process: `make test` runs two xdist workers on two cores, and
    the suite's small matmuls ran up to 10x slower with two contended threads per worker.
    (Notebooks and subprocesses started by tests set their own threads.)"""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True, scope="session")
def no_instructor_gradebook():
    """The tests grade into gradebooks of their own: an instructor's CNNVIT_DB_URL (say, the class's
    PostgreSQL gradebook) is not handed to the nbgrader processes they start."""
    saved = os.environ.pop("CNNVIT_DB_URL", None)
    yield
    if saved is not None:
        os.environ["CNNVIT_DB_URL"] = saved


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_once(tmp_path_factory, request) -> Callable[[str, Callable[[Path], Any]], Any]:
    """``shared_once(key, make)``: ``make(folder)`` runs once per test session (the first worker to
    ask runs it, the others wait for it and read its JSON result); ``folder`` is shared by all.
    Also without pytest-xdist (``-p no:xdist``)."""
    base = tmp_path_factory.getbasetemp()
    if hasattr(request.config, "workerinput"):  # xdist: every worker has its own basetemp under a common parent
        base = base.parent

    def once(key: str, make: Callable[[Path], Any]) -> Any:
        folder = base / f"shared-{key}"
        result = base / f"shared-{key}.json"
        with FileLock(str(result) + ".lock"):
            if not result.is_file():
                folder.mkdir(parents=True, exist_ok=True)
                try:
                    value = make(folder)
                except Exception:  # remembered, so that the other tests fail fast instead of re-running it
                    value = {"__error__": traceback.format_exc()}
                result.write_text(json.dumps(value))
        value = json.loads(result.read_text())
        if isinstance(value, dict) and "__error__" in value:
            raise RuntimeError(f"shared fixture {key!r} failed:\n{value['__error__']}")
        return value

    return once
