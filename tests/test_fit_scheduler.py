"""The normal equations on Dask: ``PolymlpFit(scheduler=...)`` and ``polymlp-lab fit
--scheduler`` give the same bits as threads (one or two), interrupted or not.

Data: the small fcc-Cu cells of test_fit_bad_input (4 atoms, labelled by a random-coefficient
potential); one LocalCluster of 2 single-threaded worker processes serves the whole module.
The sums are compared through the checkpoint's ``normal_equations.npz``.
"""

import contextlib
import itertools
import logging
import socket

import numpy as np
import pytest
from ase.io import write
from test_fit_bad_input import (
    INFILE_HEAD, MODEL, cu_cells, make_fit, single_line, write_infile,
)

import polymlp_lab.fitting.fit as fit_module
import polymlp_lab.runs as runs_module
from polymlp_lab.cli import main
from polymlp_lab.errors import PolymlpLabError
from polymlp_lab.fitting import Dataset, ModelTooLargeError
from polymlp_lab.fitting.fit import STATE_FILE, TaskRows
from polymlp_lab.fitting.gram import NormalEquations
from polymlp_lab.models import n_features
from polymlp_lab.runs import RunMismatchError, SchedulerUnreachableError
from conftest import random_potential

# 12 + 4 cells, 2 per task: 8 partial sums, merged in an order that decides the last bits
FIT = dict(batch_size=2, alphas=(1e-3, 1e-1, 10.0))
ORIGINAL_MERGE = NormalEquations.merge
ORIGINAL_SUMS_IN_ORDER = fit_module.sums_in_order


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.CRITICAL) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def data():
    potential = random_potential(("Cu",), seed=31, **MODEL)
    return (Dataset("train", cu_cells(potential, 12, seed=32, rattle=0.15, strain=0.05)),
            Dataset("test", cu_cells(potential, 4, seed=33, rattle=0.15, strain=0.05)))


def sums_of(checkpoint) -> dict:
    with np.load(checkpoint / STATE_FILE) as state:
        return {key: state[key] for key in state.files}


def run(folder, data, **options):
    """(fit, its sums) of a fit with a checkpoint in ``folder``."""
    fit = make_fit(**{**FIT, **options}, checkpoint=folder).fit(*data)
    return fit, sums_of(folder)


def assert_same_bits(a, b):
    (fit_a, sums_a), (fit_b, sums_b) = a, b
    assert fit_a.alpha_ == fit_b.alpha_
    assert np.array_equal(fit_a.coef_, fit_b.coef_)
    assert np.array_equal(fit_a.rmse_test_, fit_b.rmse_test_)
    assert sums_a.keys() == sums_b.keys()
    for key in sums_a:
        assert np.array_equal(sums_a[key], sums_b[key]), key


@pytest.fixture(scope="module")
def one_thread(tmp_path_factory, data):
    return run(tmp_path_factory.mktemp("threads") / "ck", data, n_workers=1)


def no_rows_here(*args, **kwargs):
    raise AssertionError("rows computed in this process, not on the cluster")


def test_merging_in_another_grouping_changes_the_bits(data, one_thread, tmp_path):
    """Control: the comparisons below can see a change of summation order."""
    _, other = run(tmp_path / "ck", data, n_workers=1, batch_size=3)
    _, sums = one_thread
    np.testing.assert_allclose(other["train_xtx"], sums["train_xtx"], rtol=1e-12)
    assert not np.array_equal(other["train_xtx"], sums["train_xtx"])


def test_two_threads_give_the_bits_of_one(data, one_thread, tmp_path):
    assert_same_bits(run(tmp_path / "ck", data, n_workers=2), one_thread)


def test_dask_gives_the_bits_of_threads(data, one_thread, cluster, tmp_path, monkeypatch):
    import distributed

    scattered, submitted = [], []
    scatter, submit = distributed.Client.scatter, distributed.Client.submit

    def spy_scatter(self, data, *args, **kwargs):
        scattered.append((data, kwargs.get("broadcast")))
        return scatter(self, data, *args, **kwargs)

    def spy_submit(self, function, *args, **kwargs):
        submitted.append(args)
        return submit(self, function, *args, **kwargs)

    monkeypatch.setattr(distributed.Client, "scatter", spy_scatter)
    monkeypatch.setattr(distributed.Client, "submit", spy_submit)
    monkeypatch.setattr(fit_module, "structure_rows", no_rows_here)
    dask = run(tmp_path / "ck", data, scheduler=cluster.scheduler_address)
    assert_same_bits(dask, one_thread)
    assert len(submitted) == 8  # one per task, none carrying the data
    assert not any(isinstance(a, (TaskRows, Dataset)) for args in submitted for a in args)
    assert [(type(d), b) for d, b in scattered] == [(TaskRows, True)]  # the data, once
    with distributed.Client(cluster) as client:  # the cluster the fit used is left running
        assert len(client.nthreads()) == 2


def interrupted_after(after):
    """fit's sums_in_order, whose results end in KeyboardInterrupt (Ctrl-C while waiting)
    after ``after`` partial sums."""
    @contextlib.contextmanager
    def sums_in_order(*args, **kwargs):
        with ORIGINAL_SUMS_IN_ORDER(*args, **kwargs) as results:
            yield itertools.chain(itertools.islice(results, after), interrupt())

    def interrupt():
        raise KeyboardInterrupt
        yield

    return sums_in_order


@pytest.mark.parametrize("first, then", [("dask", "dask"), ("threads", "dask"),
                                         ("dask", "threads"), ("threads", "threads")])
