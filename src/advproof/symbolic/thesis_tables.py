"""Chen Liu's thesis (seed 003), ch. 3: Table 3.4 and the result tables 3.5-3.9 as data.

The tables are transcribed cell by cell, values as printed, one constant per table with a
comment naming every block. Nothing here is measured but Table 3.4's operation counts: the
checks test what the numbers must satisfy if the text describing them is right.

* Table 3.4: every complexity is the dominant part of the costs the text of Sec. 3.3.3 gives
  (sympy), and has the leading order of the exact matrix-product FLOP count of the library's
  implementation (PGD, IBP, Fast-Lin, KW, I-PER, L-PER; CROWN-IBP is refuted: O(L K n^2)).
* Table 3.5: the growth schedules of epsilon end near the test budgets.
* Tables 3.6-3.8: error orderings (clean <= PGD <= exact <= any incomplete certifier), the
  one-shot average certified bound ``ACB = eps (1 - CRE / 100)``, ``ACB PEC >= ACB Lin``, and the
  text's "our methods are best in all cases".
* Table 3.9: ``T_Lin = ceil(log2(width / eps_Delta))`` with ``eps_Delta = 1e-4``, the ratio
  columns, and the text's "saves about 25% for FC1 and 10% for CNN".

Where the printed numbers break a property that must hold (the AT rows' CRE MIP above CRE Lin,
ACB cells off the one-shot formula, a Table 3.8 row copied from Table 3.7, the saving stated
for l2 FC1), the check is registered with ``refutes=True`` against the printed table and its
control is the table with the offending cells set aside (``None``) or recomputed.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import NamedTuple

import sympy as sp

from advproof.asserts import require
from advproof.claims import ClaimSet, Erratum

CLAIMS = ClaimSet("thesis3")

Cell = float | None
Row = tuple[str, tuple[Cell, ...]]
PER_METHODS: tuple[str, ...] = ("L-PER", "L-PER+at", "I-PER", "I-PER+at")
#: rows left out of the "best among provably robust training methods" comparisons (the tables'
#: captions exclude plain and adversarial training)
NOT_PROVABLE: tuple[str, ...] = ("plain", "AT", "at")


class Block(NamedTuple):
    """One block of a result table: a data set, net, activation, norm and test budget."""

    title: str
    eps: float
    rows: tuple[Row, ...]


class ResultTable(NamedTuple):
    """A result table: its name, the column names after "Methods", and its blocks."""

    name: str
    columns: tuple[str, ...]
    blocks: tuple[Block, ...]


# ---------------------------------------------------------------------------------------------
# Table 3.5 (003 Sec. 3.3.4): alpha, beta and the training epsilon. A schedule is
# (initial value, factor, every k epochs); the test budgets are those of Tables 3.6 / 3.7.

EPOCHS = 100
TABLE_3_5: dict[str, dict[str, object]] = {
    "MNIST FC1, l_inf": {"alpha": 0.15, "beta": 0.1, "eps": (0.0064, 2, 20), "budget": 0.1},
    "MNIST CNN, l_inf": {"alpha": 0.15, "beta": {"PER": 0.3, "PER+at": 0.03}, "eps": 0.1,
                         "budget": 0.1},
    "CIFAR10 CNN, l_inf": {"alpha": 0.1, "beta": {"PER": 0.0003, "PER+at": 0.001},
                           "eps": 0.008, "budget": 2 / 255},
    "MNIST FC1, l_2": {"alpha": 0.45, "beta": 1.0, "eps": (0.02, 2, 20), "budget": 0.3},
    "MNIST CNN, l_2": {"alpha": 0.45, "beta": 1.0, "eps": 0.3, "budget": 0.3},
    "CIFAR10 CNN, l_2": {"alpha": 0.15, "beta": {"PER": 0.3, "PER+at": 1.0}, "eps": 0.1,
                         "budget": 0.1},
}

# ---------------------------------------------------------------------------------------------
# Table 3.6 (003 Sec. 3.3.4): ReLU nets, l_inf. Errors in %, ACB columns are radii.

TABLE_3_6 = ResultTable(
    "Table 3.6",
    ("CTE", "PGD", "CRE Lin", "CRE IBP", "CRE MIP", "ACB Lin", "ACB IBP", "ACB PEC"),
    (
        # Table 3.6, block "MNIST - FC1, ReLU, l_inf, eps = 0.1"
        Block("MNIST FC1 l_inf", 0.1, (
            ("plain", (1.99, 98.37, 100.00, 100.00, 100.00, 0.0000, 0.0000, 0.0000)),
            ("AT", (1.42, 9.00, 97.94, 100.00, 100.00, 0.0021, 0.0000, 0.0099)),
            ("KW", (2.26, 8.59, 12.91, 69.20, 10.90, 0.0871, 0.0308, 0.0928)),
            ("IBP", (1.65, 9.67, 87.27, 15.20, 12.36, 0.0127, 0.0848, 0.0705)),
            ("CROWN-IBP", (1.98, 9.50, 67.39, 14.45, 11.39, 0.0326, 0.0855, 0.0800)),
            ("MMR", (2.11, 17.82, 33.75, 99.88, 24.90, 0.0663, 0.0001, 0.0832)),
            ("MMR+at", (2.04, 10.39, 17.64, 95.09, 14.10, 0.0824, 0.0049, 0.0905)),
            ("L-PER", (1.60, 7.45, 11.71, 92.89, 7.69, 0.0883, 0.0071, 0.0935)),
            ("L-PER+at", (1.81, 7.73, 12.90, 99.90, 8.22, 0.0871, 0.0001, 0.0925)),
            ("I-PER", (1.60, 6.28, 11.96, 93.33, 8.10, 0.0880, 0.0067, 0.0934)),
            ("I-PER+at", (1.54, 7.15, 13.96, 98.55, 8.48, 0.0868, 0.0014, 0.0927)),
        )),
        # Table 3.6, block "MNIST - CNN, ReLU, l_inf, eps = 0.1"
        Block("MNIST CNN l_inf", 0.1, (
            ("plain", (1.28, 85.75, 100.00, 100.00, 100.00, 0.0000, 0.0000, 0.0000)),
            ("AT", (1.02, 4.75, 91.91, 100.00, 100.00, 0.0081, 0.0000, 0.0189)),
            ("KW", (1.21, 3.03, 4.44, 100.00, 4.40, 0.0956, 0.0000, 0.0971)),
            ("IBP", (1.51, 4.43, 23.89, 8.13, 5.23, 0.0761, 0.0919, 0.0872)),
            ("CROWN-IBP", (1.85, 4.28, 10.72, 6.91, 4.83, 0.0893, 0.0931, 0.0928)),
            ("MMR", (1.65, 6.07, 11.56, 100.00, 6.10, 0.0884, 0.0000, 0.0928)),
            ("MMR+at", (1.19, 3.35, 9.49, 100.00, 3.60, 0.0905, 0.0000, 0.0939)),
            ("L-PER", (1.44, 3.44, 5.13, 100.00, 3.62, 0.0949, 0.0000, 0.0965)),
            ("L-PER+at", (0.50, 2.02, 4.85, 100.00, 2.21, 0.0952, 0.0000, 0.0969)),
            ("I-PER", (1.03, 2.40, 4.64, 99.55, 2.52, 0.0954, 0.0004, 0.0967)),
            ("I-PER+at", (0.48, 1.29, 4.61, 99.94, 1.47, 0.0954, 0.0001, 0.0971)),
        )),
        # Table 3.6, block "CIFAR10 - CNN, ReLU, l_inf, eps = 2/255"
        Block("CIFAR10 CNN l_inf", 2 / 255, (
            ("plain", (24.62, 86.29, 100.00, 100.00, 100.00, 0.0000, 0.0000, 0.0000)),
            ("AT", (27.04, 48.53, 85.36, 100.00, 88.50, 0.0011, 0.0000, 0.0015)),
            ("KW", (39.27, 46.60, 53.81, 99.98, 48.00, 0.0036, 0.0000, 0.0040)),
            ("IBP", (46.74, 56.38, 61.81, 67.58, 58.80, 0.0030, 0.0025, 0.0034)),
            ("CROWN-IBP", (58.32, 63.56, 66.28, 69.10, 65.44, 0.0026, 0.0024, 0.0029)),
            ("MMR", (34.59, 57.17, 69.28, 100.00, 61.00, 0.0024, 0.0000, 0.0032)),
            ("MMR+at", (35.36, 49.27, 59.91, 100.00, 54.20, 0.0031, 0.0000, 0.0037)),
            ("L-PER", (39.21, 50.98, 57.45, 99.98, 52.70, 0.0033, 0.0000, 0.0038)),
            ("L-PER+at", (28.87, 43.55, 56.59, 100.00, 48.43, 0.0034, 0.0000, 0.0040)),
            ("I-PER", (29.34, 51.54, 64.34, 99.98, 54.87, 0.0028, 0.0000, 0.0036)),
            ("I-PER+at", (26.66, 43.35, 57.72, 100.00, 47.87, 0.0033, 0.0000, 0.0040)),
        )),
    ),
)

# ---------------------------------------------------------------------------------------------
# Table 3.7 (003 Sec. 3.3.4): ReLU nets, l_2 (no MIP column).

TABLE_3_7 = ResultTable(
    "Table 3.7",
    ("CTE", "PGD", "CRE Lin", "CRE IBP", "ACB Lin", "ACB IBP", "ACB PEC"),
    (
        # Table 3.7, block "MNIST - FC1, ReLU, l_2, eps = 0.3"
        Block("MNIST FC1 l_2", 0.3, (
            ("plain", (1.99, 9.81, 40.97, 99.30, 0.1771, 0.0021, 0.2300)),
            ("AT", (1.35, 2.99, 14.85, 99.23, 0.2555, 0.0023, 0.2684)),
            ("KW", (1.23, 2.70, 4.91, 41.55, 0.2853, 0.1754, 0.2892)),
            ("IBP", (1.36, 2.90, 6.87, 9.01, 0.2794, 0.2730, 0.2876)),
            ("CROWN-IBP", (1.26, 2.80, 6.36, 8.73, 0.2809, 0.2738, 0.2884)),
            ("MMR", (2.40, 5.88, 7.76, 99.55, 0.2767, 0.0013, 0.2845)),
            ("MMR+at", (1.77, 3.76, 5.68, 99.86, 0.2830, 0.0004, 0.2880)),
            ("L-PER", (1.26, 2.44, 5.35, 59.17, 0.2840, 0.1225, 0.2888)),
            ("L-PER+at", (0.67, 1.40, 4.84, 64.79, 0.2855, 0.1056, 0.2910)),
            ("I-PER", (1.21, 2.59, 5.34, 54.13, 0.2840, 0.1376, 0.2888)),
            ("I-PER+at", (0.74, 1.46, 7.81, 72.85, 0.2766, 0.0814, 0.2860)),
        )),
        # Table 3.7, block "MNIST - CNN, ReLU, l_2, eps = 0.3"
        Block("MNIST CNN l_2", 0.3, (
            ("plain", (1.28, 4.93, 100.00, 100.00, 0.0000, 0.0000, 0.0000)),
            ("AT", (1.12, 2.50, 100.00, 100.00, 0.0000, 0.0000, 0.0000)),
            ("KW", (1.11, 2.05, 5.84, 100.00, 0.2825, 0.0000, 0.2861)),
            ("IBP", (2.37, 3.85, 51.12, 11.73, 0.1534, 0.2648, 0.1669)),
            ("CROWN-IBP", (2.89, 4.44, 31.62, 12.29, 0.2051, 0.2631, 0.2178)),
            ("MMR", (2.57, 5.49, 10.03, 100.00, 0.2699, 0.0000, 0.2788)),
            ("MMR+at", (1.73, 3.22, 9.46, 100.00, 0.2716, 0.0000, 0.2780)),
            ("L-PER", (1.02, 1.87, 5.04, 100.00, 0.2849, 0.0000, 0.2882)),
            ("L-PER+at", (0.43, 0.91, 5.43, 100.00, 0.2837, 0.0000, 0.2878)),
            ("I-PER", (1.11, 2.16, 6.37, 100.00, 0.2809, 0.0000, 0.2851)),
            ("I-PER+at", (0.52, 1.12, 7.89, 100.00, 0.2763, 0.0000, 0.2812)),
        )),
        # Table 3.7, block "CIFAR10 - CNN, ReLU, l_2, eps = 0.1"
        Block("CIFAR10 CNN l_2", 0.1, (
            ("plain", (23.29, 47.39, 100.00, 100.00, 0.0000, 0.0000, 0.0000)),
            ("AT", (25.84, 35.81, 99.96, 100.00, 0.0000, 0.0000, 0.0000)),
            ("KW", (40.24, 43.87, 48.98, 100.00, 0.0510, 0.0000, 0.0533)),
            ("IBP", (57.90, 60.03, 64.78, 78.13, 0.0352, 0.0219, 0.0366)),
            ("CROWN-IBP", (71.21, 72.51, 76.23, 80.97, 0.0238, 0.0190, 0.0256)),
            ("MMR", (40.93, 50.57, 57.07, 100.00, 0.0429, 0.0000, 0.0480)),
            ("MMR+at", (37.78, 43.98, 53.33, 100.00, 0.0467, 0.0000, 0.0502)),
            ("L-PER", (34.10, 52.54, 63.42, 100.00, 0.0369, 0.0000, 0.0465)),
            ("L-PER+at", (25.76, 33.47, 46.74, 100.00, 0.0533, 0.0000, 0.0580)),
            ("I-PER", (33.94, 43.06, 56.80, 100.00, 0.0432, 0.0000, 0.0484)),
            ("I-PER+at", (24.85, 31.32, 47.28, 100.00, 0.0528, 0.0000, 0.0572)),
        )),
    ),
)

# ---------------------------------------------------------------------------------------------
# Table 3.8 (003 Sec. 3.3.4): FC1 with sigmoid / tanh. CRO = CROWN's own bounds; "C-IBP" is
# CROWN-IBP as the thesis prints it in the l_2 blocks.

TABLE_3_8 = ResultTable(
    "Table 3.8",
    ("CTE", "PGD", "CRE CRO", "CRE IBP", "ACB CRO", "ACB IBP", "ACB PEC"),
    (
        # Table 3.8, block "MNIST - FC1, Sigmoid, l_inf, eps = 0.1"
        Block("MNIST FC1 sigmoid l_inf", 0.1, (
            ("plain", (2.04, 97.80, 100.00, 100.00, 0.0000, 0.0000, 0.0000)),
            ("at", (1.78, 10.05, 98.52, 100.00, 0.0015, 0.0000, 0.0055)),
            ("IBP", (2.06, 10.58, 44.14, 13.65, 0.0559, 0.0863, 0.0846)),
            ("CROWN-IBP", (2.88, 9.83, 26.04, 12.51, 0.0740, 0.0875, 0.0886)),
            ("L-PER", (1.97, 7.55, 12.15, 84.76, 0.0879, 0.0152, 0.0930)),
            ("L-PER+at", (2.16, 7.12, 11.87, 88.06, 0.0881, 0.0119, 0.0927)),
            ("I-PER", (2.15, 8.35, 12.79, 86.99, 0.0872, 0.0130, 0.0926)),
            ("I-PER+at", (2.45, 8.05, 12.36, 88.94, 0.0876, 0.0111, 0.0923)),
        )),
        # Table 3.8, block "MNIST - FC1, Tanh, l_inf, eps = 0.1"
        Block("MNIST FC1 tanh l_inf", 0.1, (
            ("plain", (2.00, 97.80, 100.00, 100.00, 0.0000, 0.0000, 0.0000)),
            ("at", (1.28, 8.89, 99.98, 100.00, 0.0000, 0.0000, 0.0001)),
            ("IBP", (2.04, 9.84, 31.81, 13.02, 0.0682, 0.0870, 0.0864)),
            ("CROWN-IBP", (2.75, 9.57, 20.10, 11.80, 0.0799, 0.0882, 0.0894)),
            ("L-PER", (2.19, 7.71, 11.55, 57.81, 0.0885, 0.0422, 0.0934)),
            ("L-PER+at", (2.30, 7.45, 11.39, 56.74, 0.0886, 0.0433, 0.0930)),
            ("I-PER", (2.21, 8.51, 12.23, 55.53, 0.0878, 0.0445, 0.0929)),
            ("I-PER+at", (2.46, 7.87, 12.04, 66.04, 0.0880, 0.0340, 0.0929)),
        )),
        # Table 3.8, block "MNIST - FC1, Sigmoid, l_2, eps = 0.3"
        Block("MNIST FC1 sigmoid l_2", 0.3, (
            ("plain", (2.01, 10.25, 30.78, 94.82, 0.2077, 0.0155, 0.2539)),
            ("at", (1.65, 3.48, 7.50, 85.84, 0.2775, 0.0422, 0.2839)),
            ("IBP", (1.40, 3.07, 6.43, 9.13, 0.2807, 0.2726, 0.2873)),
            ("C-IBP", (1.51, 3.24, 6.36, 8.73, 0.2709, 0.2738, 0.2872)),
            ("L-PER", (1.36, 2.58, 6.12, 73.71, 0.2816, 0.0789, 0.2867)),
            ("L-PER+at", (0.46, 1.03, 5.26, 68.94, 0.2842, 0.0932, 0.2905)),
            ("I-PER", (1.19, 2.59, 6.05, 70.18, 0.2818, 0.0895, 0.2871)),
            ("I-PER+at", (0.49, 1.16, 5.03, 65.79, 0.2849, 0.1026, 0.2907)),
        )),
        # Table 3.8, block "MNIST - FC1, Tanh, l_2, eps = 0.3"
        Block("MNIST FC1 tanh l_2", 0.3, (
            ("plain", (1.94, 16.46, 61.66, 99.64, 0.1150, 0.0011, 0.1789)),
            ("at", (1.36, 3.02, 12.35, 97.66, 0.2630, 0.0070, 0.2735)),
            ("IBP", (1.57, 3.17, 7.21, 10.44, 0.2784, 0.2688, 0.2851)),
            ("C-IBP", (1.50, 3.14, 6.64, 9.53, 0.2801, 0.2714, 0.2861)),
            ("L-PER", (1.31, 2.47, 5.53, 55.17, 0.2834, 0.1345, 0.2880)),
            ("L-PER+at", (0.58, 1.30, 5.89, 54.88, 0.2823, 0.1354, 0.2885)),
            ("I-PER", (1.38, 2.85, 5.90, 45.31, 0.2823, 0.1641, 0.2874)),
            ("I-PER+at", (0.55, 1.17, 5.57, 53.73, 0.2833, 0.1388, 0.2890)),
        )),
    ),
)

# ---------------------------------------------------------------------------------------------
# Table 3.9 (003 Sec. 3.3.4): bound computations to reach the optimal epsilon (Alg. 3.5).
# Per setting: the initial interval width (from the text before the table), the printed T_Lin,
# and per method the printed (T_PEC, T_PEC / T_Lin).

TABLE_3_9: dict[str, dict[str, object]] = {
    # Table 3.9, upper half (l_inf)
    "MNIST-FC1 l_inf": {"width": 0.4, "T_Lin": 12, "rows": {
        "plain": (9.85, 0.8207), "at": (10.77, 0.8972), "KW": (8.48, 0.7066),
        "MMR": (8.04, 0.6703), "MMR+at": (7.68, 0.6402), "L-PER": (9.34, 0.7780),
        "L-PER+at": (9.38, 0.7816)}},
    "MNIST-CNN l_inf": {"width": 0.4, "T_Lin": 12, "rows": {
        "plain": (10.56, 0.8804), "at": (11.39, 0.9489), "KW": (11.61, 0.9674),
        "MMR": (10.68, 0.8897), "MMR+at": (11.22, 0.9351), "L-PER": (11.17, 0.9305),
        "L-PER+at": (11.74, 0.9784)}},
    "CIFAR10-CNN l_inf": {"width": 0.1, "T_Lin": 10, "rows": {
        "plain": (9.33, 0.9331), "at": (9.12, 0.9128), "KW": (8.43, 0.8432),
        "MMR": (8.05, 0.8053), "MMR+at": (8.45, 0.8450), "L-PER": (8.61, 0.8606),
        "L-PER+at": (8.68, 0.8681)}},
    # Table 3.9, lower half (l_2)
    "MNIST-FC1 l_2": {"width": 1.2, "T_Lin": 14, "rows": {
        "plain": (9.68, 0.6914), "at": (10.44, 0.7457), "KW": (7.72, 0.5514),
        "MMR": (5.86, 0.4186), "MMR+at": (5.91, 0.4221), "L-PER": (11.47, 0.8194),
        "L-PER+at": (11.34, 0.8100)}},
    "MNIST-CNN l_2": {"width": 1.2, "T_Lin": 14, "rows": {
        "plain": (13.64, 0.9742), "at": (13.76, 0.9829), "KW": (12.63, 0.9021),
        "MMR": (8.52, 0.6086), "MMR+at": (12.13, 0.8664), "L-PER": (13.75, 0.9819),
        "L-PER+at": (13.72, 0.9796)}},
    "CIFAR10-CNN l_2": {"width": 0.4, "T_Lin": 12, "rows": {
        "plain": (11.73, 0.9775), "at": (11.67, 0.9725), "KW": (10.23, 0.8525),
        "MMR": (9.05, 0.7542), "MMR+at": (10.33, 0.8608), "L-PER": (9.13, 0.7609),
        "L-PER+at": (10.71, 0.8926)}},
}
#: the savings the text states: "approximately 25% ... for FC1 models and 10% ... for CNN"
SAVING_PRINTED: dict[str, float] = {"FC1": 0.25, "CNN": 0.10}
#: the corrected reading: FC1 saves ~25% under l_inf but ~35% under l_2; CNNs ~10%
SAVING_CORRECTED: dict[str, float] = {"FC1 l_inf": 0.25, "FC1 l_2": 0.35, "CNN": 0.10}
SAVING_TOLERANCE = 0.05  # "approximately": within 5 percentage points of the block mean
EPS_DELTA = 1e-4  # the precision of the binary search; implied, never printed
RATIO_TOLERANCE = 1e-3  # a 0.01 slip in T_PEC at T_Lin = 10


# ---------------------------------------------------------------------------------------------
# Helpers shared by the checks


def rows(table: ResultTable) -> Iterator[tuple[Block, str, dict[str, Cell]]]:
    """Every row of ``table`` as ``(block, method, {column: value})``."""
    for block in table.blocks:
        for method, values in block.rows:
            yield block, method, dict(zip(table.columns, values, strict=True))


def n_rows(table: ResultTable) -> int:
    """The number of method rows of ``table`` (over all blocks)."""
    return sum(len(block.rows) for block in table.blocks)


def norm(block: Block) -> str:
    """``"l_inf"`` or ``"l_2"``, read from the block title."""
    return block.title.rsplit(" ", 1)[-1]


def with_cells(table: ResultTable, changes: Mapping[tuple[str, str, str], Cell]) -> ResultTable:
    """A copy of ``table`` with cells ``(block title, method, column)`` replaced.

    Used for the corrected forms (``None`` = not a valid measurement) and for perturbed tables
    in the tests; every key must name an existing cell, so a stale correction fails loudly."""
    todo = dict(changes)
    blocks = []
    for block in table.blocks:
        new_rows = []
        for method, values in block.rows:
            cells = list(values)
            for j, col in enumerate(table.columns):
                if (block.title, method, col) in todo:
                    cells[j] = todo.pop((block.title, method, col))
            new_rows.append((method, tuple(cells)))
        blocks.append(block._replace(rows=tuple(new_rows)))
    if todo:
        raise KeyError(f"no such cells in {table.name}: {sorted(todo)}")
    return table._replace(blocks=tuple(blocks))


def without_row(table: ResultTable, block_title: str, method: str) -> ResultTable:
    """A copy of ``table`` without one row (raises ``KeyError`` if it is not there)."""
    blocks, found = [], False
    for block in table.blocks:
        kept = tuple(r for r in block.rows if not (block.title == block_title and r[0] == method))
        found = found or len(kept) < len(block.rows)
        blocks.append(block._replace(rows=kept))
    if not found:
        raise KeyError(f"no row {method!r} in block {block_title!r} of {table.name}")
    return table._replace(blocks=tuple(blocks))


Pairs = Sequence[tuple[str, str]]


def order_violations(table: ResultTable, pairs: Pairs) -> list[str]:
    """Rows where a pair ``(lo, hi)`` of columns has ``lo > hi`` (cells set to ``None`` skip)."""
    out = []
    for block, method, cell in rows(table):
        for lo, hi in pairs:
            a, b = cell[lo], cell[hi]
            if a is not None and b is not None and a > b:
                out.append(f"{block.title} {method}: {lo} {a:g} > {hi} {b:g}")
    return out


def reversed_first(pairs: Pairs) -> list[tuple[str, str]]:
    """Negative control for an ordering: the first pair turned round (e.g. PGD <= CTE)."""
    return [(pairs[0][1], pairs[0][0]), *pairs[1:]]


def _ordering_check(table: ResultTable) -> Callable[[Pairs], str]:
    def check(pairs: Pairs) -> str:
        bad = order_violations(table, pairs)
        require(not bad, f"{len(bad)} of {n_rows(table)} rows of {table.name} break the "
                         f"ordering: " + "; ".join(bad[:4]) + (" ..." if len(bad) > 4 else ""))
        return (f"all {n_rows(table)} rows of {table.name}: "
                + ", ".join(f"{lo} <= {hi}" for lo, hi in pairs))
    return check


def acb_one_shot(eps: float, cre: float) -> float:
    """One-shot average certified bound: ``eps`` per certified point, 0 otherwise."""
    return eps * (1 - cre / 100)


def acb_wrong(eps: float, cre: float) -> float:
    """Negative control: ``eps`` times the *un*certified fraction."""
    return eps * cre / 100


def acb_tolerance(eps: float) -> float:
    """Rounding of a 4-decimal ACB (5e-5) plus that of a 2-decimal CRE in % times eps."""
    return 0.5e-4 + eps * 0.5e-4 + 1e-12


def acb_pairs(table: ResultTable) -> list[tuple[str, str]]:
    """The one-shot ``(ACB X, CRE X)`` column pairs of a table (PEC has no CRE column)."""
    return [(c, "CRE " + c[4:]) for c in table.columns
            if c.startswith("ACB ") and "CRE " + c[4:] in table.columns]


def acb_mismatches(table: ResultTable, formula: Callable[[float, float], float] = acb_one_shot
                   ) -> tuple[int, list[str]]:
    """``(cells compared, cells where |ACB - formula(eps, CRE)| exceeds the rounding)``."""
    count, bad = 0, []
    for block, method, cell in rows(table):
        for acb, cre in acb_pairs(table):
            if cell[acb] is None or cell[cre] is None:
                continue
            count += 1
            pred = formula(block.eps, cell[cre])
            if abs(cell[acb] - pred) > acb_tolerance(block.eps):
                bad.append(f"{block.title} {method} {acb} {cell[acb]:.4f} vs {pred:.5f}")
    return count, bad


def _acb_formula_check(table: ResultTable) -> Callable[[Callable[[float, float], float]], str]:
    def check(formula: Callable[[float, float], float]) -> str:
        count, bad = acb_mismatches(table, formula)
        fit = 1 - len(bad) / count
        require(fit >= 0.9, f"{table.name}: the formula reproduces only {count - len(bad)} of "
                            f"{count} one-shot ACB cells ({fit:.0%})")
        return (f"{table.name}: eps (1 - CRE/100) reproduces {count - len(bad)} of {count} "
                f"one-shot ACB cells within rounding; off: {len(bad)}")
    return check


def _acb_printed_check(candidate: ResultTable) -> str:
    """Every one-shot ACB cell of the table equals eps (1 - CRE/100) within rounding."""
    count, bad = acb_mismatches(candidate)
    require(not bad, f"{len(bad)} of {count} ACB cells of {candidate.name} are off the one-shot "
                     "formula: " + "; ".join(bad))
    return f"all {count} one-shot ACB cells of {candidate.name} match eps (1 - CRE/100)"


Score = tuple[tuple[str, ...], bool]  # columns combined per row, True if lower is better


def per_best_violations(table: ResultTable, scores: Sequence[Score]) -> tuple[list[str], list[str]]:
    """``(blocks where a PER row is not strictly best, per-block margins)``.

    A row's score is the min (lower is better) or max of the given columns; the comparison is
    among provably robust training methods (plain and adversarial training excluded, as in the
    captions)."""
    bad, margins = [], []
    for block in table.blocks:
        for cols, lower in scores:
            best: dict[bool, tuple[float, str]] = {}
            for method, values in block.rows:
                if method in NOT_PROVABLE:
                    continue
                cell = dict(zip(table.columns, values, strict=True))
                got = [cell[c] for c in cols if cell[c] is not None]
                if not got:
                    continue
                value = min(got) if lower else max(got)
                key = method in PER_METHODS
                sign = 1 if lower else -1
                if key not in best or sign * value < sign * best[key][0]:
                    best[key] = (value, method)
            (per, per_m), (other, other_m) = best[True], best[False]
            what = "/".join(cols)
            margins.append(f"{block.title} {what}: {per_m} {per:g} vs {other_m} {other:g}")
            if not (per < other if lower else per > other):
                bad.append(margins[-1])
    return bad, margins


def _best_check(table: ResultTable) -> Callable[[Sequence[Score]], str]:
    def check(scores: Sequence[Score]) -> str:
        bad, margins = per_best_violations(table, scores)
        require(not bad, f"a baseline is at least as good in {len(bad)} of {len(margins)} "
                         "comparisons: " + "; ".join(bad))
        return "PER best in every block: " + "; ".join(margins)
    return check


# ---------------------------------------------------------------------------------------------
# Table 3.5: the epsilon schedules


def final_eps_printed(initial: float, factor: float, every: int, epochs: int = EPOCHS) -> float:
    """Training epsilon in the last epoch: doubled at epochs 20, 40, 60, 80 (epochs 0-99)."""
    return initial * factor ** ((epochs - 1) // every)


def final_eps_one_more(initial: float, factor: float, every: int, epochs: int = EPOCHS) -> float:
    """Negative control: ``epochs / every`` = 5 doublings (one at epoch 100, after training)."""
    return initial * factor ** (epochs // every)


EPS_TOLERANCE = 0.1  # "close to": final training epsilon within 10% of the test budget

table3_5 = CLAIMS.claim(
    "thesis3.table3_5",
    title="Training epsilon ends close to the test budget (Table 3.5)",
    sources=("003 Table 3.5 and the text before it (Sec. 3.3.4)",),
    kind="remark",
    statement=r"""
