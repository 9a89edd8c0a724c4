"""Forward lines with single-use values written into the line that reads them
(``emit.numpy.module.NumpyModule.inlined``): parentheses exactly where an operator binds tighter."""

import textwrap

import numpy as np
import pytest

from symprop.emit.numpy.lines import refitted
from symprop.emit.numpy.memory import chained_in_place, released, written_in_place
from symprop.emit.numpy.rewrites import substituted, tuned_products
from symprop.emit.numpy.sharing import shared_values, transposed_once


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
        # Regression (scripts/fuzz_backends.py, spec 20044): A * B @ C is (A * B) @ C, a wrong number
        ("Y = A * H", "H", "B @ C", "Y = A * (B @ C)"),
        ("Y = A * -H", "H", "B @ C", "Y = A * -(B @ C)"),
        ("Y = H * A", "H", "B @ C", "Y = B @ C * A"),  # (B @ C) * A: left to right
        ("Y = A @ H", "H", "B * C", "Y = A @ (B * C)"),
        ("Y = A - H", "H", "B @ C", "Y = A - B @ C"),
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
    assert written_in_place(statements, {"W2", "W3"}) == [
        statements[0],
        "dZ2 = np.multiply(dA2, Z2 > 0.0, out=dA2)  # dE/dz2 = dE/da2 * where(z2 > 0, 1, 0)",
        statements[2],
        "dZ1 = np.multiply(dA1, Z1 > 0.0, out=dA1)",
    ]


def test_a_max_pooling_adjoint_writes_into_its_input_where_that_dies_there():
    statements = [
        "C = _relu(C_b)  # made here (Activation.numpy_new_array)",
        "P = _max_pool(C, (2, 2), (2, 2))",
        "dC = _max_pool_adjoint(dP, C, P, (2, 2), (2, 2))",
        "dC_b = dC * (C_b > 0.0)",
    ]
    assert written_in_place(statements, set()) == [
        *statements[:2],
        "dC = _max_pool_adjoint(dP, C, P, (2, 2), (2, 2), out=C)",
        "dC_b = np.multiply(dC, C_b > 0.0, out=dC)",  # the adjoint's result is a new array
    ]


@pytest.mark.parametrize(
    "statements, kept",
    [
        (["C = _relu(B)", "dC = _max_pool_adjoint(dP, C, P, (2, 2), (2, 2))", "D = C + 1.0"], set()),  # read later
        (["C = B[:, 0]", "dC = _max_pool_adjoint(dP, C, P, (2, 2), (2, 2))"], set()),  # a view of another's array
        (["dC = _max_pool_adjoint(dP, C, P, (2, 2), (2, 2))"], {"C"}),  # an argument
        (["C = _tanh(B)", "dC = _max_pool_adjoint(dP, C, P, (2, 2), (2, 2))"], set()),  # not known to be new
        (["C = _relu(B)", "dC = _max_pool_adjoint(C, C, P, (2, 2), (2, 2))"], set()),  # read twice by the call
    ],
)
def test_a_max_pooling_adjoint_leaves_an_input_others_may_read(statements, kept):
    assert written_in_place(statements, kept) == statements


@pytest.mark.parametrize(
    "statements, kept",
    [
        (["dA = np.dot(dZ, W)", "dZ1 = dA * (Z > 0.0)", "dB = dA + 1.0"], set()),  # read again later
        (["dA = G[:, 0]", "dZ1 = dA * (Z > 0.0)"], set()),  # a view: its array is held elsewhere
        (["dZ1 = X * (Z > 0.0)"], {"X"}),  # an argument
        (["dA = np.dot(dZ, W)", "dA = B + dA", "dZ1 = dA * (Z > 0.0)"], set()),  # assigned twice
        (["dA = np.dot(dZ, W)", "dZ1 = dA * Z"], set()),  # not a mask: the dtype could be another
    ],
)
def test_a_mask_product_leaves_an_array_others_may_hold(statements, kept):
    assert written_in_place(statements, kept) == statements


