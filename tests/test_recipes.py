"""The recipes of docs/architecture.md, followed as a contributor would: a new activation and
a new loss are one registry entry each and then work everywhere; a new op is checked hook by
hook by the op table.  If a recipe goes stale, these fail."""

from __future__ import annotations

import sympy as sp
from conftest import emit_module
from test_ops import missing_hooks

import symprop
from symprop import ops, registry


def test_adding_an_activation_is_one_registry_entry(monkeypatch, tmp_path):
    entry = registry.Activation("softsign_recipe", lambda z: z / (1 + sp.Abs(z)), latex=r"\operatorname{softsign}")
    monkeypatch.setitem(registry.ACTIVATIONS, entry.name, entry)
    stack = {"name": "recipe_stack", "input": 3, "layers": [{"units": 4, "activation": entry.name}, {"units": 2}], "loss": "mse"}
    graph = {"name": "recipe_graph", "inputs": {"x": 3}, "targets": {"t": 2}, "params": {"W": [2, 3]},
             "nodes": {"y": f"{entry.name}(W @ x)"}, "loss": "mse(y, t)"}
    for spec in (stack, graph):
        module = emit_module(spec, tmp_path / spec["name"])
        assert module.gradient_check() < 1e-7
        assert "softsign" in symprop.derive(symprop.from_dict(spec)).latex()


def test_adding_a_loss_is_one_registry_entry(monkeypatch, tmp_path):
    entry = registry.Loss("log_cosh_recipe", lambda y, t: sp.log(sp.cosh(y - t)), "mean", title="the log-cosh loss")
    monkeypatch.setitem(registry.LOSSES, entry.name, entry)
    stack = {"name": "recipe_loss", "input": 3, "layers": [{"units": 2, "activation": "tanh"}], "loss": entry.name}
    graph = {"name": "recipe_loss_graph", "inputs": {"x": 3}, "targets": {"t": 2}, "params": {"W": [2, 3]},
             "nodes": {"y": "tanh(W @ x)"}, "loss": f"{entry.name}(y, t)"}
    for spec in (stack, graph):
        module = emit_module(spec, tmp_path / spec["name"])
        assert module.gradient_check() < 1e-7
        tex = symprop.derive(symprop.from_dict(spec)).latex()
        assert r"\frac{1}{2} \sum_{i=1}^{2} \log{(\cosh{(" in tex  # its formula, printed from its term


def test_an_op_missing_a_hook_is_named_by_the_op_table():
    class Halfway(ops.Op):
        def elements(self, node, args):
            return args[0]

        def numpy(self, node, code):
            return "x", "x"

    assert missing_hooks(Halfway) == ["adjoint_rules", "numpy_adjoint", "latex", "latex_adjoint", "words"]
    assert all(missing_hooks(op) == [] for op in ops.OPS)