"For $\epsilon$, we ensure that its values in the end of training are close to the ones used in
the adversarial budget." For MNIST FC1 $\epsilon$ starts at $0.0064$ ($l_\infty$) or $0.02$
($l_2$) and is multiplied by 2 every 20 of the 100 epochs; the other tasks use a constant
$\epsilon$ (0.1, 0.008, 0.3, 0.1).""",
)


@table3_5.check(kind="numeric", subject=final_eps_printed, control=final_eps_one_more,
                control_label="5 doublings (100/20) instead of 4", tolerance=EPS_TOLERANCE)
def table3_5_final_eps(final: Callable[..., float]) -> str:
    """Final training epsilon of every task of Table 3.5 within 10% of its test budget."""
    parts, worst = [], 0.0
    for task, row in TABLE_3_5.items():
        eps = row["eps"]
        value = final(*eps) if isinstance(eps, tuple) else float(eps)
        dev = abs(value - row["budget"]) / row["budget"]
        worst = max(worst, dev)
        require(dev <= EPS_TOLERANCE, f"{task}: final eps {value:.4g} vs budget "
                                      f"{row['budget']:.4g} ({dev:.0%} off)")
        parts.append(f"{task} {value:.4g}")
    return f"final eps {', '.join(parts)}; worst {worst:.1%} from the budget"


# ---------------------------------------------------------------------------------------------
# Table 3.6: ReLU, l_inf

#: PGD error is a lower bound on the true robust error, every certifier an upper bound; clean
#: error is below PGD error; PEC's radius is at least Fast-Lin's (same CRE, partial radii added)
ORDER_3_6: tuple[tuple[str, str], ...] = (
    ("CTE", "PGD"), ("PGD", "CRE MIP"), ("PGD", "CRE Lin"), ("PGD", "CRE IBP"),
    ("ACB Lin", "ACB PEC"),
)
#: "CRE MIP" is "the exact robust error": no incomplete certifier can certify more points
MIP_EXACT: tuple[tuple[str, str], ...] = (("CRE MIP", "CRE Lin"), ("CRE MIP", "CRE IBP"))
#: the AT rows, where CRE MIP exceeds CRE Lin: MIP time-outs counted as errors, not exact
MIP_NOT_EXACT: dict[tuple[str, str, str], Cell] = {
    (title, "AT", "CRE MIP"): None
    for title in ("MNIST FC1 l_inf", "MNIST CNN l_inf", "CIFAR10 CNN l_inf")
}
#: ACB cells off eps (1 - CRE/100), with the value the formula gives (rounded to 4 decimals)
ACB_CORRECTED_3_6: dict[tuple[str, str, str], Cell] = {
    ("MNIST FC1 l_inf", "I-PER+at", "ACB Lin"): 0.0860,
}

table3_6 = CLAIMS.claim(
    "thesis3.table3_6",
    title="ReLU nets under l_inf attacks: the results of Table 3.6 are consistent",
    sources=("003 Table 3.6 and the text around it (Sec. 3.3.4)",),
    kind="remark",
    statement=r"""
