"""The network figure of a layer stack: neurons for small ones, blocks for wide ones (graph specs: ``graph_figure``)."""

from __future__ import annotations

from ... import naming
from ...aliases import alias_latex
from .limits import FIGURE_MAX_LAYERS, NEURON_FIGURE_MAX_UNITS
from .notation import count_tex, op_name, shape_tex
from .tex import Tex, text
from .unrolled import Gap, gapped

#: How much further apart (cm) the units of a small figure are when its weights' labels carry the
#: tutorial's names too (``neuron_figure``).
NAMED_EXTRA_HEIGHT = 0.3


def _label_place(j: int, k: int, sizes: list[int], index: int) -> str:
    """Where a weight's label sits on its edge, so that no two labels of crossing edges meet: a
    level edge's in its middle, above it; a falling edge's near its source and a rising edge's
    near its target, each below it (where the two cross, neither has a label)."""
    rise = ((sizes[index] - 1) / 2 - j) - ((sizes[index - 1] - 1) / 2 - k)
    if abs(rise) < 1e-9:
        return "pos=0.5, above"
    return "pos=0.2, below" if rise < 0 else "pos=0.8, below"


class FigureSection:
    """The network figure of a layer stack: neurons for small ones, blocks for wide ones."""

    def figure(self) -> dict:
        sizes = [self.network.inputs] + [layer.units for layer in self.layers]
        if max(sizes) <= NEURON_FIGURE_MAX_UNITS and len(self.layers) <= 6:
            return self.neuron_figure(sizes)
        return self.block_figure(sizes)

    def neuron_figure(self, sizes: list[int]) -> dict:
        widest = max(sizes)
        named = bool(self.aliases)  # weights labelled with the tutorial's names too: longer labels
        step_x, base_y = (4.8 if named else 3.6), (1.9 if widest <= 3 else max(1.15, 8.0 / widest))
        # named, the labels of two crossing edges reach over a third of them: a taller X keeps
        # tutorial_222's w21 = W3 off the edge of w12, and w12 = W2 off that of w21 (a new user's
        # finding, PDF and HTML); the captions stay as far below the lowest unit as before (the
        # student edition of the tutorial keeps its 5 pages)
        step_y = base_y + (NAMED_EXTRA_HEIGHT if named and widest <= 3 else 0.0)
        columns = []
        labels = {0: [naming.latex_element("x", (i,)) for i in range(sizes[0])]}
        for layer in self.layers:
            node = layer.a or layer.z
            labels[layer.index] = [naming.latex_element(node, (i,)) for i in range(layer.units)]
        nodes, edges = [], []
        for col, size in enumerate(sizes):
            names = []
            for i in range(size):
                y = ((size - 1) / 2 - i) * step_y
                name = f"n{col}x{i}"
                names.append(name)
                nodes.append(
                    {
                        "name": name,
                        "x": f"{col * step_x:.2f}",
                        "y": f"{y:.2f}",
                        "label": Tex(labels[col][i]),
                        "style": "input" if col == 0 else "neuron",
                    }
                )
            columns.append(names)
        few = all(a * b <= 9 for a, b in zip(sizes, sizes[1:]))  # label weights on tiny networks only
        for layer in self.layers:
            for j, target in enumerate(columns[layer.index]):
                for k, source in enumerate(columns[layer.index - 1]):
                    label = naming.latex_element(layer.weight, (j, k)) if few else ""
                    alias = self.aliases.get(naming.element_name(layer.weight, (j, k)))
                    if label and alias:  # the tutorial's name too, as the table in the notation says
                        label += f" = {alias_latex(alias)}"
                    place = _label_place(j, k, sizes, layer.index)
                    edges.append({"source": source, "target": target, "label": Tex(label), "place": place})
        captions = [{"x": "0.00", "text": Tex(r"input $x$"), "sub": Tex(f"${sizes[0]}$ units")}]
        top = (widest - 1) * step_y / 2 + base_y / 2 + 0.2
        for layer in self.layers:
            activation = op_name(layer.op)
            bias = "" if layer.bias is None else rf", bias ${self.node_tex(layer.bias)}$"
            # its constants (a formula's c = 0.5, leaky_relu's alpha), on a line of their own, as the layer table gives them
            constants = self.op_constants(layer.op)
            constants = rf"\\\footnotesize with {constants}" if constants else ""
            captions.append(
                {
                    "x": f"{layer.index * step_x:.2f}",
                    "text": Tex(rf"layer {layer.index}: ${self.node_tex(layer.a or layer.z)}$"),
                    "sub": Tex(text(activation) + bias + constants),
                }
            )
        loss_x = f"{len(self.layers) * step_x + 2.2:.2f}"
        return {
            "kind": "neurons",
            "nodes": nodes,
            "edges": edges,
            "outputs": columns[-1],
            "captions": captions,
            "caption_y": f"{-top:.2f}",
            "loss_x": loss_x,
            "size": "11mm" if widest <= 4 else "9mm",
            "edge_style": "->, gray!70!black" if few else "gray!55, line width=0.3pt",
        }

    def block_figure(self, sizes: list[int]) -> dict:
        blocks = [{"name": "b0", "label": Tex(rf"$x \in \mathbb{{R}}^{{{count_tex(sizes[0])}}}$"), "edge": Tex("")}]
        for layer in gapped(self.layers, [True] * len(self.layers), FIGURE_MAX_LAYERS):
            if isinstance(layer, Gap):  # a deep stack: its first and last layers
                label = rf"$\cdots$\\\footnotesize {len(layer.items)} layers"
                blocks.append({"name": f"b{layer.items[0].index}", "label": Tex(label), "edge": Tex("")})
                continue
            node = layer.a or layer.z
            f = self.function_tex(layer.op) if layer.op is not None else r"\operatorname{id}"
            bias = f" + {self.node_tex(layer.bias)}" if layer.bias else ""
            label = (
                rf"${self.node_tex(node)} \in \mathbb{{R}}^{{{count_tex(layer.units)}}}$\\"
                rf"\footnotesize ${self.node_tex(node)} = {f}({self.node_tex(layer.weight)}"
                rf"{self.node_tex(layer.data)}{bias})$"
            )
            edge = rf"${self.node_tex(layer.weight)}$\\\footnotesize ${shape_tex((layer.units, layer.fan_in))}$"
            blocks.append({"name": f"b{layer.index}", "label": Tex(label), "edge": Tex(edge)})
        return {"kind": "blocks", "blocks": blocks}