def test_a_sum_into_a_new_array_adds_in_place():
    """Issue 16: ``dH4 = dH4 + np.dot(dZ5, Uz)`` is ``dH4 += np.dot(dZ5, Uz)`` (no new array: 1-1.5%
    of embedding_gru's loss_and_grad at batch 64), and ``del`` comes after the last sum."""
    statements = [
        "dH4 = H5_a * dH5 + R5 * dN5  # dE/dh4 = ...",
        "dH4 = dH4 + np.dot(dR5, Ur)  # dE/dh4 += Ur^T dE/dr5",
        "dU = np.dot(dR5.T, H4)",
        "dH4 = dH4 - np.dot(dZ5, Uz)",
        "dZ4 = dH4 * Z4",
    ]
    written = [
        statements[0],
        "dH4 += np.dot(dR5, Ur)  # dE/dh4 += Ur^T dE/dr5",
        statements[2],
        "dH4 -= np.dot(dZ5, Uz)",
        statements[4],
    ]
    assert written_in_place(statements, {"dU", "dZ4"}) == written
    # a sum in place reads its array: deleted after it, not after the line that made it
    assert released(["dA = np.dot(dZ, W)", "dA += B", "C = 1.0"], {"dZ", "W", "B"}) == [
        "dA = np.dot(dZ, W)",
        "dA += B",
        "del dA",
        "C = 1.0",
    ]


@pytest.mark.parametrize(
    "statements",
    [
        ["dA = G[:, 0]", "dA = dA + B"],  # a view: its array is held elsewhere
        ["dA = dZ", "dA = dA + B"],  # another name of an array
        ["dA = np.dot(dZ, W)", "V = dA.T", "dA = dA + B"],  # a view of it would change too
        ["dA = np.dot(dZ, W)", "S = [dA]", "dA = dA + B"],  # held by a list
        ["dA = np.dot(dZ, W)", "dA = dA + B + C"],  # in place would add in another order
        ["dA = np.dot(dZ, W)", "dA = B", "dA = dA + C"],  # assigned again: B's array
        ["dA = np.dot(dZ, W)", "dA, dB = f(dA)", "dA = dA + C"],  # assigned again by unpacking
    ],
)
def test_a_sum_into_an_array_others_may_hold_makes_a_new_array(statements):
    assert written_in_place(statements, set()) == statements


def test_arithmetic_two_lines_repeat_is_computed_once():
    """Issue 16: a part of a line equal to an earlier assigned value reads that name (the GRU's
    1 - z of the forward pass in dE/dz, r * h in dE/dr), and a pair that two lines compute gets
    a name, computed before the first of them (dE/dn = z * dE/dh, read by dn's and dz's lines)."""
    statements = [
        "H_a = 1.0 - Z  # h_a = 1 - z",
        "N_c = H1 * R",
        "H = H1 * H_a + N * Z",
        "dH = np.dot(dY, Wy)",
        "# dE/dn_f = ...",
        "dN_f = Z * dH * (1.0 - N ** 2)  # dE/dn_f = dE/dn * (1 - n ** 2)",
        "dR_e = H1 * R * dN_c * (1.0 - R)",
        "dZ_e = Z * dH * (1.0 - Z) * (N - H1)",
    ]
    assert shared_values(statements) == [
        *statements[:5],
        "_Z_times_dH = Z * dH  # read by 2 lines",
        "dN_f = _Z_times_dH * (1.0 - N ** 2)  # dE/dn_f = dE/dn * (1 - n ** 2)",
        "dR_e = N_c * dN_c * (1.0 - R)",
        "dZ_e = _Z_times_dH * H_a * (N - H1)",
    ]


@pytest.mark.parametrize(
    "statements",
    [
        ["A = 1.0 - Z", "Z = Z + 1.0", "B = X * (1.0 - Z)"],  # Z assigned again between
        ["A = 1.0 - Z", "np.add(Z, 1.0, out=Z)", "B = X * (1.0 - Z)"],  # written into
        ["A = 1.0 - Z", "A = A + X", "B = X * (1.0 - Z)"],  # the name assigned again
        ["B = X * (1.0 - Z)", "A = 1.0 - Z"],  # assigned after
        ["A = 1.0 - Z", "B = 1.0 - Z"],  # a whole value: no second name of one array
        ["A = Z * dH + 1.0", "dH = dH + X", "B = Z * dH - 1.0"],  # dH changes between the pairs
        ["A = Z * dH + 1.0", "B = dH * Z - 1.0"],  # another order: not the same operations
        ["A = X * Z * dH", "B = Z * dH * X"],  # X * Z * dH is (X * Z) * dH: no part Z * dH
    ],
)
def test_arithmetic_whose_value_may_differ_is_computed_again(statements):
    assert shared_values(statements) == statements