Table 3.6 reports, for 11 training schemes on MNIST FC1, MNIST CNN ($\epsilon = 0.1$) and
CIFAR10 CNN ($\epsilon = 2/255$), the clean error (CTE), the PGD error, the certified robust
errors of Fast-Lin/KW/PEC (CRE Lin), IBP (CRE IBP) and the complete certifier MIPVerify, "the
exact robust error" (CRE MIP), and the one-shot average certified bounds (ACB). "For $l_\infty$
attacks, our proposed methods achieve the best verified accuracy, calculated by the complete
certifier (CRE MIP), in all cases." PEC "has better average certified bounds than Fast-Lin /
KW given the same adversarial budget".""",
    erratum=Erratum(
        printed=r"\text{CRE MIP (exact)} \le \min(\text{CRE Lin}, \text{CRE IBP});\ "
                r"\text{ACB Lin} = 0.0868 \text{ (MNIST FC1, I-PER+at)}",
        problem=(
            "An exact verifier cannot certify fewer points than an incomplete one, yet in all "
            "3 AT rows CRE MIP exceeds CRE Lin: MNIST FC1 100.00 > 97.94, MNIST CNN 100.00 > "
            "91.91, CIFAR10 CNN 88.50 > 85.36 (check table3_6_mip_exact). For these models "
            "CRE MIP counts MIPVerify time-outs as errors; it is an upper bound, not the exact "
            "error. Separately, ACB = eps (1 - CRE/100) holds in 65 of the 66 one-shot ACB "
            "cells; MNIST FC1 I-PER+at prints ACB Lin 0.0868 where CRE Lin 13.96 gives 0.0860 "
            "(check table3_6_acb_printed)."
        ),
        corrected=r"\text{CRE MIP} \ge \text{exact error} \text{ (time-outs count as errors; "
                  r"AT rows not exact)};\ \text{ACB Lin} = 0.0860",
    ),
)


