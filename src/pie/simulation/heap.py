"""The C heap the Monte Carlo's arrays come from (glibc; a no-op elsewhere).

glibc maps an allocation of 128 KB or more apart (``mmap``) and unmaps it when freed, so every
such array is fresh memory: a page fault per 4 KB, the kernel zeroing each page. It raises that
threshold by itself as large mappings are freed (up to 32 MB on 64-bit systems, trimming the
heap's top beyond twice that), so how many of the simulation's arrays (a block's 256 KB, a
chunk's 1.6 MB) are fresh depends on what the process did before: measured on the pipeline
forecast, 5 minor page faults after a fit, 42,000 to 571,000 after loading a pickled world,
up to 13 % of its CPU time in the kernel. ``settle`` sets the thresholds where glibc's own rule
ends up, once per process, so the simulation reuses the heap whatever ran before it.
"""

from __future__ import annotations

import ctypes
from functools import cache

#: ``mallopt`` parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: the largest threshold glibc adopts by itself (``DEFAULT_MMAP_THRESHOLD_MAX``, 64-bit), and
#: the top of the heap it then keeps (twice that)
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD


@cache
def settle() -> bool:
    """Set glibc's mapping and trimming thresholds (``MMAP_THRESHOLD``, ``TRIM_THRESHOLD``)
    once; False where there is no glibc ``mallopt``. Memory freed into the heap stays
    reusable by the next arrays instead of being unmapped and mapped again."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mapped = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    trimmed = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return bool(mapped) and bool(trimmed)
