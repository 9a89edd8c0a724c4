"""Size limits of the handout: above them a section is shortened or left out."""

from __future__ import annotations

#: Per-weight sections and the worked example are written out up to this many parameters
#: (the per-weight view of ``symprop.scalar`` has the same limit).
PER_WEIGHT_LIMIT = 100
#: Networks whose every layer has at most this many units are drawn neuron by neuron.
NEURON_FIGURE_MAX_UNITS = 10
#: A chain rule longer than this many factors is shown with an ellipsis in the middle.
CHAIN_MAX_FACTORS = 7
#: A dE/da of more than this many (rough) characters is written with the next layer's deltas.
LONG_FACTOR = 120
#: An activation's derivative longer than this is written f'(z) in the backward steps.
SHORT_LOCAL = 26
#: A substituted-numbers line longer than this (characters of LaTeX) is left out.
SUBSTITUTION_MAX_CHARS = 600
