"""The engine's threads: chunks of work done at once by serial Numba kernels that release
the GIL (``nogil=True``), run by a pool of Python threads.

Why not Numba's ``parallel=True``: each such kernel costs one to three seconds more to
compile (paid from an empty cache: a first install, every Binder launch), and its OpenMP
threads spin-wait between parallel regions, taking cores from a process running pypolymlp
beside us. Threads blocked on a pool's queue wait passively.

The number of threads is Numba's setting, ``numba.set_num_threads`` (default: every core).
"""

import threading
from concurrent.futures import ThreadPoolExecutor

from numba import config, get_num_threads

_lock = threading.Lock()
_pool = None


def n_threads() -> int:
    """The number of threads the engine uses: Numba's setting for the calling thread."""
    return int(get_num_threads())


def _workers() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:  # made once, on the first parallel call
            _pool = ThreadPoolExecutor(max_workers=max(1, config.NUMBA_NUM_THREADS - 1),
                                       thread_name_prefix="polymlp-lab-engine")
        return _pool


def run_chunks(kernel, n_chunks: int, *args) -> None:
    """``kernel(c, n_chunks, *args)`` for every chunk c, on ``n_chunks`` threads (the calling
    one does chunk 0). The kernel must release the GIL (``nogil=True``); an exception of any
    chunk is raised here after all have finished."""
    if n_chunks <= 1:
        kernel(0, 1, *args)
        return
    pool = _workers()
    futures = [pool.submit(kernel, c, n_chunks, *args) for c in range(1, n_chunks)]
    try:
        kernel(0, n_chunks, *args)
    finally:
        for future in futures:
            future.result()