@table3_6.check(kind="numeric", subject=ORDER_3_6, control=reversed_first(ORDER_3_6),
                control_label="PGD <= CTE (the first relation turned round)", tolerance=0.0)
def table3_6_ordering(pairs: Pairs) -> str:
    """CTE <= PGD <= every CRE and ACB Lin <= ACB PEC on all 33 rows of Table 3.6."""
    return _ordering_check(TABLE_3_6)(pairs)


@table3_6.check(kind="numeric", subject=TABLE_3_6, control=with_cells(TABLE_3_6, MIP_NOT_EXACT),
                refutes=True, tolerance=0.0,
                control_label="the AT rows' CRE MIP set aside as not exact (must not be refuted)")
def table3_6_mip_exact(table: ResultTable) -> str:
    """Refutation: is CRE MIP, "the exact robust error", <= CRE Lin and CRE IBP in every row?"""
    bad = order_violations(table, MIP_EXACT)
    require(not bad, f"{len(bad)} of {n_rows(table)} rows have CRE MIP above an incomplete "
                     "certifier's CRE: " + "; ".join(bad))
    known = sum(1 for _, _, c in rows(table) if c["CRE MIP"] is not None)
    return f"CRE MIP <= min(CRE Lin, CRE IBP) in all {known} rows with an exact MIP value"


@table3_6.check(kind="numeric", subject=acb_one_shot, control=acb_wrong, tolerance=0.1,
                control_label="eps CRE/100 (the uncertified fraction)")
def table3_6_acb_one_shot(formula: Callable[[float, float], float]) -> str:
    """The one-shot ACB is eps times the certified fraction (in >= 90% of the cells)."""
    return _acb_formula_check(TABLE_3_6)(formula)


@table3_6.check(kind="numeric", subject=TABLE_3_6, control=with_cells(TABLE_3_6,
                ACB_CORRECTED_3_6), refutes=True, tolerance=6.5e-5,
                control_label="the off cell recomputed (must not be refuted)")
