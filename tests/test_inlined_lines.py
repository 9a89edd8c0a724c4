"""Forward lines with single-use values written into the line that reads them
(``emit.numpy.module.NumpyModule.inlined``): parentheses exactly where an operator binds tighter."""

import pytest

from symprop.emit.numpy.rewrites import released, substituted, tuned_products, written_in_place


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
