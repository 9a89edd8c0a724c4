"""Size limits of the handout: above them a section is shortened or left out."""

from __future__ import annotations

#: Per-weight sections and the worked example are written out up to this many parameters
#: (the per-weight view of ``symprop.scalar`` has the same limit).
PER_WEIGHT_LIMIT = 100
#: ... and at most this many values (elements of every node) in all: through a long thin graph
#: (an unrolled network) each per-weight derivative is a sum over thousands of paths.
PER_WEIGHT_VALUES = 400
#: A graph spec of vectors with at most this many nodes is drawn node by node (the
#: computational graph); others as a block diagram of the spec's nodes, at most this many
#: columns wide (a long graph: its first and last columns).
GRAPH_FIGURE_MAX_NODES = 60
#: ... and at most this many columns (depths): a wider one would be shrunk to unreadable text.
GRAPH_FIGURE_MAX_COLUMNS = 9
FIGURE_MAX_COLUMNS = 12
#: Networks whose every layer has at most this many units are drawn neuron by neuron.
NEURON_FIGURE_MAX_UNITS = 10
#: A dE/da of more than this many (rough) characters is written with the next layer's deltas.
LONG_FACTOR = 120
#: An activation's derivative longer than this is written f'(z) in the backward steps.
SHORT_LOCAL = 26
#: A parameter's gradient is summed over at most this many of its uses on the page (the first
#: ones and the last two; an unrolled network uses its weights once per step).
PARAM_MAX_TERMS = 8
#: ... and its NumPy lines listed up to this many.
PARAM_MAX_LINES = 8
#: A parameter's gradient longer than this (rough characters) is written on several rows.
PARAM_LINE_MAX = 110
#: The forward pass of a graph spec lists at most this many nodes (the first ones and the last
#: quarter), the backward pass at most this many steps, the gradients at most this many
#: parameters and the code at most this many lines: a handout of a few dozen pages at most.
FORWARD_MAX_NODES = 120
BACKWARD_MAX_STEPS = 120
PARAMS_MAX = 60
#: A table of the handout has at most this many rows (a longer one is continued in another).
TABLE_ROWS = 40
#: A layer stack's sections list at most this many layers, its figure this many.
LAYERS_MAX = 24
FIGURE_MAX_LAYERS = 4
CODE_MAX_LINES = 160
#: A backward step's element and array forms share a line when together they are at most this
#: long (rough characters).
SIDE_BY_SIDE = 64
#: Gradients that are 0 are said in one line, naming at most this many of the factors that are 0.
ZEROS_NAMED = 4
#: A substituted-numbers line longer than this (characters of LaTeX) is left out.
SUBSTITUTION_MAX_CHARS = 600
#: Page 1's paragraph on a graph spec writes the loss's formula when it is at most this long
#: (visible characters; a longer one is left to section 2).
SUMMARY_LOSS_MAX = 90
