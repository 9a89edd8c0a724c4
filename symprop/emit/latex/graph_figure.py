"""The figure of a graph spec: the computational graph node by node for a small graph of
vectors (as cs231n draws one), a block diagram of the spec's own nodes for tensors and large
graphs.

In the block diagram each box is a node the spec declares (its parts, ``h_a = W x + b`` of
``h = tanh(W @ x + b)``, are inside it) with its per-sample shape; the parameters it reads
are written in the box (green), not drawn: an unrolled network reads each weight at every
step, and twenty arrows from one weight would hide the flow.  An unrolled network is laid
out step by step, left to right; of a long one only the steps the handout shows are drawn
(``Unrolled.shown_steps``), the others stand as one column saying which they are.  Every
position is computed here; the template draws what it is given.
"""

from __future__ import annotations

import re

from ...latex_printing import number
from ...scalar import evaluate
from . import edge_routing as routing
from .limits import FIGURE_MAX_COLUMNS, GRAPH_FIGURE_MAX_COLUMNS, GRAPH_FIGURE_MAX_NODES
from .notation import shape_tex
from .tex import Tex, text
from .unrolled import steps_words

#: Distances between columns and rows of the block diagram (cm; the columns wider for shapes
#: of rank 3 and more), and the room between two steps of an unrolled network (columns).
STEP_X, STEP_X_PER_AXIS, STEP_Y = 1.8, 0.3, 1.75
STEP_AIR = 0.4
#: A block's width (cm), estimated from what it holds: at least the style's 11 mm; a name read
#: without an arrow (``W_{z}, ``, \tiny) takes about 0.41 cm, a letter of the node's name 0.22 cm
#: (measured on the handouts' PDF).  Two columns are at least their boxes' half widths and
#: ``ARROW_ROOM`` apart, so that wide boxes (a gate reading four parameters) neither touch nor
#: hide the arrowheads between them (a new user's GRU cell: z2 ran into n2).
BOX_MIN_WIDTH, TAG_WIDTH, LETTER_WIDTH, ARROW_ROOM = 1.1, 0.41, 0.22, 0.6
GAP_HALF_WIDTH, GAP_HALF_HEIGHT = 0.65, 0.6  # the gap's text is 13 mm wide, four lines high
#: A block's half height (cm: a name, a shape and a line of what it reads) and the room an arrow
#: keeps from a box it passes (``edge_routing``).
BOX_HALF_HEIGHT, BOX_MARGIN = 0.55, 0.12
#: ... and of the computational graph (cm): room on each edge for a value and a gradient.
COMPUTATIONAL_X, COMPUTATIONAL_Y = 2.3, 1.3


def box_extent(placed: dict) -> routing.Box:
    """Where a box of the computational graph lies, with some air (cm): taller and wider with
    a gate over its name."""
    half_width, half_height = (0.7, 0.55) if placed["gate"] else (0.55, 0.45)
    return routing.Box(float(placed["x"]), float(placed["y"]), half_width, half_height)


def _column_positions(half_widths: dict[float, float], step_x: float) -> dict[float, float]:
    """x (cm) of each column: ``step_x`` per column as before, or more where the boxes of two
    neighbouring columns would leave less than ``ARROW_ROOM`` between them."""
    x_of: dict[float, float] = {}
    previous = None
    for col in sorted(half_widths):
        if previous is None:
            x_of[col] = col * step_x
        else:
            needed = half_widths[previous] + half_widths[col] + ARROW_ROOM
            x_of[col] = x_of[previous] + max((col - previous) * step_x, needed)
        previous = col
    return x_of


def _mean(values: list[float], default: float) -> float:
    return sum(values) / len(values) if values else default


