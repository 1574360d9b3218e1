"""Multi-process metrics: where the worker processes of one server keep their samples.

prometheus-client's multiprocess mode has every process write its samples to memory-mapped
files in one directory (``PROMETHEUS_MULTIPROC_DIR``); ``/metrics``, answered by whichever
process gets the scrape, reads them all. The variable must be set before
``prometheus_client`` is imported in a process that records metrics, so the ``serve`` command
calls :func:`prepare_multiprocess_dir` before uvicorn starts its workers (which are fresh
``spawn`` processes and inherit the environment).

This module imports nothing from prometheus-client on purpose.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir(*, workers: int, directory: str = "") -> Path | None:
    """Choose and clean the samples directory for a server about to start ``workers`` processes.

    - ``directory`` (``IMAGEBOARD_METRICS_DIR``) set: that directory;
    - else ``PROMETHEUS_MULTIPROC_DIR`` already in the environment: that one;
    - else with more than one worker: a fresh temporary directory, removed when this process exits;
    - else (one process): None — metrics stay in memory and process metrics are exported too.

    Samples left by an earlier run are deleted (they would otherwise be added to this run's).
    Call it in the parent process before any worker starts.
    """
    chosen = directory or os.environ.get(ENV, "")
    if chosen:
        path = Path(chosen)
        path.mkdir(parents=True, exist_ok=True)
    elif workers > 1:
        path = Path(tempfile.mkdtemp(prefix="imageboard-metrics-"))
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    else:
        return None
    if workers <= 1 and "imageboard.observability.metrics" in sys.modules and os.environ.get(ENV) != str(path):
        raise RuntimeError("prepare_multiprocess_dir() must run before imageboard.observability.metrics is imported")
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    os.environ[ENV] = str(path)
    return path


def multiprocess_dir() -> Path | None:
    """The samples directory of this process, or None in single-process mode."""
    value = os.environ.get(ENV, "")
    return Path(value) if value else None
