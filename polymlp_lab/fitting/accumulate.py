"""The normal equations of a fit, summed from tasks run in threads or on a Dask cluster.

A task (kind, dataset number, structure indices) becomes, wherever it runs, the partial
:class:`~polymlp_lab.fitting.gram.NormalEquations` of its structures alone, computed with BLAS
and Numba at one thread (:func:`task_sums`), so that its bits do not depend on where it ran.
The caller merges the partials into its totals in task order (:func:`sums_in_order`): a fixed
order, whatever the number of workers or the order in which they finish, so that every way of
running a fit gives the same bits.
"""

import collections
import concurrent.futures
import contextlib

from ..runs import dask_client
from .gram import NormalEquations


@contextlib.contextmanager
def single_threaded():
    """BLAS (threadpoolctl) and Numba (this thread) at one thread, restored after. The BLAS
    limit is process-wide and threadpoolctl lets one thread at a time set it: where tasks run
    in parallel threads, the thread that started them holds it (see ``_threads``); a Dask
    worker runs its tasks one at a time, or with BLAS at one thread already (Dask's default
    worker environment)."""
    from numba import get_num_threads, set_num_threads
    from threadpoolctl import threadpool_limits

    numba_threads = get_num_threads()
    set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        set_num_threads(numba_threads)


def task_sums(rows, task):
    """(task, its partial NormalEquations): ``rows(task)`` (a RowBlock) summed at one thread."""
    with single_threaded():
        return task, NormalEquations.from_block(rows(task))


@contextlib.contextmanager
def sums_in_order(rows, tasks, *, scheduler=None, n_workers=1):
    """An iterator of :func:`task_sums` of each task, in task order, at most twice as many
    tasks in flight as there are workers (results that finish early wait for their turn).

    rows : picklable callable, task -> RowBlock (sent once to each Dask worker).
    scheduler : a Dask scheduler's address or cluster: the tasks run there; None: in
        ``n_workers`` threads of this process.
    On leaving the block (at the end, on an error or an interrupt) unstarted tasks are
    cancelled and running threads awaited.
    """
    backend = _threads(rows, n_workers) if scheduler is None else _dask(rows, scheduler)
    with backend as (submit, n_slots), \
            contextlib.closing(_in_order(submit, tasks, 2 * n_slots)) as results:
        yield results


@contextlib.contextmanager
def _threads(rows, n_workers):
    from threadpoolctl import threadpool_limits

    # this thread holds the process-wide BLAS limit while the pool's tasks run
    with threadpool_limits(limits=1, user_api="blas"), \
            concurrent.futures.ThreadPoolExecutor(n_workers) as pool:
        yield (lambda task: pool.submit(task_sums, rows, task)), n_workers


@contextlib.contextmanager
def _dask(rows, scheduler):
    with dask_client(scheduler) as client:
        shared = client.scatter(rows, broadcast=True, hash=False)  # once per worker
        n_slots = max(1, sum(client.nthreads().values()))
        yield (lambda task: client.submit(task_sums, shared, task, pure=False)), n_slots


def _in_order(submit, tasks, window):
    """Yield ``submit(task).result()`` in task order, at most ``window`` tasks in flight; when
    the iteration ends early, the tasks not yet finished are cancelled."""
    pending = collections.deque()
    try:
        for task in tasks:
            pending.append(submit(task))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
