"""Forward lines with single-use values written into the line that reads them
(``emit.numpy.module.NumpyModule.inlined``): parentheses exactly where an operator binds tighter."""

import pytest

from symprop.emit.numpy.module import masked_in_place, released, substituted


@pytest.mark.parametrize(
    ("line", "name", "value", "expected"),
    [
        ("H2 = np.tanh(H24)", "H24", "H23 + bh", "H2 = np.tanh(H23 + bh)"),  # a whole argument
        ("Y3 = X * Y2", "Y2", "1 - T_", "Y3 = X * (1 - T_)"),  # a sum inside a product
        ("Y = A - B", "B", "C + D", "Y = A - (C + D)"),  # a sum after a minus
        ("Y = A + B", "B", "C * D", "Y = A + C * D"),  # a product inside a sum
        ("Y = Z ** 2", "Z", "-F", "Y = (-F) ** 2"),  # -F ** 2 would be -(F ** 2)
        ("Y = Z ** 2", "Z", "A * B", "Y = (A * B) ** 2"),
        ("Y = Z.T", "Z", "np.dot(A, B)", "Y = np.dot(A, B).T"),  # a call stays bare
        ("Y = Z[:, 0]", "Z", "A + B", "Y = (A + B)[:, 0]"),
        ("Y = Z2 + Z", "Z", "A", "Y = Z2 + A"),  # only the whole name
        ("y = W h1", "h1", "a + b", "y = W (a + b)"),  # a formula's juxtaposition is a product
        ("Y = A / Z", "Z", "B * C", "Y = A / (B * C)"),
        # Regression (found by fusion_strategies): -(-X1) in a generated module, ruff's B002
        ("E = 0.1 * -H5 + 1", "H5", "-X1", "E = 0.1 * X1 + 1"),
        ("E = -H5 ** 2", "H5", "-X1", "E = -(-X1) ** 2"),  # -(x ** 2): the power first
        ("E = A - H5", "H5", "-X1", "E = A - (-X1)"),  # a binary minus
        ("E = -H5", "H5", "X1 + 1", "E = -(X1 + 1)"),
    ],
)
def test_substituted_parenthesises_only_where_needed(line, name, value, expected):
    assert substituted(line, name, value) == expected


def test_released_deletes_each_array_after_its_last_read():
    statements = [
        "A = np.dot(X, W.T)  # a = W x",
        "V = A[:, 0]  # a view keeps A alive: deleted too",
        "B, _s_B = f(A)",
        "# a comment above\n    C = B * V",
        "dW = np.dot(C.T, X)",
        "D = C + _s_B",
    ]
    assert released(statements, {"X", "W", "dW"}) == [
        statements[0],
        statements[1],
        statements[2],
        "del A",
        statements[3],
        "del V, B",
        statements[4],
        statements[5],  # the last statement: the function returns next, nothing to delete
    ]
    # Anything but straight-line assignments is left as it is.
    assert released(["if A:\n        B = A", "C = B"], set()) == ["if A:\n        B = A", "C = B"]


def test_a_mask_product_works_in_place_on_an_array_that_dies_there():
    statements = [
        "dA2 = np.dot(dZ3, W3)  # made here, read last by the next line",
        "dZ2 = dA2 * (Z2 > 0.0)  # dE/dz2 = dE/da2 * where(z2 > 0, 1, 0)",
        "dA1 = np.dot(dZ2, W2)",
        "dZ1 = (Z1 > 0.0) * dA1",
    ]
    assert masked_in_place(statements, {"W2", "W3"}) == [
        statements[0],
        "dZ2 = np.multiply(dA2, Z2 > 0.0, out=dA2)  # dE/dz2 = dE/da2 * where(z2 > 0, 1, 0)",
        statements[2],
        "dZ1 = np.multiply(dA1, Z1 > 0.0, out=dA1)",
    ]