class GraphFigureSection:
    """The figure of a graph spec: the computational graph, or a block diagram of its nodes."""

    def graph_figure(self) -> dict:
        nodes = list(self.graph.nodes.values())
        batched = self.graph.batched  # data: a matrix of weights alone (W * W, W^T) keeps the graph a vector one
        vectors = all(len(n.shape) <= 1 for n in nodes if n.op.role == "op" and n.name in batched)
        if vectors and len(nodes) <= GRAPH_FIGURE_MAX_NODES and not self.unrolled.steps:
            figure = self.computational_graph()
            if figure["columns"] <= GRAPH_FIGURE_MAX_COLUMNS:  # wider would be shrunk to unreadable text
                return figure
        return self.block_diagram()

    def computational_graph(self) -> dict:
        """Every node of the graph, as the computational-graph lecture draws one: one column per
        depth, leaves on the left, the loss on the right; each op's gate in its box (``\\times``,
        ``+``, ``e^{x}``); a column's boxes ordered by where their inputs are (fewer crossings);
        an edge that skips columns bent over the boxes between; with a worked example of scalars,
        each edge carries its value (above) and the gradient of E by it (below)."""
        nodes = list(self.graph.nodes.values())
        depth: dict[str, int] = {}
        for node in nodes:
            depth[node.name] = 1 + max((depth[i] for i in node.inputs), default=-1)
        for node in nodes:  # a leaf sits just before its first use, not all of them in column 0
            uses = [depth[c] for c in self.unrolled.consumers[node.name]]
            if node.op.role != "op" and uses:
                depth[node.name] = min(uses) - 1
        columns: dict[int, list[str]] = {}
        for node in nodes:
            columns.setdefault(depth[node.name], []).append(node.name)
        row = {name: (len(names) - 1) / 2 - i for names in columns.values() for i, name in enumerate(names)}
        for _ in range(4):  # barycentres, a few sweeps: each box level with the boxes it is joined to
            for col in sorted(columns):
                names = columns[col]
                level = {
                    n: _mean([row[m] for m in (*self.graph.nodes[n].inputs, *self.unrolled.consumers[n])], row[n]) for n in names
                }
                names.sort(key=lambda n: -level[n])
                row.update({name: (len(names) - 1) / 2 - i for i, name in enumerate(names)})
        labels = self._edge_values()
        placed = []
        for col, names in sorted(columns.items()):
            for name in names:
                node = self.graph.nodes[name]
                style = {"input": "input", "target": "input", "param": "param"}.get(node.op.role, "op")
                if name == self.graph.loss:
                    style = "loss"
                gate = node.op.latex_gate(node, self) if node.op.role == "op" else None
                placed.append(
                    {
                        "name": f"g{len(placed)}",
                        "node": name,
                        "x": f"{col * COMPUTATIONAL_X:.2f}",
                        "y": f"{row[name] * COMPUTATIONAL_Y:.2f}",
                        "label": Tex(self.node_tex(name)),
                        "gate": Tex(gate) if gate else None,
                        "style": style,
                    }
                )
        ids = {p["node"]: p["name"] for p in placed}
        boxes = {p["node"]: box_extent(p) for p in placed}
        edges = []
        for n in nodes:
            for i in dict.fromkeys(n.inputs):
                edge = self._edge(ids[i], ids[n.name], depth[i], depth[n.name])
                others = [box for name, box in boxes.items() if name not in (i, n.name)]
                edge["bend"] = routing.bend(boxes[i], boxes[n.name], others, edge["bend"])
                edge["value"], edge["gradient"] = labels.get(i, (None, None))
                edges.append(edge)
        loss = labels.get(self.graph.loss)
        out = {"node": ids[self.graph.loss], "value": loss[0], "gradient": Tex(number(1, 2))} if loss else None
        return {"kind": "graph", "nodes": placed, "edges": edges, "columns": len(columns), "out": out}

    def _edge_values(self) -> dict[str, tuple[Tex, Tex]]:
        """node -> (its value, dE/d(node)) at the worked example, for graphs of scalars (what
        the lecture writes on each edge, green above and red below); empty otherwise."""
        example = self.example_point
        if example is None or any(n.shape for n in self.graph.nodes.values()):
            return {}
        scalar, values = self.d.scalar, example[1]
        out = {}
        for name, (symbol,) in scalar.symbols.items():
            if symbol in scalar.adjoints and self.graph.nodes[name].op.role != "target":
                adjoint = evaluate(scalar.adjoints[symbol], values)  # dE/dE = 1 at the loss
                out[name] = (Tex(number(values[symbol], 2)), Tex(number(adjoint, 2)))
        return out

    # -- the block diagram ------------------------------------------------------------------

    def block_diagram(self) -> dict:
        """The spec's nodes as boxes with their shapes, in columns by depth (an unrolled network:
        by step, then by depth within the step), long edges bent over the boxes between."""
        unrolled = self.unrolled
        owner = unrolled.owner
        reads: dict[str, dict[str, None]] = {}  # spec node -> the spec nodes and leaves it reads
        for node in self.graph.nodes.values():
            if node.op.role == "op":
                found = reads.setdefault(owner[node.name], {})
                found.update((owner[i], None) for i in node.inputs if owner[i] != owner[node.name])
        blocks = list(reads)  # in graph order
        leaves = {n.name for n in self.graph.nodes.values() if n.op.role != "op"}
        drawn_leaves = self._drawn_leaves(reads, leaves)
        column, gap_column, hidden = self._columns(blocks, reads)
        shown = [b for b in blocks if column.get(b) is not None]
        for leaf in drawn_leaves:  # an input or a target sits just before its first use
            uses = [column[b] for b in shown if leaf in reads[b]]
            if uses:
                column[leaf] = min(uses) - 1
        left = min(column[n] for n in column if column[n] is not None and (n in shown or n in drawn_leaves))
        column = {n: (c - left if c is not None else None) for n, c in column.items()}
        gap_column = gap_column - left if gap_column is not None else None
        order = [n for n in self.graph.nodes if n in drawn_leaves and n in column] + shown
        rows: dict[int, list[str]] = {}
        for name in order:
            rows.setdefault(column[name], []).append(name)
        rank = max(len(self.graph.nodes[n].shape) for n in order)
        step_x = STEP_X + STEP_X_PER_AXIS * max(0, rank - 2)
        arrows, tags = self._arrows(reads, drawn_leaves)
        widths = {name: self._box_width(name, tags.get(name, [])) for names in rows.values() for name in names}
        half_widths = {col: max(widths[name] for name in names) / 2 for col, names in rows.items()}
        if gap_column is not None:
            half_widths[gap_column] = GAP_HALF_WIDTH
        x_of = _column_positions(half_widths, step_x)
        placed, ids, extents = [], {}, {}
        for col, names in sorted(rows.items()):
            for row, name in enumerate(names):
                ids[name] = f"b{len(placed)}"
                y = ((len(names) - 1) / 2 - row) * STEP_Y
                placed.append(self._box(ids[name], name, x_of[col], y, tags.get(name, [])))
                half_width, half_height = widths[name] / 2 + BOX_MARGIN, BOX_HALF_HEIGHT + BOX_MARGIN
                extents[ids[name]] = routing.Box(x_of[col], y, half_width, half_height, BOX_MARGIN)
        edges = []
        gap = None
        if gap_column is not None:
            if hidden:
                words = f"{steps_words(hidden)}, as step {self._model_step(hidden)}"
            else:
                words = f"{len(blocks) - len(shown)} more nodes"
            gap = {"name": "gap", "x": f"{x_of[gap_column]:.2f}", "text": text(words)}
            ids["gap"] = "gap"
            half_width, half_height = GAP_HALF_WIDTH + BOX_MARGIN, GAP_HALF_HEIGHT + BOX_MARGIN
            extents["gap"] = routing.Box(x_of[gap_column], 0.0, half_width, half_height, BOX_MARGIN)
        seen = set()
        for block in shown:
            for source in arrows[block]:
                start = source if source in ids else "gap"
                if start == "gap" and gap is None:
                    continue
                key = (start, block)
                if key not in seen:
                    seen.add(key)
                    edges.append(self._edge(ids[start], ids[block], column.get(start, gap_column), column[block]))
        if gap is not None:  # what the blocks left out read: one dashed arrow into the gap each
            read_by_hidden = {source for b in blocks if column.get(b) is None for source in arrows[b]}
            for block in shown:
                if block in read_by_hidden:
                    edges.append({"source": ids[block], "target": "gap", "bend": "", "style": "dashed"})
        for edge in edges:  # around the boxes between, where a turn tried clears them all
            ends = (extents[edge["source"]], extents[edge["target"]])
            edge["bend"] = routing.bend(*ends, [box for box in extents.values() if box not in ends], edge["bend"])
        return {
            "kind": "diagram",
            "nodes": placed,
            "edges": edges,
            "gap": gap,
            "steps": text(self._steps_words(hidden)) if hidden else self._left_out_words(blocks, shown),
            "tagged": text("the parameters, and what every step reads" if unrolled.steps else "the parameters"),
        }

    def _drawn_leaves(self, reads: dict[str, dict], leaves: set[str]) -> set[str]:
        """Inputs and targets drawn as boxes: those outside the repeated steps, read in at most
        one of them (an input of a step, x{k}, or one every step reads is written in the boxes
        like a parameter: the steps have no room for it)."""
        steps: dict[str, set] = {
            leaf: set() for leaf in leaves if self.graph.nodes[leaf].op.role != "param" and leaf not in self.unrolled.steps
        }
        for block, found in reads.items():
            for source in found:
                if source in steps:
                    steps[source].add(self.unrolled.steps.get(block))
        return {leaf for leaf, seen in steps.items() if len(seen) <= 1}

    def _arrows(self, reads: dict[str, dict], drawn_leaves: set[str]) -> tuple[dict, dict]:
        """(block -> what it reads by an arrow, block -> what it reads written in its box).

        Parameters and the inputs not drawn are written in the box.  So is a block outside the
        steps that several steps read (an embedding every step reads): its arrows go to the
        first step that reads it only, or they would cross the whole figure."""
        steps = self.unrolled.steps
        readers: dict[str, set[int]] = {}  # a block outside the steps -> the steps that read it
        for block, found in reads.items():
            if block in steps:
                for source in found:
                    if source in reads and source not in steps:
                        readers.setdefault(source, set()).add(steps[block])
        first_reader = {source: min(seen) for source, seen in readers.items()}
        shared = {source for source, seen in readers.items() if len(seen) > 1}
        arrows: dict[str, list[str]] = {}
        tags: dict[str, list[str]] = {}
        for block, found in reads.items():
            arrows[block], tags[block] = [], []
            for source in found:
                leaf = source not in reads
                if (leaf and source not in drawn_leaves) or (source in shared and steps.get(block) != first_reader[source]):
                    tags[block].append(source)
                else:
                    arrows[block].append(source)
        return arrows, tags

    def _columns(self, blocks: list[str], reads: dict) -> tuple[dict, float | None, list[int]]:
        """Column of every block drawn (None: left out), the gap's column (None: no gap), and the
        steps left out.

        Blocks go in groups: those before the repeated steps, each step, those after; within a
        group, by depth (the longest chain of blocks of the same group before it).  The steps the
        handout leaves out are left out, and middle steps more while the figure is wider than
        FIGURE_MAX_COLUMNS (a GRU of 4 steps: step 3), so that the gap says which steps it
        stands for.  Of a long graph without steps, the middle columns are left out (the caption
        names their nodes: ``_left_out_words``)."""
        unrolled = self.unrolled
        groups: dict[str, tuple[int, int]] = {}
        for block in blocks:  # graph order: what a block reads is grouped before it
            step = unrolled.steps.get(block)
            if step is not None:
                groups[block] = (1, step)
            else:
                groups[block] = (2, 0) if any(groups.get(b, (0, 0))[0] >= 1 for b in reads[block] if b in groups) else (0, 0)
        depth: dict[str, int] = {}
        for block in blocks:
            inside = [depth[b] for b in reads[block] if b in depth and groups[b] == groups[block]]
            depth[block] = 1 + max(inside, default=-1)
        widths: dict[tuple[int, int], int] = {}
        for block in blocks:
            widths[groups[block]] = max(widths.get(groups[block], 0), depth[block] + 1)
        hidden = self._hidden_steps(widths)
        offset, start, gap_column = 1, {}, None  # column 0: the inputs read first
        for key in sorted(widths):
            if key[0] == 1 and key[1] in hidden:
                if gap_column is None:
                    gap_column, offset = offset, offset + 1
                continue
            start[key] = offset
            offset += widths[key] + (STEP_AIR if key[0] == 1 else 0)
        column = {b: (start[groups[b]] + depth[b] if groups[b] in start else None) for b in blocks}
        # A long graph: its first and last columns.  Never an unrolled network's: a step is drawn
        # whole or left out whole (``_hidden_steps``), and steps 1, 2 and the last, all drawn when
        # there are only three (a GRU of 3 steps lost z3, r3, n3 to "3 more nodes"), are as wide as
        # the three steps of a long sequence: the figure is scaled to the page.
        if gap_column is None and offset > FIGURE_MAX_COLUMNS and not unrolled.steps:
            keep_first, keep_last = FIGURE_MAX_COLUMNS - 5, 4
            gap_column = keep_first
            for b, col in column.items():
                if col is None:
                    continue
                if keep_first <= col < offset - keep_last:
                    column[b] = None
                elif col >= offset - keep_last:
                    column[b] = col - (offset - keep_last) + keep_first + 1
        return column, gap_column, hidden

    def _hidden_steps(self, widths: dict[tuple[int, int], int]) -> list[int]:
        """The steps the figure leaves out, in order: the handout's, and then the middle steps from
        the last but one back, while the columns (``widths``: of each group, as ``_columns``
        lays them out) are more than FIGURE_MAX_COLUMNS; the first two steps and the last stay."""
        hidden = list(self.unrolled.hidden_steps)
        steps = self.unrolled.all_steps
        middle = [k for k in steps[2:-1] if k not in hidden]  # the first step may be unlike the others

        def columns() -> float:
            drawn = [(key, w) for key, w in widths.items() if not (key[0] == 1 and key[1] in hidden)]
            return 1 + bool(hidden) + sum(w + (STEP_AIR if key[0] == 1 else 0) for key, w in drawn)

        while middle and columns() > FIGURE_MAX_COLUMNS:
            hidden.append(middle.pop())
        return sorted(hidden)

    def _shown_steps(self, hidden: list[int]) -> list[int]:
        return [k for k in self.unrolled.all_steps if k not in hidden]

    def _model_step(self, hidden: list[int]) -> int:
        """The step the hidden ones compute as: the one just before them."""
        return max(k for k in self.unrolled.all_steps if k < hidden[0])

    def _box_width(self, node: str, tags: list[str]) -> float:
        """The estimated width (cm) of ``node``'s block: its name, or what it reads without an arrow."""
        letters = len(re.sub(r"\\[a-zA-Z]+|[{}_^\\ ]", "", self.node_tex(node)))
        return max(BOX_MIN_WIDTH, TAG_WIDTH * len(tags) + 0.15, LETTER_WIDTH * letters + 0.3)

    def _box(self, name: str, node: str, x: float, y: float, tags: list[str]) -> dict:
        """A box: the node, its shape per sample, what it reads without an arrow (``tags``)."""
        graph_node = self.graph.nodes[node]
        role = graph_node.op.role
        style = {"input": "input", "target": "input"}.get(role, "loss" if node == self.graph.loss else "op")
        shape = shape_tex(graph_node.shape) if graph_node.shape else r"\text{scalar}"
        read = [self.node_tex(r) for r in tags]
        return {
            "name": name,
            "x": f"{x:.2f}",
            "y": f"{y:.2f}",
            "label": Tex(self.node_tex(node)),
            "shape": Tex(shape),
            "reads": Tex(", ".join(read)),
            "style": style,
        }

    @staticmethod
    def _edge(source: str, target: str, start: int, end: int) -> dict:
        """An arrow; one that skips columns bends over the boxes between (more, the farther it goes)."""
        span = abs(end - start)
        bend = "" if span <= 1.5 else f"bend left={min(round(12 + 6 * span), 40)}"
        return {"source": source, "target": target, "bend": bend, "style": ""}

    def _left_out_words(self, blocks: list[str], shown: list[str]) -> Tex | None:
        """The caption's sentence on the nodes a long graph's figure leaves out, every one named
        (a figure that drops nodes and does not say which is wrong for a handout)."""
        left_out = [b for b in blocks if b not in shown]
        if not left_out:
            return None
        names = [f"${self.node_tex(b)}$" for b in left_out]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        what = "node" if len(names) == 1 else f"{len(names)} nodes"
        return Tex(f"To fit the page, the figure leaves out the {what} of its middle columns: {listed}.")

    def _steps_words(self, hidden: list[int]) -> str:
        shown = self._shown_steps(hidden)
        verb = "computes" if len(hidden) == 1 else "compute"
        return (
            f"The figure shows steps {', '.join(map(str, shown[:-1]))} and {shown[-1]} of "
            f"{len(self.unrolled.all_steps)}; {steps_words(hidden)} {verb} what step {self._model_step(hidden)} does."
        )
