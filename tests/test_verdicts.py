"""Verdicts over seeds and step protocols: the sign test against exact binomial
sums, Holm's procedure on hand-worked cases, the seed rules, the aliases and
the seeds' points, and the step count chosen on validation tasks."""
import math

import numpy as np
import pytest

from study import points
from study import protocols
from study import verdicts


def binomial_tail(wins, n):
  """P(X >= wins), X ~ Binomial(n, 1/2), by exact integer arithmetic."""
  return sum(math.factorial(n) // (math.factorial(i) * math.factorial(n - i))
             for i in range(wins, n + 1)) / 2 ** n


@pytest.mark.parametrize('wins,n', [(0, 10), (5, 10), (9, 10), (10, 10), (320, 600),
                                    (330, 600), (600, 600)])
def test_the_sign_test_is_the_exact_binomial_tail(wins, n):
  assert verdicts.sign_test_p(wins, n) == pytest.approx(binomial_tail(wins, n), rel=1e-9,
                                                        abs=1e-300)


def test_holm_rejects_step_down_and_stops_at_the_first_failure():
  # m = 4: thresholds 0.05/4, 0.05/3, 0.05/2, 0.05/1
  assert verdicts.holm({'a': 0.01, 'b': 0.016, 'c': 0.02, 'd': 0.04}) == {'a', 'b', 'c', 'd'}
  assert verdicts.holm({'a': 0.015, 'b': 0.04, 'c': 0.001, 'd': 0.9}) == {'a', 'c'}
  assert verdicts.holm({'a': 0.03, 'b': 0.04}) == set()    # 0.03 > 0.05 / 2
  assert verdicts.holm({}) == set()


def row(median, low, high, good=0.5):
  return {'median': median, 'median_ci95': [low, high], 'fraction_good': good}


def test_a_point_works_or_fails_only_if_every_seed_does():
  works, fails, edge = row(0.05, 0.04, 0.06, 0.8), row(0.3, 0.2, 0.4, 0.1), row(0.09, 0.08, 0.2)
  verdict = lambda rows: verdicts.OverSeeds([protocols.works_verdict(r) for r in rows],
                                            [r['fraction_good'] for r in rows])
  assert verdict([works] * 5).verdict == 'works'
  assert verdict([fails] * 5).verdict == 'fails'
  split = verdict([works] * 4 + [fails])
  assert split.verdict == 'borderline' and split.majority_works
  assert split.text() == 'borderline (works 4, fails 1 of 5)' and split.spread() == '10-80%'
  assert verdict([works, edge, fails]).text() == 'borderline (works 1, borderline 1, fails 1 of 3)'
  assert not verdict([works, works, fails, fails]).majority_works


def test_aliases_count_once_and_later_seeds_stand_for_their_distribution():
  assert points.CANONICAL['amplitude_10'] == 'Fig2' and points.CANONICAL['x_shift_0'] == 'Fig1'
  assert verdicts.distinct(['amplitude_10', 'Fig2', 'phase_1', 'Fig1']) == ['Fig2', 'Fig1']
  assert len(points.DISTINCT) == len({points.model_dir('', points.model_settings(
      points.POINTS[n], 'maml')) for n in points.CANONICAL})
  assert points.seed_name('amplitude_10', 1) == 'amplitude_10'
  assert points.seed_name('amplitude_10', 2) == 'amplitude_10_seed2'
  assert points.seed_name('amplitude_10', 4) == 'Fig2_seed4'
  later = points.POINTS['Fig2_seed4']
  models = points.role_models(later, 'logs')
  assert models['maml'][0].seed == 4 and models['pretrain'][0].seed == 1
  assert models['maml'][0].ranges == points.POINTS['amplitude_10'].task_ranges
  assert points.seeds_of('phase_2') == points.FULL_PHASE_SEEDS
  assert points.seeds_of('Fig6') == points.SEEDS


def test_a_mechanism_point_changes_one_thing_beside_the_baseline_of_its_seed():
  five = points.POINTS['Fig1_5steps_seed2']
  models = points.role_models(five, 'logs')
  assert (models['maml'][0].num_updates, models['maml'][0].seed) == (5, 2)
  assert models['pretrain'][1] == points.role_models(points.POINTS['Fig1_seed2'],
                                                     'logs')['pretrain'][1]
  # a seed whose meta-training stopped non-finite: the next one stands in, or none
  assert points.seeds_of('phase_2_5steps') == (1, 3)
  assert points.seeds_of('quadratic_5steps') == (1,)


def test_the_step_count_is_chosen_like_the_step_size():
  good, bad = np.full(10, 0.01), np.full(10, 1.0)
  errors = {1: bad, 2: np.r_[good[:6], bad[:4]], 5: np.r_[good[:6], bad[:4]] / 2, 20: bad}
  assert protocols.most_fit(errors) == 5      # as many fit well as 2, a lower median
  assert protocols.most_fit({1: good, 20: good}) == 1    # ties: the fewer steps


def evaluation(errors_by_step, steps):
  return protocols.Evaluation(0.01, steps, {'in_range': errors_by_step}, [], {})


def test_the_chosen_row_pairs_each_model_at_its_own_step_count():
  """MAML at 1 step against the baseline at 20: the chosen row compares those."""
  steps = protocols.REPORTED_STEPS
  maml = {s: np.array([0.05, 0.05, 0.5]) if s == 1 else np.array([1.0, 1.0, 1.0]) for s in steps}
  base = {s: np.array([0.01, 0.9, 0.9]) if s == 20 else np.array([2.0, 2.0, 2.0]) for s in steps}
  paper = {s: np.array([0.5, 0.5, 0.5]) for s in steps}
  summary = protocols.summary({10: {'maml': evaluation(maml, 1), 'pretrain': evaluation(base, 20),
                                    'standard': evaluation(paper, 2)}})['10']
  chosen = summary['maml'][protocols.CHOSEN]['in_range']
  assert summary['maml']['steps'] == 1
  assert chosen['fraction_good'] == pytest.approx(2 / 3)
  assert chosen['fraction_beating_baseline'] == pytest.approx(2 / 3)    # tasks 2 and 3
  assert chosen['fraction_beating_standard'] == pytest.approx(2 / 3)
  assert chosen['fraction_beaten_by_standard'] == 0
  at_20 = summary['maml']['protocols']['in_range']['20']
  assert at_20['fraction_beating_baseline'] == 0      # 1.0 against 0.01, 0.9, 0.9