def test_a_chain_of_arithmetic_is_written_into_its_first_result():
    """Issue 16: ``dR_e = N_c * dN_c * (1.0 - R)`` is ``dR_e = N_c * dN_c`` then ``dR_e *= 1.0 - R``
    (one new array where there were three), with the same numbers; the comment stays with the line."""
    exact, bounded = {"N_c": (16,), "R": (16,), "H_a": (16,), "Z": (16,)}, {"dN_c": (16,), "dH": (16,)}
    statements = [
        "dR_e = N_c * dN_c * (1.0 - R)  # dE/dr_e = ...",
        "# dE/dz_e = ...\ndZ_e = Z * dH\ndZ_e = dZ_e * H_a - R",  # not one statement: left as it is
        "_Z_times_dH = Z * dH  # read by 2 lines",
        "# a comment above\n    dH1 = _Z_times_dH * H_a + R * dN_c",
    ]
    written = chained_in_place(statements, exact, bounded)
    assert written == [
        "dR_e = N_c * dN_c  # dE/dr_e = ...\n    dR_e *= 1.0 - R",
        statements[1],
        statements[2],
        "# a comment above\n    dH1 = _Z_times_dH * H_a\n    dH1 += R * dN_c",
    ]
    rng = np.random.default_rng(0)
    arrays = {name: rng.standard_normal((4, 16)) for name in [*exact, *bounded]}
    ran = [dict(arrays, np=np), dict(arrays, np=np)]
    for source, scope in zip((statements, written), ran):
        exec("\n".join(textwrap.dedent("    " + text) for text in source), scope)
    assert all(np.array_equal(ran[0][name], ran[1][name]) for name in ("dR_e", "dZ_e", "dH1"))


@pytest.mark.parametrize(
    "statements",
    [
        ["dR_e = N_c * dN_c * Q"],  # Q: a shape not known
        ["dR_e = dN_c * dH * N_c"],  # the first product of bounded arrays alone: may be a number
        ["dR_e = N_c * dN_c * B"],  # B has another shape: would broadcast the first result
        ["dN_c = N_c * dN_c * R"],  # the target is read
        ["dR_e = N_c * dN_c / R"],  # a quotient ends the chain: one operation
        ["dR_e = N_c * np.dot(dN_c, W) * R"],  # not arithmetic of names alone
        ["S = dN_c * dH", "S = np.dot(A, B)", "dR_e = S * N_c * R"],  # S assigned again: its shape unknown
    ],
)
def test_a_chain_whose_first_result_may_be_smaller_makes_new_arrays(statements):
    exact, bounded = {"N_c": (16,), "R": (16,), "B": (3, 16)}, {"dN_c": (16,), "dH": (16,)}
    assert chained_in_place(statements, exact, bounded) == statements


def test_a_small_weight_many_products_read_transposed_is_copied_once():
    """Issue 16: np.dot(H, U.T) is ~0.7 us slower than by a contiguous U^T at 64 x 16 (OpenBLAS):
    a recurrent weight read so once a step is copied transposed once; a weight read so twice, a
    large one, or one read otherwise is left as it is."""
    statements = [
        "H1 = np.tanh(np.dot(X1, Wx.T))",
        "# step 2\nH2 = np.tanh(np.dot(X2, Wx.T) + np.dot(H1, U.T))",
        "H3 = np.tanh(np.dot(H2, U.T) + np.dot(H2, V.T))",
        "H4 = np.tanh(np.dot(H3, U.T) + np.dot(H3, V.T))  # h4 = tanh(U h3 + V h3)",
        "dH3 = np.dot(dH4, U) + np.dot(H3, Big.T) + np.dot(H2, Big.T) + np.dot(H1, Big.T)",
    ]
    sizes = {"Wx": 12, "U": 256, "V": 256, "Big": 10**6}
    assert transposed_once(statements, sizes) == [
        "_U_T = U.T.copy()  # U^T contiguous, for the products below",
        statements[0],
        "# step 2\nH2 = np.tanh(np.dot(X2, Wx.T) + np.dot(H1, _U_T))",
        "H3 = np.tanh(np.dot(H2, _U_T) + np.dot(H2, V.T))",
        "H4 = np.tanh(np.dot(H3, _U_T) + np.dot(H3, V.T))  # h4 = tanh(U h3 + V h3)",
        statements[4],
    ]
    assert transposed_once(statements[:3], sizes) == statements[:3]  # U read transposed twice