def table3_6_acb_printed(table: ResultTable) -> str:
    """Refutation: every one-shot ACB cell equals eps (1 - CRE/100) within rounding."""
    return _acb_printed_check(table)


BEST_3_6: tuple[Score, ...] = ((("CRE MIP",), True),)


@table3_6.check(kind="numeric", subject=BEST_3_6, control=((("CRE Lin",), True),),
                control_label="best CRE Lin (not claimed for l_inf)", tolerance=0.0)
def table3_6_per_best(scores: Sequence[Score]) -> str:
    """A PER method has the lowest CRE MIP of the provably robust methods in every block."""
    return _best_check(TABLE_3_6)(scores)


# ---------------------------------------------------------------------------------------------
# Table 3.7: ReLU, l_2

ORDER_3_7: tuple[tuple[str, str], ...] = (
    ("CTE", "PGD"), ("PGD", "CRE Lin"), ("PGD", "CRE IBP"), ("ACB Lin", "ACB PEC"),
)
ACB_CORRECTED_3_7: dict[tuple[str, str, str], Cell] = {
    ("MNIST CNN l_2", "IBP", "ACB Lin"): 0.1466,
    ("CIFAR10 CNN l_2", "L-PER", "ACB Lin"): 0.0366,
    ("CIFAR10 CNN l_2", "I-PER+at", "ACB Lin"): 0.0527,
}

table3_7 = CLAIMS.claim(
    "thesis3.table3_7",
    title="ReLU nets under l_2 attacks: the results of Table 3.7 are consistent",
    sources=("003 Table 3.7 and the text around it (Sec. 3.3.4)",),
    kind="remark",
    statement=r"""
Table 3.7 reports the same quantities as Table 3.6 for $l_2$ attacks (MNIST FC1 and CNN at
$\epsilon = 0.3$, CIFAR10 CNN at $\epsilon = 0.1$), without MIP. "For $l_2$ attacks, [our
methods] also achieve the best estimated verified accuracy, calculated by the Fast-Lin / KW /
PEC certifier (CRE Lin), in all cases." ACB Lin and ACB IBP are one-shot bounds.""",
    erratum=Erratum(
        printed=r"\text{ACB Lin} = 0.1534,\ 0.0369,\ 0.0528",
        problem=(
            "ACB = eps (1 - CRE/100) holds in 63 of the 66 one-shot ACB cells. MNIST CNN IBP "
            "prints ACB Lin 0.1534 where CRE Lin 51.12 gives 0.1466 (or CRE Lin should be "
            "48.87); CIFAR10 CNN L-PER 0.0369 vs 0.0366; CIFAR10 CNN I-PER+at 0.0528 vs 0.0527, "
            "beyond the 5.5e-5 that rounding allows (check table3_7_acb_printed)."
        ),
        corrected=r"\text{ACB Lin} = 0.1466,\ 0.0366,\ 0.0527",
    ),
)


@table3_7.check(kind="numeric", subject=ORDER_3_7, control=reversed_first(ORDER_3_7),
                control_label="PGD <= CTE (the first relation turned round)", tolerance=0.0)
def table3_7_ordering(pairs: Pairs) -> str:
    """CTE <= PGD <= CRE Lin, CRE IBP and ACB Lin <= ACB PEC on all 33 rows of Table 3.7."""
    return _ordering_check(TABLE_3_7)(pairs)


@table3_7.check(kind="numeric", subject=acb_one_shot, control=acb_wrong, tolerance=0.1,
                control_label="eps CRE/100 (the uncertified fraction)")
def table3_7_acb_one_shot(formula: Callable[[float, float], float]) -> str:
    """The one-shot ACB is eps times the certified fraction (in >= 90% of the cells)."""
    return _acb_formula_check(TABLE_3_7)(formula)


@table3_7.check(kind="numeric", subject=TABLE_3_7, control=with_cells(TABLE_3_7,
                ACB_CORRECTED_3_7), refutes=True, tolerance=6.5e-5,
                control_label="the off cells recomputed (must not be refuted)")
def table3_7_acb_printed(table: ResultTable) -> str:
    """Refutation: every one-shot ACB cell equals eps (1 - CRE/100) within rounding."""
    return _acb_printed_check(table)


@table3_7.check(kind="numeric", subject=((("CRE Lin",), True),),
                control=((("CRE IBP",), True),),
                control_label="best CRE IBP (IBP-trained nets win there)", tolerance=0.0)
def table3_7_per_best(scores: Sequence[Score]) -> str:
    """A PER method has the lowest CRE Lin of the provably robust methods in every block."""
    return _best_check(TABLE_3_7)(scores)


# ---------------------------------------------------------------------------------------------
# Table 3.8: sigmoid and tanh FC1

ORDER_3_8: tuple[tuple[str, str], ...] = (
    ("CTE", "PGD"), ("PGD", "CRE CRO"), ("PGD", "CRE IBP"), ("ACB CRO", "ACB PEC"),
)
ACB_CORRECTED_3_8: dict[tuple[str, str, str], Cell] = {
    ("MNIST FC1 sigmoid l_2", "at", "ACB IBP"): 0.0425,
    ("MNIST FC1 sigmoid l_2", "C-IBP", "ACB CRO"): 0.2809,
    ("MNIST FC1 tanh l_2", "IBP", "ACB IBP"): 0.2687,
}
#: Table 3.8 columns under their Table 3.6/3.7 names (CROWN = Fast-Lin on ReLU nets)
SAME_AS = {"CRE CRO": "CRE Lin", "ACB CRO": "ACB Lin"}
#: a fully uncertified model prints these in many rows; they say nothing about copying
TRIVIAL = (0.0, 100.0)
DUPLICATE_CELLS = 3


def shared_cells(table: ResultTable, references: Sequence[ResultTable]
                 ) -> list[tuple[int, str]]:
    """For every row of ``table`` and every row of a reference table at the same norm and
    budget: ``(number of equal non-trivial cells, description)``, most shared first."""
    out = []
    for block, method, cell in rows(table):
        for ref in references:
            for rblock, rmethod, rcell in rows(ref):
                if norm(rblock) != norm(block) or not math.isclose(rblock.eps, block.eps):
                    continue
                same = [c for c, v in cell.items()
                        if v is not None and v not in TRIVIAL and rcell.get(SAME_AS.get(c, c)) == v]
                out.append((len(same), f"{block.title} {method} = {ref.name} {rblock.title} "
                                       f"{rmethod} in {', '.join(same)}"))
    return sorted(out, key=lambda x: -x[0])


table3_8 = CLAIMS.claim(
    "thesis3.table3_8",
    title="Sigmoid and tanh nets: the results of Table 3.8 are consistent",
    sources=("003 Table 3.8 and the text around it (Sec. 3.3.4)",),
    kind="remark",
    statement=r"""
Table 3.8 reports 8 training schemes on MNIST FC1 with sigmoid or tanh activations,
$\epsilon = 0.1$ ($l_\infty$) and $0.3$ ($l_2$); CROWN's certified error and bound (CRE CRO,
ACB CRO) replace Fast-Lin's. "Our proposed methods have the best performance in all cases, in
terms of both certified robust error and average certified bound." """,
    erratum=Erratum(
        printed=r"\text{sigmoid } l_2 \text{ C-IBP: CRE CRO } 6.36,\ \text{CRE IBP } 8.73,\ "
                r"\text{ACB CRO } 0.2709,\ \text{ACB IBP } 0.2738",
        problem=(
            "The sigmoid l_2 C-IBP row shares CRE 6.36, CRE IBP 8.73 and ACB IBP 0.2738 with "
            "Table 3.7's ReLU MNIST FC1 l_2 CROWN-IBP row; no other pair of rows at the same "
            "norm and budget shares more than one non-trivial cell (check "
            "table3_8_duplicate_row). Its ACB CRO 0.2709 is 0.01 below that row's 0.2809, "
            "which is what eps (1 - 6.36/100) gives. The row is most likely copied and is not "
            "a measurement of the sigmoid net. ACB = eps (1 - CRE/100) fails in 3 of 64 cells: "
            "that one, sigmoid l_2 at ACB IBP 0.0422 vs 0.0425, and tanh l_2 IBP ACB IBP "
            "0.2688 vs 0.2687 (check table3_8_acb_printed)."
        ),
        corrected=r"\text{sigmoid } l_2 \text{ C-IBP: unknown (copied row)};\ "
                  r"\text{ACB IBP } 0.0425,\ 0.2687",
    ),
)


@table3_8.check(kind="numeric", subject=ORDER_3_8, control=reversed_first(ORDER_3_8),
                control_label="PGD <= CTE (the first relation turned round)", tolerance=0.0)
def table3_8_ordering(pairs: Pairs) -> str:
    """CTE <= PGD <= CRE CRO, CRE IBP and ACB CRO <= ACB PEC on all 32 rows of Table 3.8."""
    return _ordering_check(TABLE_3_8)(pairs)


@table3_8.check(kind="numeric", subject=acb_one_shot, control=acb_wrong, tolerance=0.1,
                control_label="eps CRE/100 (the uncertified fraction)")
def table3_8_acb_one_shot(formula: Callable[[float, float], float]) -> str:
    """The one-shot ACB is eps times the certified fraction (in >= 90% of the cells)."""
    return _acb_formula_check(TABLE_3_8)(formula)


