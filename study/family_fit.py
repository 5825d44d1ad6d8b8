"""The family fit: the true function family fitted to a task's K support points.

It answers "do K points identify the task?" for every point of the study,
scored by the same protocols as the networks. A family is a linear combination
of basis functions (FunGenerator.Family.basis) given a few parameters it is
not linear in (frequencies, a wave's phase, its shape). Those are searched on
a grid over their ranges, every grid value a start, then the grid is narrowed
around each task's best value REFINE_ROUNDS times; the coefficients are the
least-squares solution at each candidate, and the candidate with the smallest
residual on the support points wins. Where the family is linear (lines,
quadratics, a sinusoid of known frequency) this is plain least squares.
A fit of a point's tasks takes up to half a minute: it checks for a signal
before each candidate (a few milliseconds).
"""
import itertools
from typing import Dict, Tuple

import numpy as np

from common import interrupts
import FunGenerator

GRID_POINTS = 65      # starts per searched parameter
# A wave's phase: a square wave fits K points only in a window between two of
# them, which a coarse grid can step over.
PHASE_GRID_POINTS = 257
REFINE_ROUNDS = 8     # each narrows every task's search to +-1 grid step around its best
REFINE_POINTS = 9     # values per searched parameter in a refinement round

Fitted = Tuple[Dict[str, np.ndarray], np.ndarray]   # (searched values, each [B]; coefficients [B, P, 1])


def solve(family: FunGenerator.Family, x: np.ndarray, y: np.ndarray, searched):
  """Least-squares coefficients [B, P, 1] and the residual MSE [B] at the searched values."""
  basis = family.basis(x, searched)
  coefficients = np.linalg.pinv(basis) @ y
  return coefficients, np.mean((basis @ coefficients - y) ** 2, axis=(1, 2))


def candidates(grids: Dict[str, np.ndarray], size: int):
  """Every combination of the grids' values (each grid [G] or per task [B, G]), as [B] arrays."""
  names = list(grids)
  columns = [np.broadcast_to(np.atleast_2d(grids[n]), (size, np.shape(grids[n])[-1]))
             for n in names]
  for index in itertools.product(*(range(c.shape[1]) for c in columns)):
    yield {n: c[:, i] for n, c, i in zip(names, columns, index)}


def fit(family_name: str, ranges: FunGenerator.TaskRanges, x: np.ndarray,
        y: np.ndarray) -> Fitted:
  """Fits the family to support points x, y [B, K, 1]."""
  family = FunGenerator.FAMILIES[family_name]
  size = len(x)
  bounds = family.searched(ranges)
  fixed = {n: np.full(size, float(b[0])) for n, b in bounds.items() if b[0] == b[1]}
  grids = {n: (np.arange(b[0], b[1] + 1.0) if n in family.discrete
               else np.linspace(b[0], b[1], PHASE_GRID_POINTS if n == 'phase' else GRID_POINTS))
           for n, b in bounds.items() if b[0] != b[1]}
  steps = {n: grid[1] - grid[0] for n, grid in grids.items() if n not in family.discrete}
  values, coefficients, best = dict(fixed), None, np.full(size, np.inf)
  for _ in range(REFINE_ROUNDS + 1):
    for candidate in candidates(grids, size):
      interrupts.check()
      searched = {**fixed, **candidate}
      solved, error = solve(family, x, y, searched)
      better = error < best
      best = np.where(better, error, best)
      values = {n: np.where(better, v, values.get(n, v)) for n, v in searched.items()}
      coefficients = solved if coefficients is None else np.where(
          better[:, None, None], solved, coefficients)
    if not steps:
      break
    # Narrow the continuous parameters around each task's best, within their
    # ranges; a discrete one keeps its best value.
    grids = {n: np.clip(values[n][:, None] + np.linspace(-s, s, REFINE_POINTS)[None],
                        *bounds[n]) for n, s in steps.items()}
    grids.update({n: values[n][:, None] for n in family.discrete if n in grids or n in values
                  if n not in fixed})
    steps = {n: 2 * s / (REFINE_POINTS - 1) for n, s in steps.items()}
  return values, coefficients


def predict(family_name: str, fitted: Fitted, x: np.ndarray) -> np.ndarray:
  """The fitted functions at x [B, N, 1]: [B, N, 1]."""
  searched, coefficients = fitted
  return FunGenerator.FAMILIES[family_name].basis(x, searched) @ coefficients
