"""Verdicts over training seeds and test-step protocols, the sign tests behind
them and Holm's correction: what the study's tables and sentences state.

A point's MAML is meta-trained from several seeds (points.seeds_of); each
seed's model gets works_verdict (works, borderline, fails) on the 600 test
tasks. Over seeds a point *works* if every seed works, *fails* if every seed
fails, and is *borderline* otherwise (seeds or intervals straddle the
threshold). A verdict is read at one of STEP_PROTOCOLS: 1 test step (the
meta-training count), 20, or the count each model chose on validation tasks
(the headline).
"""
import dataclasses
import math
from typing import Dict, Hashable, List, Tuple

from study.points import (AXES, BASELINE_SEEDS, CANONICAL, seed_name, seeds_of,
                          sweep_name)
from study.protocols import (CHOSEN, FIGURE_K, FINAL_STEP, SIGN_TEST_LEVEL,
                             works_verdict)

# step protocol -> its name in tables; the first is the headline.
STEP_PROTOCOLS = {CHOSEN: 'steps chosen on validation', 1: '1 step', FINAL_STEP: '20 steps'}
HEADLINE = CHOSEN


def row(stats: Dict[str, dict], name: str, role: str, protocol: str = 'in_range',
        steps=HEADLINE, k: int = FIGURE_K) -> dict:
  """Statistics of a point's model at K=k and a step protocol (a count or CHOSEN)."""
  block = stats[name][str(k)][role]
  return block[CHOSEN][protocol] if steps == CHOSEN else block['protocols'][protocol][str(steps)]


def seed_names(stats: Dict[str, dict], name: str, role: str = 'maml') -> List[str]:
  """The points holding the role's model of each training seed of a
  distribution (the baseline: BASELINE_SEEDS; the paper's model: one)."""
  seeds = {'maml': seeds_of(name), 'pretrain': BASELINE_SEEDS, 'standard': (1,)}[role]
  return [n for n in (seed_name(name, s) for s in seeds) if n in stats]


@dataclasses.dataclass
class OverSeeds:
  """One point's verdicts over the seeds of its MAML at one protocol and step protocol."""
  per_seed: List[str]         # works_verdict per seed
  shares: List[float]         # fraction of tasks fit well per seed

  @property
  def n(self) -> int:
    return len(self.per_seed)

  def count(self, verdict: str) -> int:
    return self.per_seed.count(verdict)

  @property
  def verdict(self) -> str:
    if self.count('works') == self.n:
      return 'works'
    return 'fails' if self.count('fails') == self.n else 'borderline'

  @property
  def majority_works(self) -> bool:
    return self.count('works') > self.n / 2

  def text(self) -> str:
    """'works (5 of 5 seeds)', 'borderline (works 3, borderline 1, fails 1 of 5)'."""
    if self.verdict != 'borderline':
      return f'{self.verdict} ({self.n} of {self.n} seeds)'
    counts = ', '.join(f'{v} {self.count(v)}' for v in ('works', 'borderline', 'fails')
                       if self.count(v))
    return f'borderline ({counts} of {self.n})'

  def spread(self) -> str:
    """The seed spread of the share fit well: 'min-max%'."""
    low, high = 100 * min(self.shares), 100 * max(self.shares)
    return f'{low:.0f}%' if round(low) == round(high) else f'{low:.0f}-{high:.0f}%'


def over_seeds(stats: Dict[str, dict], name: str, protocol: str = 'in_range',
               steps=HEADLINE, k: int = FIGURE_K, role: str = 'maml') -> OverSeeds:
  rows = [row(stats, n, role, protocol, steps, k) for n in seed_names(stats, name, role)]
  return OverSeeds([works_verdict(r) for r in rows], [r['fraction_good'] for r in rows])


def distinct(names: List[str]) -> List[str]:
  """Each distribution once (an alias, e.g. amplitude_10 = Fig2, counts as its first name)."""
  return list(dict.fromkeys(CANONICAL.get(n, n) for n in names))


def aliases_of(name: str) -> List[str]:
  """The other names of a distribution (Fig2: amplitude_10)."""
  return [n for n, c in CANONICAL.items() if c == CANONICAL.get(name, name) and n != name]


def sign_test_p(wins: int, n: int) -> float:
  """One-sided sign test: P(X >= wins) for X ~ Binomial(n, 1/2)."""
  if wins <= 0:
    return 1.0
  log_half = n * math.log(0.5)
  terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + log_half
           for i in range(wins, n + 1)]
  top = max(terms)
  return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def beats_p(r: dict, key: str = 'fraction_beating_baseline') -> float:
  """The sign test's p-value of a row's paired comparison (ties and failures
  on both sides count against it)."""
  return sign_test_p(round(r[key] * r['n_tasks']), r['n_tasks'])


def holm(pvalues: Dict[Hashable, float], level: float = SIGN_TEST_LEVEL) -> set:
  """The keys whose null hypothesis Holm's step-down procedure rejects at `level`
  over all the tests given (family-wise error rate)."""
  rejected = set()
  ordered = sorted(pvalues, key=pvalues.get)
  for i, key in enumerate(ordered):
    if pvalues[key] > level / (len(ordered) - i):
      break
    rejected.add(key)
  return rejected


def boundary(stats: Dict[str, dict], axis: str, protocol: str = 'in_range', steps=HEADLINE,
             rule: str = 'every') -> Tuple[int, int]:
  """(index of the last magnitude up to which MAML works, every magnitude from
  the paper's on, for every seed ('every') or a majority ('majority'), or -1;
  the number of magnitudes)."""
  magnitudes = AXES[axis].magnitudes
  last = -1
  for i, m in enumerate(magnitudes):
    verdict = over_seeds(stats, sweep_name(axis, m), protocol, steps)
    if not (verdict.verdict == 'works' if rule == 'every' else verdict.majority_works):
      break
    last = i
  return last, len(magnitudes)


def boundary_text(stats: Dict[str, dict], axis: str, protocol: str = 'in_range',
                  steps=HEADLINE, rule: str = 'every') -> str:
  """boundary in words: 'up to 20 (not 40)', 'whole sweep (to 80)', 'only the
  paper's (not 0.05)', 'not even the paper's'."""
  magnitudes = AXES[axis].magnitudes
  last, n = boundary(stats, axis, protocol, steps, rule)
  if last == n - 1:
    return f'whole sweep (to {magnitudes[-1]:g})'
  if last < 0:
    return "not even the paper's"
  if last == 0:
    return f"only the paper's (not {magnitudes[1]:g})"
  return f'up to {magnitudes[last]:g} (not {magnitudes[last + 1]:g})'


def split_points(stats: Dict[str, dict], names: List[str], protocol: str = 'in_range',
                 steps=HEADLINE) -> List[str]:
  """The distributions whose seeds do not all give the same verdict."""
  return [n for n in distinct(names)
          if len(set(over_seeds(stats, n, protocol, steps).per_seed)) > 1]


def widest_gap(stats: Dict[str, dict], names: List[str], steps=HEADLINE) -> Tuple[str, float]:
  """(point, gap in points) of the widest seed spread of the in-range share fit well."""
  gaps = {n: 100 * (max(v.shares) - min(v.shares))
          for n in distinct(names) for v in [over_seeds(stats, n, steps=steps)]}
  name = max(gaps, key=gaps.get)
  return name, gaps[name]
