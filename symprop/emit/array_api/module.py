"""The array-API module of a derivation: the NumPy module's lines (``emit.numpy``), each
statement spelled against the array API standard (``translate``), in
``templates/array_api_module.py.j2``.  The functions and docstrings are the NumPy module's;
each function that computes finds its namespace with ``array_namespace`` (array-api-compat),
so one file runs on NumPy, array-api-strict, PyTorch, JAX (also under ``jax.jit``) and Dask.
Random numbers (``init_params``, ``sample_batch``) are NumPy's, converted to the namespace
asked for: the standard has no generator.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from ... import module_interface as interface
from ...errors import SymPropError
from ...templating import render
from ..numpy.builder import ModuleBuilder
from ..numpy.lines import Line
from ..numpy.module import NumpyModule
from ..numpy.printers import helper_source
from . import helpers
from .translate import NotSpelled, spelled

if TYPE_CHECKING:
    from ...derivation import Derivation

class ArrayApiBuilder(ModuleBuilder):
    """The NumPy builder, asking each op for its array-API spelling first (``Op.array_api``)."""

    float_literals = False
    concatenated_rows = False  # Dask cannot reshape the concatenation (ModuleBuilder.concatenated_rows)
    adds_into_views = False  # no out= in the standard (ModuleBuilder.adds_into_views)
    fancy_indexing = False  # indexing by 1-D integer arrays only (ModuleBuilder.fancy_indexing)

    def spelled(self, node, **options) -> tuple[str, str, set[str]]:
        self.reads = set()
        try:
            own = node.op.array_api(node, self) if not options else None
        finally:
            reads, self.reads = self.reads, None
        return (*own, reads) if own else super().spelled(node, **options)


#: The functions of the module that compute on arrays (each gets ``xp`` when it uses it).
COMPUTING = ("forward", "loss_body", "backward", "loss_and_grad")


class ArrayApiModule(NumpyModule):
    """The template context of one derivation's array-API module (see the module docstring)."""

    builder_class = ArrayApiBuilder
    in_place = False  # jax arrays are immutable
    tuned_products = False  # np.dot is NumPy's

    def __init__(self, derivation: Derivation):
        super().__init__(derivation)
        self.called: set[str] = set()  # helpers the translated lines call
        self.imports: set[str] = set()

    def spelled(self, text: str, margin: int = 4) -> str:
        """``text`` in the standard's spelling (``translate.spelled``); ``margin``: its indent in the module."""
        try:
            return spelled(text, self.called, self.imports, margin)
        except NotSpelled as error:
            raise SymPropError(
                f"{self.network.name}: --backend array-api: the array API standard has no spelling of {error} "
                "(use --backend numpy)"
            ) from None

    def lines(self, lines: list[Line]) -> list[Line]:
        return [Line(self.spelled(line.code), line.comment) for line in lines]

    def block(self, texts: list[str]) -> list[str]:
        """Lines of a function body (each indented by the template; a ``Line.text`` with its
        comment above holds the body's indent after its line break), spelled."""
        lines = [part[4:] if k else part for text in texts for k, part in enumerate(text.split("\n"))]
        return self.spelled("\n".join(lines)).split("\n") if lines else lines

    def context(self) -> dict:
        context = super().context()
        context["forward"] = self.lines(context["forward"])
        context["backward"] = self.lines(context["backward"])
        for key in ("loss_body", "loss_and_grad", "backward_prologue", "forward_prologue", "check_inputs", "check_targets"):
            context[key] = self.block(context[key])
        context["helpers"] = self.array_api_helpers() + [helpers.CALLED[name] for name in sorted(self.called)]
        texts = {
            "forward": [line.text for line in context["forward"]] + context["forward_prologue"],
            "loss_body": context["loss_body"],
            "backward": [line.text for line in context["backward"]] + context["backward_prologue"],
            "loss_and_grad": context["loss_and_grad"],
        }
        context["uses_xp"] = {key: any("xp." in text for text in texts[key]) for key in COMPUTING}
        if context["uses_xp"]["loss_and_grad"]:  # the namespace of the parameters, once they are checked
            checked = next(k for k, text in enumerate(context["loss_and_grad"]) if text.startswith("params = _checked_params"))
            context["loss_and_grad"].insert(checked + 1, "xp = array_namespace(*params.values())")
        context["imports"] = sorted(self.imports)
        context["backend"] = "array-api"
        return context

    def array_api_helpers(self) -> list[str]:
        """The NumPy module's helpers: spelled here (``helpers.OWN``) or translated; then the checks."""
        sources = []
        for name in self.builder.helper_names():
            if name in helpers.OWN:
                if helpers.OWN[name] is not None:
                    sources.append(helpers.OWN[name])
            else:
                sources.append(self.spelled(helper_source(name, tuned=False).rstrip("\n"), margin=0) + "\n")
        own = {name: source for node in self.graph.nodes.values() for name, source in node.op.array_api_helpers.items()}
        names = set(self.builder.op_helpers)
        for node in self.graph.nodes.values():  # and the own helpers those call (Op.array_api_needs)
            names.update(*(needs for name, needs in node.op.array_api_needs.items() if name in self.builder.op_helpers))
        for name in sorted(names):
            source = own.get(name) or self.spelled(self.builder.op_helpers[name].rstrip("\n"), margin=0) + "\n"
            sources.append(source)
        sources += [helpers.CHECK_SOURCE, interface.params_check_source([(p.name, p.shape) for p in self.graph.params()])]
        if self.arguments.simplex_targets():
            sources.append(helpers.SIMPLEX_SOURCE)
        return sources


#: What a missing array-api-compat says (the module imports it; nothing is written without it).
ARRAY_API_MISSING = (
    "--backend array-api: the module imports array-api-compat, which is not installed "
    "(pip install array-api-compat, or symprop[array-api])"
)


def module_source(derivation: Derivation) -> str:
    """The array-API module of ``derivation``; SymPropError for an op the standard cannot spell,
    or when array-api-compat is not installed (looked up, not imported)."""
    if importlib.util.find_spec("array_api_compat") is None:
        raise SymPropError(ARRAY_API_MISSING)
    return render("array_api_module.py.j2", **ArrayApiModule(derivation).context())

