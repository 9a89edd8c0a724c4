"""examples/train_out_of_core.py: the array-API module on one Dask array of chunks on disk, on a
two-worker local cluster; its gradient equals the in-memory NumPy module's to 1e-12."""

from __future__ import annotations

import importlib.util

import numpy as np
from conftest import EXAMPLES, needs_library


def _example():
    spec = importlib.util.spec_from_file_location("train_out_of_core", EXAMPLES / "train_out_of_core.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_gradient_over_chunks_on_two_workers_equals_the_numpy_gradient(tmp_path):
    needs_library("dask")
    distributed = needs_library("distributed")
    example = _example()
    data = tmp_path / "data"
    example.make_data(data, rows=5000, chunk=1200)  # five chunks, the last short
    module, numpy_module = example.generated_modules(tmp_path)
    params = numpy_module.init_params(0)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        X, T = example.load_data(data)
        assert X.shape == (5000, 16) and X.numblocks == (5, 1)
        value, grads = example.dask_gradient(module, params, X, T)
        expected_value, expected = numpy_module.loss_and_grad(params, *example.in_memory(data, 5000))
        assert abs(float(value) - expected_value) <= 1e-12 * max(1.0, abs(expected_value))
        assert example.largest_difference(grads, expected) <= 1e-12
        assert example.check_against_numpy(module, numpy_module, params, data, 2500) <= 1e-12  # a subset
        trained, losses, _ = example.train(module, params, X, T, steps=3, rate=0.5)
    assert losses[2] < losses[1] < losses[0]
    assert set(trained) == set(params) and all(np.all(np.isfinite(v)) for v in trained.values())