@table3_8.check(kind="numeric", subject=TABLE_3_8, control=with_cells(TABLE_3_8,
                ACB_CORRECTED_3_8), refutes=True, tolerance=6.5e-5,
                control_label="the off cells recomputed (must not be refuted)")
def table3_8_acb_printed(table: ResultTable) -> str:
    """Refutation: every one-shot ACB cell equals eps (1 - CRE/100) within rounding."""
    return _acb_printed_check(table)


@table3_8.check(kind="numeric", subject=TABLE_3_8,
                control=without_row(TABLE_3_8, "MNIST FC1 sigmoid l_2", "C-IBP"), refutes=True,
                control_label="the copied row left out (must not be refuted)", tolerance=0.0)
def table3_8_duplicate_row(table: ResultTable) -> str:
    """Refutation: no row shares 3 or more non-trivial cells with a Table 3.6/3.7 row of the
    same norm and budget (a different activation cannot give the same 3 numbers)."""
    pairs = shared_cells(table, (TABLE_3_6, TABLE_3_7))
    dup = [d for k, d in pairs if k >= DUPLICATE_CELLS]
    require(not dup, f"{len(dup)} row(s) share >= {DUPLICATE_CELLS} cells: " + "; ".join(dup)
                     + f"; the next most similar of {len(pairs)} pairs shares "
                       f"{pairs[len(dup)][0]}")
    return f"{len(pairs)} row pairs compared; at most {pairs[0][0]} non-trivial cell(s) shared"


BEST_3_8: tuple[Score, ...] = ((("CRE CRO", "CRE IBP"), True),
                               (("ACB CRO", "ACB IBP", "ACB PEC"), False))


@table3_8.check(kind="numeric", subject=BEST_3_8, control=((("CRE IBP",), True),),
                control_label="best CRE IBP alone (IBP-trained nets win there)", tolerance=0.0)
def table3_8_per_best(scores: Sequence[Score]) -> str:
    """A PER method has the lowest certified error (best certifier) and the largest ACB (best
    certifier) of the provably robust methods in every block."""
    return _best_check(TABLE_3_8)(scores)


# ---------------------------------------------------------------------------------------------
# Table 3.9: bound computations, Fast-Lin's bisection vs PEC (Alg. 3.5)


def t_lin_ceil(width: float, delta: float) -> int:
    """Bisection steps to shrink ``width`` below ``delta``: ``ceil(log2(width / delta))``."""
    return math.ceil(math.log2(width / delta))


def t_lin_floor(width: float, delta: float) -> int:
    """Negative control: ``floor`` instead of ``ceil``."""
    return math.floor(math.log2(width / delta))


def delta_interval(table: Mapping[str, Mapping[str, object]] = TABLE_3_9) -> tuple[float, float]:
    """The precisions ``eps_Delta`` consistent with every printed T_Lin: ``[lo, hi)``."""
    lo = max(r["width"] / 2 ** r["T_Lin"] for r in table.values())
    hi = min(r["width"] / 2 ** (r["T_Lin"] - 1) for r in table.values())
    return lo, hi


def ratio_of(t_pec: float, t_lin: float) -> float:
    """The ratio column as captioned: ``T_PEC / T_Lin``."""
    return t_pec / t_lin


def ratio_inverted(t_pec: float, t_lin: float) -> float:
    """Negative control: ``T_Lin / T_PEC``."""
    return t_lin / t_pec


def mean_saving(setting: str, table: Mapping[str, Mapping[str, object]] = TABLE_3_9) -> float:
    """``1 - mean(T_PEC) / T_Lin`` over the 7 models of a setting."""
    row = table[setting]
    t_pec = [t for t, _ in row["rows"].values()]
    return 1 - sum(t_pec) / len(t_pec) / row["T_Lin"]


def stated_saving(setting: str, stated: Mapping[str, float]) -> float:
    """The saving a statement gives for a setting: by "FC1 l_2" etc., else "FC1" / "CNN"."""
    net, p = setting.split("-")[1].split(" ")
    return stated.get(f"{net} {p}", stated.get(net, math.nan))


table3_9 = CLAIMS.claim(
    "thesis3.table3_9",
    title="Bound computations for the optimal epsilon, Fast-Lin vs PEC (Table 3.9)",
    sources=("003 Table 3.9 and the text before it (Sec. 3.3.4)", "003 Alg. 3.5"),
    kind="remark",
    statement=r"""
Binary search in Fast-Lin needs $T_{Lin} = \lceil\log_2\frac{\bar\epsilon -
\underline\epsilon}{\epsilon_\Delta}\rceil$ bound computations on the initial intervals
$[0, 0.4]$ (MNIST) and $[0, 0.1]$ (CIFAR10) for $l_\infty$, $[0, 1.2]$ and $[0, 0.4]$ for $l_2$;
PEC needs $T_{PEC}$ on average, and the table prints $T_{PEC}/T_{Lin}$. "PEC can save
approximately 25% of the running time for FC1 models and 10% of the running time for CNN
models." """,
    erratum=Erratum(
        printed=r"\text{saving} \approx 25\%\ \text{(FC1)},\ \approx 10\%\ \text{(CNN)};\ "
                r"T_{PEC} = 9.12,\ T_{PEC}/T_{Lin} = 0.9128",
        problem=(
            "Averaged over the 7 models, PEC saves 24.4% (FC1, l_inf) but 36.3% (FC1, l_2), "
            "11 points more than stated; the CNN settings save 6.7% (MNIST, l_inf), 10.1% "
            "(MNIST, l_2), 13.3% and 13.3% (CIFAR10), within 5 points of 10% "
            "(check table3_9_saving). CIFAR10 l_inf at prints T_PEC 9.12 and ratio 0.9128; "
            "0.9128 x 10 = 9.128 rounds to 9.13, so one of the two cells is off (the other 41 "
            "ratios agree within rounding; check table3_9_ratio_rounding)."
        ),
        corrected=r"\text{saving} \approx 25\%\ \text{(FC1, } l_\infty),\ \approx 35\%\ "
                  r"\text{(FC1, } l_2),\ \approx 10\%\ \text{(CNN)};\ "
                  r"T_{PEC} = 9.13\ \text{(CIFAR10 } l_\infty\text{, at)}",
    ),
)


@table3_9.check(kind="numeric", subject=t_lin_ceil, control=t_lin_floor,
                control_label="floor(log2(width / 1e-4))", tolerance=0.0)
def table3_9_t_lin(steps: Callable[[float, float], int]) -> str:
    """Every printed T_Lin equals the bisection count with eps_Delta = 1e-4."""
    parts = []
    for setting, row in TABLE_3_9.items():
        got = steps(row["width"], EPS_DELTA)
        require(got == row["T_Lin"], f"{setting}: width {row['width']} gives {got}, "
                                     f"printed T_Lin {row['T_Lin']}")
        parts.append(f"{setting} {got}")
    lo, hi = delta_interval()
    return (f"T_Lin = {', '.join(parts)}; the printed T_Lin fit exactly the eps_Delta in "
            f"[{lo:.3g}, {hi:.3g})")


def ratio_deviations(table: Mapping[str, Mapping[str, object]],
                     ratio: Callable[[float, float], float] = ratio_of
                     ) -> list[tuple[float, float, str]]:
    """Per cell ``(|ratio(T_PEC, T_Lin) - printed ratio|, rounding bound, where)``.

    The bound is what printing allows: ``0.005 / T_Lin`` (T_PEC has two decimals) plus
    ``5e-5`` (the ratio has four)."""
    out = []
    for setting, row in table.items():
        for method, (t_pec, printed) in row["rows"].items():
            out.append((abs(ratio(t_pec, row["T_Lin"]) - printed),
                        0.005 / row["T_Lin"] + 0.5e-4, f"{setting} {method}"))
    return out


def with_t_pec(table: Mapping[str, Mapping[str, object]], setting: str, method: str,
               t_pec: float) -> dict[str, dict[str, object]]:
    """A copy of Table 3.9 with one T_PEC replaced (corrected forms and tests)."""
    out = {k: {**v, "rows": dict(v["rows"])} for k, v in table.items()}
    out[setting]["rows"][method] = (t_pec, out[setting]["rows"][method][1])
    return out


@table3_9.check(kind="numeric", subject=ratio_of, control=ratio_inverted,
                control_label="T_Lin / T_PEC", tolerance=RATIO_TOLERANCE)
def table3_9_ratio(ratio: Callable[[float, float], float]) -> str:
    """The ratio column is T_PEC / T_Lin within 1e-3 (a 0.01 slip in T_PEC at T_Lin = 10),
    and PEC needs fewer bound computations than Fast-Lin for every model."""
    for setting, row in TABLE_3_9.items():
        for method, (t_pec, _) in row["rows"].items():
            value = ratio(t_pec, row["T_Lin"])
            require(value < 1, f"{setting} {method}: ratio {value:.4f} >= 1 (no saving)")
    devs = ratio_deviations(TABLE_3_9, ratio)
    worst = max(devs)
    require(worst[0] <= RATIO_TOLERANCE, f"ratio off by {worst[0]:.2g} at {worst[2]}")
    return f"{len(devs)} ratios, all < 1; worst deviation {worst[0]:.1e} ({worst[2]})"


@table3_9.check(kind="numeric", subject=TABLE_3_9, refutes=True, tolerance=5.5e-4,
                control=with_t_pec(TABLE_3_9, "CIFAR10-CNN l_inf", "at", 9.13),
                control_label="CIFAR10 l_inf at with T_PEC 9.13 (must not be refuted)")
