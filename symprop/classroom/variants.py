"""Each student's numbers: a variant of the spec's worked example, drawn from the course seed and
the student's id, the same on every machine and every run.

The draw is SHA-256 of (seed, id, attempt), never Python's ``hash()`` (salted per process).
Numbers lie on a grid of few digits: inputs and weights are multiples of 0.05 (weights in
[-0.8, 0.8], inputs in (-1, 1), never 0), targets as the example's are (one-hot stays one-hot,
0/1 stays 0/1, values in [0, 1] are multiples of 0.05 in [0.05, 0.95]). A draw is refused, and
the next attempt taken, while it is badly conditioned (``problems``): a sigmoid or tanh
saturated (|z| > 3), a ReLU on an asked path dead (z <= 0.05) or, where the plan asks it
switched off (``Item.off``), on (z >= -0.05), a gradient asked near 0 (|dE/dw| <
``MIN_GRADIENT``; one through a switched-off ReLU is 0 by design, and a typical mistake must
change it instead), or a typical mistake on a gradient that gives nearly the right number (it
could not be told apart from the right answer within the grading tolerance). These checks read
the asked questions, so another question set can refuse a draw this one took: a student's
numbers depend on (seed, id, questions), as the README's classroom section says.
"""

from __future__ import annotations

import hashlib
import random

import sympy as sp

from ..errors import SymPropError
from ..exercises import Point, example_point
from ..spec import flatten
from .key import Blueprint, Key, tolerance

STEP = 0.05
MAX_ATTEMPTS = 400
SATURATED = 3.0
KINK = 0.05  # a relu's z at least this far from 0, on the side the question asks
MIN_GRADIENT = 1e-3
RANGES = {"input": (-1.0, 1.0), "param": (-0.8, 0.8), "target": (0.05, 0.95)}


def rng_for(seed: int, student_id: str, attempt: int) -> random.Random:
    digest = hashlib.sha256(f"symprop-classroom\0{seed}\0{student_id}\0{attempt}".encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def draw_variant(blueprint: Blueprint, seed: int, student_id: str) -> tuple[Key, int]:
    """The student's key (at their point) and the attempt it took (0: the first draw)."""
    derivation = blueprint.derivation
    template = example_point(derivation)
    roles = {node.name: role for role in ("input", "target", "param") for node in derivation.graph.leaves(role)}
    found: list[str] = []
    for attempt in range(MAX_ATTEMPTS):
        rng = rng_for(seed, student_id, attempt)
        leaves = {name: _draw(rng, value, roles.get(name, "param")) for name, value in template.leaves.items()}
        point = Point(leaves, template.learning_rate)
        key = blueprint.key(point)
        found = problems(derivation, key)
        if not found:
            return key, attempt
    raise SymPropError(
        f"{derivation.network.source}: no well-conditioned variant for student {student_id!r} in {MAX_ATTEMPTS} draws "
        f"(the last: {found[0]}); ask about other elements in --questions"
    )


def problems(derivation, key: Key) -> list[str]:
    """Why the key's point is badly conditioned (empty: it is fine)."""
    scalar, values = derivation.scalar, key.values
    found = []
    for node in derivation.graph.nodes.values():
        if node.op.role != "op" or not node.op.activation or node.op.coupled:
            continue
        for z in scalar.symbols[node.inputs[0]]:
            if node.op.name in ("sigmoid", "tanh") and abs(values[z]) > SATURATED:
                found.append(f"{node.name}: saturated at {z} = {float(values[z]):.3g}")
    for answer in key.answers.values():
        off = answer.item.off
        for z in off:
            if values[z] >= -KINK:
                found.append(f"{answer.item.id}: a relu asked switched off is on or at its kink ({z} = {float(values[z]):.3g})")
        for piecewise in answer.formula.atoms(sp.Piecewise):
            for z in piecewise.free_symbols - set(off):
                if values[z] <= KINK:
                    found.append(f"{answer.item.id}: a relu is dead or at its kink ({z} = {float(values[z]):.3g})")
        asked = answer.value if answer.item.whole else [answer.value]
        if off and answer.item.kind == "gradient":
            if not answer.mistakes:  # 0 by design (through a switched-off unit): the forgotten derivative must show
                found.append(f"{answer.item.id}: no typical mistake changes the gradient through the switched-off unit")
        elif answer.item.kind in ("gradient", "formula") and min(abs(v) for v in asked) < MIN_GRADIENT:
            found.append(f"{answer.item.id}: a gradient asked is near 0 ({float(min(asked, key=abs)):.3g})")
        if answer.item.kind == "step":
            continue  # a step's mistakes move the weight by alpha times a gradient's: close by nature
        if answer.item.whole:
            continue
        right = float(answer.value)
        for candidate in answer.candidates:
            if candidate.mistake and abs(candidate.value - right) <= 2 * tolerance(right):
                found.append(f"{answer.item.id}: '{candidate.key}' gives nearly the right number")
    return found


def _draw(rng: random.Random, template, role: str):
    """Values shaped as ``template`` (a number or nested lists) on the grid."""
    if role == "target":
        flat = [float(v) for v in flatten(template)]
        if all(v in (0.0, 1.0) for v in flat) and sum(flat) == 1 and len(flat) > 1:
            hot = rng.randrange(len(flat))
            return _shaped(template, iter([1 if i == hot else 0 for i in range(len(flat))]))
        if all(v in (0.0, 1.0) for v in flat):
            return _shaped(template, iter([rng.choice((0, 1)) for _ in flat]))
        if not all(0 <= v <= 1 for v in flat):
            role = "input"
    low, high = RANGES[role]
    # never 0, and no input of 1 or -1: a factor x = 1 would make "the last factor x is missing"
    # the right number (and dE/dw0 = dE/dbias for a unit whose x0 is 1)
    grid = [
        round(k * STEP, 2)
        for k in range(round(low / STEP), round(high / STEP) + 1)
        if k != 0 and not (role == "input" and abs(round(k * STEP, 2)) == 1.0)
    ]
    count = len(list(flatten(template)))
    return _shaped(template, iter([rng.choice(grid) for _ in range(count)]))


def _shaped(template, values):
    if isinstance(template, (list, tuple)):
        return [_shaped(t, values) for t in template]
    return next(values)