def test_interrupted_and_resumed_gives_the_bits_of_one_run(data, one_thread, cluster, tmp_path,
                                                           monkeypatch, first, then):
    where = {"dask": dict(scheduler=cluster.scheduler_address), "threads": dict(n_workers=2)}
    checkpoint = tmp_path / "ck"
    monkeypatch.setattr(fit_module, "sums_in_order", interrupted_after(3))
    with pytest.raises(KeyboardInterrupt):
        make_fit(**FIT, checkpoint=checkpoint, **where[first]).fit(*data)
    assert sums_of(checkpoint)["done_train_0"].sum() == 3 * FIT["batch_size"]
    monkeypatch.setattr(fit_module, "sums_in_order", ORIGINAL_SUMS_IN_ORDER)
    resumed = run(checkpoint, data, **where[then])
    assert resumed[0].resumed_structures_ == 3 * FIT["batch_size"]
    assert_same_bits(resumed, one_thread)


def test_interrupt_within_a_merge_saves_nothing_half_merged(data, tmp_path, monkeypatch):
    """Ctrl-C between the sums and the record of what they hold: nothing half-merged saved."""
    checkpoint = tmp_path / "ck"
    calls = [0]

    def half_merge(self, other):
        calls[0] += 1
        if calls[0] > 3:
            self.xtx += other.xtx
            raise KeyboardInterrupt
        ORIGINAL_MERGE(self, other)

    monkeypatch.setattr(NormalEquations, "merge", half_merge)
    with pytest.raises(KeyboardInterrupt):
        make_fit(**FIT, n_workers=1, checkpoint=checkpoint).fit(*data)
    assert not (checkpoint / STATE_FILE).exists()  # no save within the first 30 s


def test_finished_checkpoint_needs_no_scheduler(data, one_thread, unused_address, tmp_path,
                                                monkeypatch):
    checkpoint = tmp_path / "ck"
    make_fit(**FIT, n_workers=1, checkpoint=checkpoint).fit(*data)
    monkeypatch.setattr(runs_module, "CONNECT_TIMEOUT_S", 1.0)
    again = run(checkpoint, data, scheduler=unused_address)
    assert again[0].resumed_structures_ == sum(len(d) for d in data)
    assert_same_bits(again, one_thread)


def test_resume_with_another_batch_size_is_refused(data, one_thread, tmp_path, monkeypatch):
    checkpoint = tmp_path / "ck"
    make_fit(**FIT, n_workers=1, checkpoint=checkpoint).fit(*data)
    monkeypatch.setattr(fit_module, "structure_rows", no_rows_here)
    with pytest.raises(RunMismatchError) as info:
        make_fit(**dict(FIT, batch_size=3), n_workers=1, checkpoint=checkpoint).fit(*data)
    assert [d.split(":")[0] for d in info.value.differences] == ["batch_size"]
    assert "batch_size" in str(info.value)


def test_memory_check_counts_the_partial_sums_in_flight(data, monkeypatch):
    """Twice as many partial sums (8·features² bytes each) as threads wait for their turn."""
    n = n_features(make_fit().model_params())
    gram, rows = 8.0 * n**2, 8.0 * n * (3 * 4 + 7)  # batch_size 1, 4-atom cells
    assert rows < gram  # the partials, not the rows, decide below
    have = (5 * gram + 8 * gram + 4 * rows - gram / 2) / 0.9  # short of 4 threads' 8 partials
    monkeypatch.setattr(fit_module, "available_memory_bytes", lambda: have)
    with pytest.raises(ModelTooLargeError, match=f"{n} features"):
        make_fit(batch_size=1, n_workers=4).fit(*data)
    assert make_fit(batch_size=1, n_workers=1).fit(*data).coef_.shape == (n,)


@pytest.fixture
def unused_address():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"


def test_unreachable_scheduler_names_the_address(data, unused_address, monkeypatch):
    monkeypatch.setattr(runs_module, "CONNECT_TIMEOUT_S", 1.0)
    monkeypatch.setattr(fit_module, "structure_rows", no_rows_here)
    with pytest.raises(SchedulerUnreachableError) as info:
        make_fit(**FIT, scheduler=unused_address).fit(*data)
    assert isinstance(info.value, PolymlpLabError)
    assert unused_address in str(info.value)
    assert info.value.address == unused_address


@pytest.fixture
def infile(tmp_path, data):
    write(tmp_path / "train.extxyz", data[0].structures, format="extxyz")
    write(tmp_path / "test.extxyz", data[1].structures, format="extxyz")
    path, _ = write_infile(tmp_path, "train_data train.extxyz", "test_data test.extxyz",
                           head=INFILE_HEAD)
    return path


def test_cli_fit_on_a_scheduler_writes_the_threaded_potential(infile, cluster, capsys,
                                                              monkeypatch):
    folder = infile.parent
    assert main(["fit", str(infile), "--quiet", "--output", str(folder / "threads"),
                 "--workers", "1"]) == 0
    monkeypatch.setattr(fit_module, "structure_rows", no_rows_here)
    assert main(["fit", str(infile), "--quiet", "--output", str(folder / "dask"),
                 "--scheduler", cluster.scheduler_address]) == 0
    threaded = (folder / "threads" / "polymlp.yaml").read_bytes()
    assert threaded and (folder / "dask" / "polymlp.yaml").read_bytes() == threaded
    capsys.readouterr()


def test_cli_fit_unreachable_scheduler_exits_2_naming_it(infile, unused_address, capsys,
                                                         monkeypatch):
    monkeypatch.setattr(runs_module, "CONNECT_TIMEOUT_S", 1.0)
    out_dir = infile.parent / "out"
    code = main(["fit", str(infile), "--quiet", "--output", str(out_dir),
                 "--scheduler", unused_address])
    line = single_line(capsys.readouterr().err)
    assert code == 2
    assert line.startswith("polymlp-lab: error: ") and unused_address in line
    assert not (out_dir / "polymlp.yaml").exists()
