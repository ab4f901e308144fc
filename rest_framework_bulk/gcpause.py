"""Pausing Python's cyclic garbage collector while a bulk write runs.

The collector runs every few hundred new containers (dicts, lists,
instances), and each of its full passes walks every object of the process.
A bulk write makes several containers per item that live until the answer
is rendered, so a 10 000-item request sets off full passes over the whole
heap that find nothing to free: on the benchmarks they are about 15 % of
the request's time. Reference counting still frees everything at once as it
goes out of use; only reference cycles wait for the collector, which runs
again when the outermost pause ends, and at least every ``MAX_PAUSE``
seconds when pauses in several threads overlap.

``PAUSE_GC`` set to ``False`` leaves the collector alone.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .settings import api_settings

#: The longest the collector stays off, in seconds, when pauses overlap
#: without end (job batches in several threads): a pause that ends after
#: that, while others still hold the collector, runs a full collection.
MAX_PAUSE = 1.0

_lock = threading.Lock()
_depth = 0
_resume = False
_since = 0.0


@contextmanager
def paused() -> Iterator[None]:
    """Pause the collector for the ``with`` block, unless ``PAUSE_GC`` is off.

    Pauses nest and may overlap across threads: the collector resumes when
    the last one ends, and only if it was enabled when the first began.
    """
    global _depth, _resume, _since
    if not api_settings.PAUSE_GC:
        yield
        return
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            _since = time.monotonic()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        collect = False
        with _lock:
            _depth -= 1
            if _depth == 0:
                if _resume:
                    gc.enable()
            elif _resume and time.monotonic() - _since > MAX_PAUSE:
                collect = True
                _since = time.monotonic()
        if collect:
            gc.collect()
