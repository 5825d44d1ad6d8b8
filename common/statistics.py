"""Statistics over tasks: means with 95% intervals, medians and their
intervals, Wilson intervals for shares, divergence, and numbers for people."""
import math
from typing import Dict, List

import numpy as np

CI_Z = 1.96   # two-sided 95% normal quantile, as in the original evaluation


DIVERGENCE_FACTOR = 100   # a loss this many times its pre-update loss: the adaptation blew up


LARGE = 1000              # numbers from here on are written in scientific notation


TINY = 1e-6               # numbers below this are rounding error (an exact fit), written <1e-06


def readable(value: float) -> str:
  """Three significant figures; 1000 or more in scientific notation, below TINY
  as <1e-06; inf and nan as such."""
  if not math.isfinite(value):
    return str(value)
  if 0 < abs(value) < TINY:
    return f'<{TINY:g}'
  return f'{value:.2e}' if abs(value) >= LARGE else f'{value:.3g}'


def diverged(losses: np.ndarray) -> np.ndarray:
  """Which adaptations diverged, [S + 1, B] from per-task losses [S + 1, B] whose
  row 0 is before adaptation: a loss that is not finite or grew above
  DIVERGENCE_FACTOR times the task's pre-update loss. The factor is far above
  what noise or an ordinary bad fit does (the shipped models' worst
  non-diverging tasks end near 10 times) and far below a blow-up (1e3 to inf)."""
  with np.errstate(invalid='ignore'):
    return ~np.isfinite(losses) | (losses > DIVERGENCE_FACTOR * losses[0])


def mean_ci(values: np.ndarray) -> Dict[str, float]:
  """Mean and 95% CI half-width (1.96 std / sqrt(n)) of all the values (inf or nan if any is)."""
  if not values.size:
    return {'mean': math.nan, 'ci95': math.nan}
  with np.errstate(invalid='ignore', over='ignore'):
    return {'mean': float(np.mean(values)),
            'ci95': float(CI_Z * np.std(values) / math.sqrt(values.size))}


def wilson_interval(successes: int, n: int) -> List[float]:
  """95% Wilson score interval of a binomial proportion successes / n."""
  if n == 0:
    return [0.0, 1.0]
  p, z2 = successes / n, CI_Z ** 2
  centre = (p + z2 / (2 * n)) / (1 + z2 / n)
  half = CI_Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
  return [max(0.0, centre - half), min(1.0, centre + half)]


def median_interval(values: np.ndarray) -> List[float]:
  """Distribution-free 95% interval of the median of values [n]: the order
  statistics whose ranks bound the binomial(n, 1/2) count of values below it
  (normal approximation); non-finite values sort last, as failures."""
  ordered = np.sort(np.where(np.isnan(values), np.inf, values))
  n = ordered.size
  if n == 0:    # e.g. a shape no task of a small evaluation drew
    return [math.nan, math.nan]
  half = CI_Z * math.sqrt(n) / 2    # ranks (1-based) floor(n/2 - half), ceil(n/2 + half) + 1
  low, high = max(0, math.floor(n / 2 - half) - 1), min(n - 1, math.ceil(n / 2 + half))
  return [float(ordered[low]), float(ordered[high])]


def loss_statistics(losses: np.ndarray) -> List[Dict[str, float]]:
  """Per-step statistics of per-task losses, each named for what it is over.

  Args:
    losses: [num_steps + 1, num_tasks]; row 0 is before any inner step.
  Returns:
    one dict per step: `mean_all_tasks` and `ci95_all_tasks` (the paper's
    statistic, 1.96 std / sqrt(n); inf or nan once one task is), the
    `median_all_tasks` (a non-finite task counts as +inf), `n_diverged` (see
    `diverged`), `mean_not_diverged` and `ci95_not_diverged` over the others,
    and the counts of tasks whose loss ended above its pre-update value
    (`n_worse`, finite ones) or is not finite (`n_nonfinite`).
  """
  stats = []
  blown = diverged(losses)
  for step, row in enumerate(losses):
    is_finite = np.isfinite(row)
    with np.errstate(invalid='ignore'):   # non-finite tasks have their own count
      n_worse = int(np.sum(is_finite & (row > losses[0])))
    every, kept = mean_ci(row), mean_ci(row[~blown[step]])
    stats.append({
        'step': step,
        'mean_all_tasks': every['mean'], 'ci95_all_tasks': every['ci95'],
        'median_all_tasks': float(np.median(np.where(is_finite, row, np.inf))),
        'n_diverged': int(np.sum(blown[step])),
        'mean_not_diverged': kept['mean'], 'ci95_not_diverged': kept['ci95'],
        'n_worse': n_worse, 'n_nonfinite': int(row.size - is_finite.sum()),
        'n_tasks': int(row.size),
    })
  return stats


def rounded_to_interval(mean: float, ci95: float) -> str:
  """'mean ± ci95' with the half-width to one significant digit (two if it
  starts with 1) and the mean to the same decimal place."""
  if not (math.isfinite(mean) and math.isfinite(ci95)) or ci95 <= 0 or abs(mean) >= LARGE:
    return f'{readable(mean)} ± {readable(ci95)}'
  exponent = math.floor(math.log10(ci95))
  digits = 2 if f'{ci95:e}'.startswith('1') else 1
  places = max(0, digits - 1 - exponent)
  return f'{mean:.{places}f} ± {ci95:.{places}f}'


def summary_text(row: dict) -> str:
  """One step's statistics in words: the paper's mean over all tasks, or, when
  some tasks diverged, the mean over the others with the count and the mean over all."""
  plain = (f"{readable(row['mean_all_tasks'])} ± {readable(row['ci95_all_tasks'])} "
           f"(median {readable(row['median_all_tasks'])})")
  if not row['n_diverged']:
    return plain
  return (f"{readable(row['mean_not_diverged'])} ± {readable(row['ci95_not_diverged'])} on "
          f"{row['n_tasks'] - row['n_diverged']} tasks, {row['n_diverged']} diverged (mean over "
          f"all {readable(row['mean_all_tasks'])}, median {readable(row['median_all_tasks'])})")
