"""The study's methods: the family fit, the baseline's step-size rule, intervals,
two-frequency sums and products, and divergence in the tables."""
import dataclasses
import math

import numpy as np
import pytest

from common import statistics
import FunGenerator
from study import family_fit
from study import protocols
from study import tables

NOISE_FREE_FAMILIES = [
    ('sinusoid', FunGenerator.TaskRanges()),
    ('sinusoid', FunGenerator.TaskRanges(frequency=(0.1, 0.5))),
    ('linear', FunGenerator.TaskRanges()),
    ('quadratic', FunGenerator.TaskRanges()),
    ('product', FunGenerator.TaskRanges()),
    ('product', FunGenerator.TaskRanges(frequency_offset=(0.0, 0.0))),
    ('sum', FunGenerator.TaskRanges()),
]


@pytest.mark.parametrize('family, ranges', NOISE_FREE_FAMILIES)
def test_family_fit_recovers_noise_free_tasks_from_k_points(family, ranges):
  """K = 10 noise-free points determine these families: the fit is the task
  everywhere, far outside the points too."""
  generator = FunGenerator.TaskGenerator(family, ranges, seed=5)
  x, y, params = generator.sample(50, 10)
  fitted = family_fit.fit(family, ranges, x, y)
  grid = generator.grid_x(50, 200, (-10.0, 10.0))
  truth = generator.targets(grid, params, noisy=False)
  scale = np.max(np.abs(truth), axis=(1, 2))
  error = np.max(np.abs(family_fit.predict(family, fitted, grid) - truth), axis=(1, 2)) / scale
  assert error.max() < 1e-4


def test_family_fit_of_a_square_wave_can_only_bracket_its_phase():
  """Ten points of a square wave leave its phase free between two points: the
  fit matches the points (but for a task whose window is narrower than the
  search's resolution) but not every task everywhere."""
  generator = FunGenerator.TaskGenerator('square', seed=5)
  x, y, params = generator.sample(200, 10)
  fitted = family_fit.fit('square', generator.ranges, x, y)
  exact = np.all(np.abs(family_fit.predict('square', fitted, x) - y) < 1e-9, axis=(1, 2))
  assert np.mean(exact) >= 0.99
  grid = generator.grid_x(200, 200)
  wrong = np.mean(family_fit.predict('square', fitted, grid)
                  != generator.targets(grid, params, noisy=False), axis=(1, 2))
  assert wrong.max() > 0


def test_two_frequencies_as_the_earlier_study_draws_them():
  one = FunGenerator.TaskGenerator('product', seed=1).sample_params(1000)
  offset = one['frequency2'] - one['frequency1']
  np.testing.assert_array_equal(one['frequency1'], FunGenerator.PAPER_FREQUENCY)
  assert 0.01 <= offset.min() and offset.max() <= 0.1 and offset.std() > 0.02
  ranged = FunGenerator.TaskGenerator('sum', FunGenerator.TaskRanges(frequency=(0.1, 0.3)),
                                      seed=1).sample_params(1000)
  assert abs(np.corrcoef(ranged['frequency1'], ranged['frequency2'])[0, 1]) < 0.1
  same = FunGenerator.TaskGenerator('sum', FunGenerator.TaskRanges(frequency_offset=(0.0, 0.0)),
                                    seed=1).sample_params(10)
  np.testing.assert_array_equal(same['frequency1'], same['frequency2'])


def test_one_frequency_product_is_a_doubled_frequency_sinusoid_plus_an_offset():
  ranges = FunGenerator.TaskRanges(frequency_offset=(0.0, 0.0))
  generator = FunGenerator.TaskGenerator('product', ranges, seed=2)
  x, y, p = generator.sample(20, 30)
  a, phi1, phi2 = (p[n][:, None, None] for n in ('amplitude1', 'phase1', 'phase2'))
  expected = a / 2 * (np.sin(2 * x - phi1 - phi2) + np.sin(phi2 - phi1))
  np.testing.assert_allclose(y, expected, atol=1e-12)