def table3_9_ratio_rounding(table: Mapping[str, Mapping[str, object]]) -> str:
    """Refutation: every printed ratio equals T_PEC / T_Lin up to the rounding of both."""
    devs = ratio_deviations(table)
    bad = [f"{w}: {d:.1e} > {b:.1e}" for d, b, w in devs if d > b]
    require(not bad, f"{len(bad)} of {len(devs)} ratios differ from T_PEC / T_Lin by more than "
                     "rounding: " + "; ".join(bad))
    return f"all {len(devs)} ratios within rounding of T_PEC / T_Lin"


@table3_9.check(kind="numeric", subject=SAVING_PRINTED, control=SAVING_CORRECTED, refutes=True,
                control_label="25% FC1 l_inf, 35% FC1 l_2, 10% CNN (must not be refuted)",
                tolerance=SAVING_TOLERANCE)
def table3_9_saving(stated: Mapping[str, float]) -> str:
    """Refutation: the stated saving is within 5 points of the mean saving of every setting."""
    parts, bad = [], []
    for setting in TABLE_3_9:
        got, want = mean_saving(setting), stated_saving(setting, stated)
        parts.append(f"{setting} {got:.1%} (stated {want:.0%})")
        if not abs(got - want) <= SAVING_TOLERANCE:
            bad.append(parts[-1])
    require(not bad, f"{len(bad)} of {len(parts)} settings off by more than 5 points: "
                     + "; ".join(bad))
    return "mean savings " + "; ".join(parts)


# ---------------------------------------------------------------------------------------------
# Table 3.4 (003 Sec. 3.3.3): the complexity of the methods on an L-layer net with K outputs,
# M inputs and n neurons per hidden layer, n >> max(K, M); PGD runs h << n iterations.

_L, _n, _M, _K, _h = sp.symbols("L n M K h", positive=True)

#: Table 3.4 as printed (LaTeX of the "Complexity" column).
TABLE_3_4: dict[str, str] = {
    "PGD [98]": r"\mathcal{O}(Ln^2)",
    "Fast-Lin [154] / CROWN [180]": r"\mathcal{O}(L^2n^3)",
    "KW [157]": r"\mathcal{O}(L^2n^3)",
    "MMR / MMR+at [29]": r"\mathcal{O}(LMn^2)",
    "IBP [55]": r"\mathcal{O}(Ln^2)",
    "CROWN-IBP [179]": r"\mathcal{O}(Ln^3)",
    "I-PER / I-PER+at (Ours)": r"\mathcal{O}(LMn^2)",
    "L-PER / L-PER+at (Ours)": r"\mathcal{O}(L^2n^3)",
}

#: The costs the text of Sec. 3.3.3 gives for the parts of each method, with its words.
TEXT_3_4: dict[str, tuple[tuple[str, str], ...]] = {
    "PGD [98]": (("Ln^2h", "the FLOP complexity of PGD [98] with h iterations is O(Ln^2h)"),),
    "Fast-Lin [154] / CROWN [180]": (
        ("L^2n^3", "needs O(L^2n^3) FLOPS to obtain the linear bounds of the output logits"),),
    "KW [157]": (("L^2n^3", "with the linear approximation dominating the complexity"),
                 ("Ln^2", "KW needs a back-propagation which costs O(Ln^2) FLOPs")),
    "MMR / MMR+at [29]": (
        ("LMn^2", "the complexity to calculate the expression of the input's linear region"),
        ("LMn", "the distances between the input and O(Ln) hyper-planes, costing O(LMn)")),
    "IBP [55]": (("Ln^2", "IBP [55], whose complexity is O(Ln^2)"),),
    "CROWN-IBP [179]": (
        ("Ln^2", "the bounds of all intermediate layers are estimated by IBP, which costs"),
        ("Ln^3", "The last layer's bound is then estimated in the same way as CROWN")),
    "I-PER / I-PER+at (Ours)": (
        ("LMn^2", "dominated by the IBP-inspired bound of the output logits"),),
    "L-PER / L-PER+at (Ours)": (("L^2n^3", "the complexity of LA-inspired L-PER"),),
}

#: What the text of Sec. 3.3.3 says about the order of the entries: (smaller, larger) means
#: "smaller" is o("larger"); a pair of equal entries is "the same complexity".
SMALLER_3_4: tuple[tuple[str, str], ...] = (("I-PER / I-PER+at (Ours)", "CROWN-IBP [179]"),)
EQUAL_3_4: tuple[tuple[str, str], ...] = (
    ("L-PER / L-PER+at (Ours)", "Fast-Lin [154] / CROWN [180]"),
    ("L-PER / L-PER+at (Ours)", "KW [157]"),
)

#: The regime of the table: h a constant, M and K far below n (here sqrt(n)).
REGIME_3_4 = {_h: sp.Integer(1), _M: sp.sqrt(_n), _K: sp.sqrt(_n)}


def order_expr(text: str) -> sp.Expr:
    """``"\\mathcal{O}(L^2n^3)"`` or ``"LMn^2"`` as the sympy monomial ``L**2*M*n**3``."""
    body = re.sub(r"^\\mathcal\{O\}\((.*)\)$", r"\1", text.strip())
    if not re.fullmatch(r"(?:[LnMKh](?:\^\d+)?)+", body):
        raise ValueError(f"not a monomial in L, n, M, K, h: {text!r}")
    symbols = {"L": _L, "n": _n, "M": _M, "K": _K, "h": _h}
    return sp.Mul(*(symbols[s] ** int(e or 1)
                    for s, e in re.findall(r"([LnMKh])(?:\^(\d+))?", body)))


def order_ratio(expr: sp.Expr, entry: sp.Expr) -> sp.Expr:
    """``lim_{L -> oo} lim_{n -> oo} expr / entry`` in the regime of the table."""
    inner = sp.limit(sp.simplify((expr / entry).subs(REGIME_3_4)), _n, sp.oo)
    return sp.limit(inner, _L, sp.oo)


def table3_4_kw_backprop() -> dict[str, str]:
    """Negative control: Table 3.4 with KW at the back-propagation cost the text names."""
    return {**TABLE_3_4, "KW [157]": r"\mathcal{O}(Ln^2)"}


def text_mismatches(table: Mapping[str, str]) -> list[str]:
    """Rows whose entry is not the dominant part of the text's costs (ratio not a positive
    constant), and text comparisons the entries contradict."""
    bad = []
    for method, parts in TEXT_3_4.items():
        entry = order_expr(table[method])
        ratio = order_ratio(sp.Add(*(order_expr(p) for p, _ in parts)), entry)
        if not (ratio.is_positive and ratio.is_finite):
            bad.append(f"{method}: text / table -> {ratio}")
    for small, large in SMALLER_3_4:
        if order_ratio(order_expr(table[small]), order_expr(table[large])) != 0:
            bad.append(f"{small} is not o({large})")
    for a, b in EQUAL_3_4:
        if order_expr(table[a]) != order_expr(table[b]):
            bad.append(f"{a} != {b}")
    return bad


table3_4 = CLAIMS.claim(
    "thesis3.table3_4",
    title="Table 3.4: complexities of the methods; CROWN-IBP is O(L K n^2), the order of I-PER",
    sources=("003 Table 3.4 and Sec. 3.3.3", "[94] (TNNLS 2021)"),
    kind="remark",
    statement=r"""
On an $L$-layer net with $M$ inputs, $K$ outputs and $n \gg \max(K, M)$ neurons per hidden
layer, PGD ($h \ll n$ steps) and IBP cost $\mathcal O(Ln^2)$, Fast-Lin / CROWN, KW and L-PER
$\mathcal O(L^2n^3)$, MMR and I-PER $\mathcal O(LMn^2)$, and CROWN-IBP $\mathcal O(Ln^3)$, so
I-PER is cheaper than CROWN-IBP "because $M \ll n$".""",
    erratum=Erratum(
        printed=r"\text{CROWN-IBP: } \mathcal O(Ln^3) \text{, above I-PER's } \mathcal O(LMn^2)",
        problem="Sec. 3.3.3 describes CROWN-IBP as IBP bounds for every intermediate layer "
                "plus one CROWN pass for the last layer, and Sec. 3.3.1 describes the "
                "IBP-inspired bounds of I-PER as IBP bounds for the intermediate layers plus "
                "the linear relaxation of the activations to bound the outputs: the same "
                "computation. Run backwards from the K output margins, that pass costs "
                "O(L K n^2); O(L n^3) would need it from n rows. In the book's library one call "
                "(bounds.linear_bounds with intermediate='ibp') is both, and its operation "
                "count grows like L n^2, not L n^3 (check table3_4_crown_ibp_printed).",
        corrected=r"\text{CROWN-IBP: } \mathcal O(LKn^2) \text{, the order of I-PER's } "
                  r"\mathcal O(LMn^2) \text{ up to } K \text{ vs } M",
    ),
)


@table3_4.check(kind="symbolic", subject=TABLE_3_4, control=table3_4_kw_backprop(),
                control_label="KW at the O(Ln^2) of its back-propagation")
def table3_4_text(table: Mapping[str, str]) -> str:
    """Sympy, h = 1 and M = K = sqrt(n): every entry is the dominant part of the costs the
    text gives for the method (their sum over the entry tends to a positive constant as
    n -> oo, then L -> oo), I-PER is o(CROWN-IBP), and L-PER has Fast-Lin's and KW's entry."""
    bad = text_mismatches(table)
    require(not bad, "; ".join(bad))
    return (f"all {len(TABLE_3_4)} entries dominate the text's costs; I-PER = o(CROWN-IBP); "
            "L-PER = Fast-Lin = KW")