@pytest.mark.parametrize(
    "statements, kept",
    [
        (["dA = np.dot(dZ, W)", "dZ1 = dA * (Z > 0.0)", "dB = dA + 1.0"], set()),  # read again later
        (["dA = G[:, 0]", "dZ1 = dA * (Z > 0.0)"], set()),  # a view: its array is held elsewhere
        (["dZ1 = X * (Z > 0.0)"], {"X"}),  # an argument
        (["dA = np.dot(dZ, W)", "dA = dA + B", "dZ1 = dA * (Z > 0.0)"], set()),  # assigned twice
        (["dA = np.dot(dZ, W)", "dZ1 = dA * Z"], set()),  # not a mask: the dtype could be another
    ],
)
def test_a_mask_product_leaves_an_array_others_may_hold(statements, kept):
    assert masked_in_place(statements, kept) == statements


@pytest.fixture(scope="module")
def numpy_module():
    """A NumpyModule to call ``added_in_place`` on (any spec does)."""
    import symprop
    from symprop.emit.numpy.module import NumpyModule

    spec = {"name": "d", "inputs": {"x": 3}, "targets": {"t": 2}, "params": {"W": [2, 3], "b": [2]}}
    return NumpyModule(symprop.derive(symprop.from_dict({**spec, "nodes": {"y": "W @ x + b"}, "loss": "mse(y, t)"})))


@pytest.mark.parametrize(
    ("line", "array", "spelled", "unbatched", "expected"),
    [
        ("F_b = F_a + c1", "F_a", "N2 @ W1", {"c1"}, "F_b = _added(N2 @ W1, c1)"),  # a product plus a bias
        ("Y = Y_a + c2 + H", "Y_a", "F_c @ W2", {"c2"}, "Y = _added(F_c @ W2, c2, H)"),  # the sums in their order
        ("Z = Z_a + c", "Z_a", "_added(A @ W, b)", {"c"}, "Z = _added(A @ W, b, c)"),  # one call, not two
        ("Y = A + B", "A", "X @ W", set(), "Y = A + B"),  # no bias: NumPy reuses the product itself
        ("Y = c + A", "A", "X @ W", {"c"}, "Y = c + A"),  # the product is not the first term
        ("Y = A - c", "A", "X @ W", {"c"}, "Y = A - c"),  # not a sum
        ("Y = A * c + B", "A", "X @ W", {"c"}, "Y = A * c + B"),  # the product is not a term
    ],
)
def test_a_bias_is_added_in_place_on_a_fresh_first_term(numpy_module, line, array, spelled, unbatched, expected):
    assert numpy_module.added_in_place(line, array, spelled, unbatched) == expected


def test_added_keeps_numpys_dtypes_and_works_in_place():
    """``_added`` writes into its first argument, but a term of a wider dtype gives NumPy's result."""
    import numpy as np

    from symprop.printing import EXTRA_HELPERS

    namespace = {"np": np}
    exec(EXTRA_HELPERS["added"], namespace)
    added = namespace["_added"]
    fresh = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert added(fresh, np.float32([1, 2, 3]), 0.5) is fresh
    assert fresh.tolist() == [[1.5, 3.5, 5.5], [4.5, 6.5, 8.5]]
    wider = added(np.ones((2, 3), np.float32), np.ones(3))
    assert wider.dtype == np.float64 and wider.tolist() == [[2.0] * 3] * 2


def test_a_bias_wider_than_the_product_is_added_as_before():
    """Only where the product has the sum's shape (``inlined`` checks the nodes' shapes): a product
    of (1, 3) per sample plus a (4, 3) parameter makes a new (4, 3) array, and the gradients stay."""
    import numpy as np

    import symprop

    spec = {
        "name": "w",
        "inputs": {"x": [1, 3]},
        "targets": {"t": [4, 3]},
        "params": {"v": [3, 3], "z": [4, 3]},
        "nodes": {"s": "x @ v", "y": "s + z"},
        "loss": "mse(y, t)",
    }
    d = symprop.derive(symprop.from_dict(spec))
    source = d.numpy_source()
    assert "Y = X @ v + z  # y = x @ v + z" in source  # _added(X @ v, z) would raise: (5, 1, 3) += (4, 3)
    namespace: dict = {}
    exec(compile(source, "w.py", "exec"), namespace)
    params = namespace["init_params"](0)
    X, T = namespace["sample_batch"](5)
    value, grads = namespace["loss_and_grad"](params, X, T)
    assert np.isfinite(value) and grads["z"].shape == (4, 3)
