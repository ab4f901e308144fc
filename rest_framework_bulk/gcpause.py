"""Pausing Python's cyclic garbage collector while a bulk write runs.

The collector runs every few hundred new containers (dicts, lists,
instances), and each of its full passes walks every object of the process.
A bulk write makes several containers per item that live until the answer
is rendered, so a 10 000-item request sets off full passes over the whole
heap that find nothing to free: on the benchmarks they are about 15 % of
the request's time. Reference counting still frees everything at once as it
goes out of use; only reference cycles wait for the collector, which runs
again when the outermost pause ends.

``PAUSE_GC`` set to ``False`` leaves the collector alone.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .settings import api_settings

_lock = threading.Lock()
_depth = 0
_resume = False


@contextmanager
def paused() -> Iterator[None]:
    """Pause the collector for the ``with`` block, unless ``PAUSE_GC`` is off.

    Pauses nest and may overlap across threads: the collector resumes when
    the last one ends, and only if it was enabled when the first began.
    """
    global _depth, _resume
    if not api_settings.PAUSE_GC:
        yield
        return
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                gc.enable()