def test_study_step_size_rule_keeps_alpha_zero_when_every_step_hurts_the_median():
  """The mean prefers 0.01 (one task much better), the study's statistics do not."""
  rng = np.random.RandomState(0)
  before = rng.uniform(0.05, 0.5, 101)
  errors = {0.0: before, 0.01: np.where(np.arange(101) == 0, 0.0, before * 1.5)}
  errors[0.01][1:] = np.minimum(errors[0.01][1:], 0.7)
  errors[0.0] = np.where(np.arange(101) == 0, 50.0, before)
  assert np.mean(errors[0.01]) < np.mean(errors[0.0])
  assert protocols.most_fit_step_size(errors) == 0.0


def test_study_step_size_rule_counts_tasks_fit_well_then_the_median():
  good, bad = 0.01, 0.5
  errors = {0.0: np.array([bad, bad, bad, bad]), 0.001: np.array([good, good, bad, bad]),
            0.01: np.array([good, good, bad, np.inf]), 0.1: np.array([good, bad, bad, bad])}
  assert protocols.most_fit_step_size(errors) == 0.001    # same count as 0.01, lower median
  errors[0.1] = np.array([good, good, good, np.nan])
  assert protocols.most_fit_step_size(errors) == 0.1


@pytest.mark.parametrize('successes, n, expected', [
    (0, 10, (0.0, 0.2775)), (5, 10, (0.2366, 0.7634)), (10, 10, (0.7225, 1.0)),
    (81, 100, (0.7222, 0.8749))])
def test_wilson_interval_on_known_cases(successes, n, expected):
  np.testing.assert_allclose(statistics.wilson_interval(successes, n), expected, atol=1e-4)


def test_median_interval_covers_the_median_about_95_percent_of_the_time():
  rng = np.random.RandomState(3)
  hits = [lo <= math.log(2) <= hi for lo, hi in
          (statistics.median_interval(rng.exponential(size=200)) for _ in range(2000))]
  assert 0.93 <= np.mean(hits) <= 0.98
  lo, hi = statistics.median_interval(np.arange(1.0, 101.0))   # order statistics 40 and 61
  assert (lo, hi) == (40.0, 61.0)
  assert statistics.median_interval(np.array([1.0, np.nan, np.inf]))[1] == np.inf


def test_rounded_to_interval():
  assert statistics.rounded_to_interval(0.5912, 0.0598) == '0.59 ± 0.06'
  assert statistics.rounded_to_interval(0.3512, 0.0123) == '0.351 ± 0.012'
  assert statistics.rounded_to_interval(2.4213, 0.204) == '2.4 ± 0.2'


def hand_made_stats(n_diverged: int) -> dict:
  """The statistics of one point from hand-made per-task errors, MAML's with
  n_diverged non-finite tasks."""
  errors = np.full(20, 0.05)
  errors[:n_diverged] = np.inf
  row = protocols.nmse_statistics(errors, np.full(20, 1.0))
  row['fraction_beating_baseline'] = 0.5
  cell = {'protocols': {p: {str(s): row for s in protocols.REPORTED_STEPS}
                        for p in protocols.MEASURED}, 'alpha': 0.01, 'steps': 20,
          protocols.CHOSEN: {p: row for p in protocols.MEASURED}}
  fit = {p: protocols.nmse_statistics(np.full(20, 1e-6)) for p in protocols.MEASURED}
  return {**{str(k): {role: cell for role in tables.ROLES} for k in protocols.EVAL_KS},
          protocols.FAMILY_FIT: {str(k): fit for k in protocols.EVAL_KS}}


def test_study_table_rows_show_the_diverged_count():
  point = dataclasses.replace(tables.SETTING_POINTS[0], name='hand')
  for protocol in protocols.PROTOCOLS:
    table = tables.settings_table({'hand': hand_made_stats(3)}, [point], protocol)
    row = next(line for line in table.splitlines() if line.startswith('| hand'))
    # every model's cell, the baseline before fine-tuning too; not the family fit's
    assert row.count('3 diverged') == len(tables.ROLES) + 1
  clean = tables.settings_table({'hand': hand_made_stats(0)}, [point])
  assert 'diverged' not in clean


def test_works_verdict_is_borderline_when_the_median_interval_holds_the_threshold():
  assert protocols.works_verdict({'median': 0.09, 'median_ci95': [0.08, 0.11]}) == 'borderline'
  assert protocols.works_verdict({'median': 0.05, 'median_ci95': [0.04, 0.07]}) == 'works'
  assert protocols.works_verdict({'median': 0.3, 'median_ci95': [0.2, 0.4]}) == 'fails'