def test_a_batchs_product_with_a_weight_matrix_is_tuned():
    """``tuned_products``: ``np.dot(A, W.T)`` of rows and a large weight is ``_batch_product(A, W)``; any other
    product (a transposed adjoint, a small weight, a slice) and the comments stay as they are."""
    statements = [
        "A1 = _sigmoid_fresh(np.dot(X, W1.T) + b1)  # a1 = sigmoid(np.dot(X, W1.T))",
        "# np.dot(X, W1.T) in a comment above\n    Z2 = np.dot(A1, W2.T)",
        "dW1 = np.dot(dZ1.T, X)",
        "H = np.dot(X[:, 0], W1.T)",
        "Y = np.dot(S, W1.T)",
    ]
    tuned, found = tuned_products(statements, rows={"X", "A1"}, weights={"W1"})
    assert found
    assert tuned == [
        "A1 = _sigmoid_fresh(_batch_product(X, W1) + b1)  # a1 = sigmoid(np.dot(X, W1.T))",
        *statements[1:],
    ]
    assert tuned_products(statements[1:], rows={"X", "A1"}, weights={"W1"}) == (statements[1:], False)


def test_a_line_a_rewrite_made_too_long_is_laid_out_again():
    """Regression: ``shared_values`` renamed ``H5 - T`` to ``_H5_minus_T`` three times in one huber
    line after ``Line.text`` had laid it out, and the line became 137 characters (ruff's E501 in a
    random spec's module).  ``refitted`` moves its comment above, or marks a long code line."""
    code = "E_a = np.where(np.abs(_H5_minus_T) <= 0.5, 0.5 * _H5_minus_T ** 2, 0.5 * np.abs(_H5_minus_T) - 0.125)"
    comment = "E_a = huber(h5, t) = mean_i where(abs(t_i - y_i) <= 0.5, ...)"
    assert refitted(f"{code}  # {comment}") == f"# {comment}\n    {code}"
    long_code = code.replace("E_a = ", "E_a = 2.0 * ") + ".sum(axis=(-4, -3, -2, -1)) / 54"
    assert refitted(f"# E_a = huber(h5, t)\n    {long_code}") == f"# E_a = huber(h5, t)\n    {long_code}  # noqa: E501"
    assert refitted("dZ = dA * A  # dE/dz = dE/da * a") == "dZ = dA * A  # dE/dz = dE/da * a"  # fits: as it was


def test_a_product_of_two_matrix_products_is_computed_as_written(tmp_path):
    """Regression (scripts/fuzz_backends.py, spec 20044): (x @ x.T) * (x @ x.T), inlined into the
    loss's line, was written X @ X.T * X @ X.T, that is ((X @ X.T) * X) @ X.T: with square x a
    silently wrong loss (3.88 for 15.6)."""
    import symprop
    from symprop.check import load_module

    spec = {"name": "products", "inputs": {"x": [3, 3], "u": 3}, "targets": {"t": 3}, "params": {"W": [3, 3]},
            "nodes": {"h": "(x @ transpose(x)) * (x @ transpose(x))", "y": "W @ u"},
            "loss": "half_sse(y, t) + 0.1 * mean(h ** 2)"}  # fmt: skip
    module = load_module(symprop.derive(symprop.from_dict(spec)).write_numpy(tmp_path))
    params = module.init_params(0)
    X, T = module.sample_batch(2, 0)
    h = (X["x"] @ np.swapaxes(X["x"], 1, 2)) ** 2
    y = X["u"] @ params["W"].T
    expected = np.mean(0.5 * ((y - T) ** 2).sum(axis=1) + 0.1 * (h**2).mean(axis=(1, 2)))
    assert module.loss(params, X, T) == pytest.approx(expected, rel=1e-12)
    assert module.loss_and_grad(params, X, T)[0] == pytest.approx(expected, rel=1e-12)