# Operation counts of the book's implementations: matrix-product FLOPs on one input, M = 3,
# K = 4, as exact polynomials in L and n.

COUNT_M, COUNT_K = 3, 4
COUNT_LS, COUNT_NS = (2, 3, 4, 5, 6), (2, 3, 4, 5)


def matmul_flops(fn: Callable[[], object]) -> int:
    """The FLOPs of the matrix products that ``fn()`` runs in torch: ``2 m k n`` for every
    ``(m, k) x (k, n)`` product of ``mm``, ``addmm``, ``bmm`` (times the batch), ``baddbmm``,
    ``mv``, ``addmv`` and ``dot`` (torch's ``FlopCounterMode`` counts the same, without the
    matrix-vector products, through a slower dispatch path)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    aten = torch.ops.aten
    total = 0

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
            nonlocal total
            packet = func.overloadpacket
            if packet in (aten.mm, aten.addmm, aten.bmm, aten.baddbmm):
                a, b = args[-2], args[-1]
                total += 2 * math.prod(a.shape) * b.shape[-1]
            elif packet in (aten.mv, aten.addmv, aten.dot):
                total += 2 * math.prod(args[-2].shape)
            return func(*args, **(kwargs or {}))

    with Count():
        fn()
    return total


def count_polynomial(count: Callable[[int, int], int], Ls: Sequence[int] = COUNT_LS,
                     ns: Sequence[int] = COUNT_NS, degree: int = 3) -> sp.Expr:
    """The polynomial ``P(L, n)`` of degree <= ``degree`` in each variable with
    ``P(L, n) = count(L, n)`` on the grid ``Ls x ns``, solved in exact rational arithmetic;
    ``ValueError`` when no such polynomial fits every grid point (the count is not one)."""
    monomials = [_L ** i * _n ** j for i in range(degree + 1) for j in range(degree + 1)]
    points = [(a, b) for a in Ls for b in ns]
    if len(points) <= len(monomials):
        raise ValueError(f"{len(points)} grid points cannot test {len(monomials)} coefficients")
    A = sp.Matrix([[m.subs({_L: a, _n: b}) for m in monomials] for a, b in points])
    v = sp.Matrix([count(a, b) for a, b in points])
    coeffs = (A.T * A).LUsolve(A.T * v)
    if A * coeffs != v:
        raise ValueError("the count is not a polynomial of that degree on the grid")
    return sp.expand(sum(c * m for c, m in zip(coeffs, monomials, strict=True)))


def leading_order(poly: sp.Expr) -> tuple[int, int]:
    """``(deg_L, deg_n)`` of the part of ``poly`` that dominates for n >> L >> 1: the highest
    power of n, then the highest power of L in its coefficient."""
    p = sp.Poly(poly, _n)
    deg_n = p.degree()
    return sp.Poly(p.LC(), _L).degree(), deg_n


def entry_order(text: str) -> tuple[int, int]:
    """``(deg_L, deg_n)`` of a table entry with M, K, h constants (as in the counts)."""
    expr = order_expr(text).subs({_M: 1, _K: 1, _h: 1})
    return sp.degree(expr, _L), sp.degree(expr, _n)


def _count_net(L: int, n: int):  # noqa: ANN202 (layers, x, y, spec)
    import torch

    from advproof import bounds
    from advproof.symbolic.thesis_verify import random_mlp

    layers = random_mlp([COUNT_M] + [n] * (L - 1) + [COUNT_K], seed=0)
    x = torch.zeros(1, COUNT_M, dtype=torch.float64)
    y = torch.zeros(1, dtype=torch.long)
    return layers, x, y, bounds.margin_spec(y, COUNT_K)


def _kw_step(L: int, n: int) -> None:
    """One KW training step: worst-case CE on the linear margin bounds, back-propagated."""
    import torch

    from advproof import bounds

    layers, x, y, spec = _count_net(L, n)
    layers = [(W.requires_grad_(), b.requires_grad_()) for W, b in layers]
    low = bounds.linear_bounds(layers, x, 0.1, math.inf, spec=spec).lower
    torch.nn.functional.cross_entropy(-low, y).backward()


def _implementations() -> dict[str, Callable[[int, int], None]]:
    """The library code behind each row it implements (MMR is not in the library)."""
    import functools
    import warnings

    from advproof import attacks, bounds

    def run(method: str, L: int, n: int) -> None:
        layers, x, y, spec = _count_net(L, n)
        if method == "PGD [98]":  # one of the h iterations
            with warnings.catch_warnings():  # x = 0 may sit on dead units: no matter here
                warnings.simplefilter("ignore", attacks.ZeroInputGradientWarning)
                attacks.pgd(functools.partial(bounds.forward, layers), x, y, eps=0.1,
                            alpha=0.01, steps=1)
        elif method == "IBP [55]":
            bounds.interval_bounds(layers, x, 0.1, math.inf, spec=spec)
        elif method == "Fast-Lin [154] / CROWN [180]":
            bounds.linear_bounds(layers, x, 0.1, math.inf, spec=spec)
        elif method == "CROWN-IBP [179]":  # IBP intermediate bounds, one linear output pass
            bounds.linear_bounds(layers, x, 0.1, math.inf, spec=spec, intermediate="ibp")
        elif method.startswith(("I-PER", "L-PER")):
            bounds.per_loss(layers, x, y, 0.1, math.inf, alpha=0.15, beta=1.0,
                            intermediate="ibp" if method.startswith("I-") else "linear")
        else:
            raise ValueError(method)

    names = ("PGD [98]", "Fast-Lin [154] / CROWN [180]", "IBP [55]", "CROWN-IBP [179]",
             "I-PER / I-PER+at (Ours)", "L-PER / L-PER+at (Ours)")
    out: dict[str, Callable[[int, int], None]] = {
        m: functools.partial(run, m) for m in names}
    out["KW [157]"] = _kw_step
    return out


@functools.cache
def counted_polynomials() -> dict[str, sp.Expr]:
    """Per implemented row, the exact matrix-product FLOP count of the library as a polynomial
    in L (affine layers) and n (hidden width), M = 3 inputs, K = 4 outputs, one input."""
    from advproof.threads import single_thread

    with single_thread():
        return {m: count_polynomial(lambda L, n, fn=fn: matmul_flops(lambda: fn(L, n)))
                for m, fn in _implementations().items()}


def count_mismatches(table: Mapping[str, str], rows: Sequence[str]) -> list[str]:
    """Rows whose entry's (deg_L, deg_n) differs from the leading order of the counted FLOPs."""
    counted = counted_polynomials()
    return [f"{m}: table {entry_order(table[m])}, counted {leading_order(counted[m])}"
            for m in rows if entry_order(table[m]) != leading_order(counted[m])]


def _leading_terms(rows: Sequence[str]) -> str:
    counted = counted_polynomials()
    parts = []
    for m in rows:
        p = sp.Poly(counted[m], _n)
        parts.append(f"{m.split(' [')[0].split(' (')[0]}: ({sp.factor(p.LC())}) n^{p.degree()}")
    return "; ".join(parts)


#: The rows the library implements, apart from CROWN-IBP (refuted below).
COUNTED_3_4: tuple[str, ...] = ("PGD [98]", "Fast-Lin [154] / CROWN [180]", "KW [157]",
                                "IBP [55]", "I-PER / I-PER+at (Ours)", "L-PER / L-PER+at (Ours)")


def table3_4_swapped() -> dict[str, str]:
    """Negative control: Table 3.4 with the Fast-Lin and IBP entries swapped."""
    return {**TABLE_3_4, "Fast-Lin [154] / CROWN [180]": TABLE_3_4["IBP [55]"],
            "IBP [55]": TABLE_3_4["Fast-Lin [154] / CROWN [180]"]}


@table3_4.check(kind="numeric", subject=TABLE_3_4, control=table3_4_swapped(), tolerance=0.0,
                control_label="Fast-Lin and IBP entries swapped")
def table3_4_counted(table: Mapping[str, str]) -> str:
    """Matrix-product FLOPs of the library (PGD per iteration, Fast-Lin, one KW training step
    with its back-propagation, IBP, I-PER and L-PER), fitted exactly by a polynomial in L and
    n on a 5 x 4 grid: its leading order for n >> L >> 1 is the entry's (M, K, h constant)."""
    bad = count_mismatches(table, COUNTED_3_4)
    require(not bad, "; ".join(bad))
    return "leading terms " + _leading_terms(COUNTED_3_4)


def crown_ibp_corrected() -> dict[str, str]:
    """The corrected entry: the output pass runs backwards from the K margins."""
    return {**TABLE_3_4, "CROWN-IBP [179]": r"\mathcal{O}(LKn^2)"}


@table3_4.check(kind="numeric", subject=TABLE_3_4, control=crown_ibp_corrected(), refutes=True,
                tolerance=0.0, control_label="CROWN-IBP at O(LKn^2) (must not be refuted)")
def table3_4_crown_ibp_printed(table: Mapping[str, str]) -> str:
    """Refutation: the CROWN-IBP entry against the counted FLOPs of IBP intermediate bounds
    plus one linear pass for the output margins (the same call as I-PER's envelope)."""
    bad = count_mismatches(table, ("CROWN-IBP [179]",))
    require(not bad, "; ".join(bad))
    return "leading term " + _leading_terms(("CROWN-IBP [179]",))
