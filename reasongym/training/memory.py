"""Give memory the process has freed back to the operating system between training micro-batches.

On CPU, torch allocates tensors with the C library's ``malloc``. glibc serves anything under its mmap
threshold from its heap (the threshold grows, up to 32 MiB, each time a larger mmapped block is freed), and
a freed heap chunk stays part of the process's resident memory until a later allocation reuses it. A training step
frees a micro-batch's activations (hundreds of chunks of a few MiB) and then allocates the next
micro-batch's, whose sizes differ with its length: measured on SmolLM2-135M, a gigabyte of freed heap sat
unused at the peak of a step. ``malloc_trim(0)`` returns the free pages of every arena to the system
(the pages come back, zeroed, when the heap grows into them again), so the peak is what is live, plus what
the current micro-batch fragments.

Elsewhere (other C libraries, or no ``malloc_trim``) :func:`release_free_memory` does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


def release_free_memory() -> bool:
    """Return the C heap's free pages to the operating system; ``True`` if the C library could."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
