"""The statistics a reader sees: the divergence definition, the per-step
statistics with diverged tasks, and numbers formatted for reading."""
import math

import numpy as np
import pytest

from common import statistics


@pytest.mark.parametrize('value, text', [
    (0.38712, '0.387'), (0.1, '0.1'), (15.93, '15.9'), (999.4, '999'), (1000.0, '1.00e+03'),
    (1.5931424429167607e22, '1.59e+22'), (-2345.6, '-2.35e+03'), (3.2e-5, '3.2e-05'),
    (math.inf, 'inf'), (math.nan, 'nan')])
def test_readable_numbers(value, text):
  assert statistics.readable(value) == text


def test_divergence_is_a_blow_up_not_a_bad_fit():
  before = np.array([1.0, 1.0, 0.01, 2.0, 3.0])
  after = np.array([0.5, 99.0, 0.9, 201.0, np.nan])   # better, 99x, 90x, 100.5x, nan
  blown = statistics.diverged(np.stack([before, after]))
  assert blown[0].tolist() == [False] * 5
  assert blown[1].tolist() == [False, False, False, True, True]


def test_statistics_with_a_diverged_task():
  losses = np.array([[2.0, 2.0, 2.0, 2.0],
                     [1.0, 3.0, 0.5, 1e30]])     # one task blows up
  step = statistics.loss_statistics(losses)[1]
  assert step['n_diverged'] == 1 and step['n_worse'] == 2 and step['n_nonfinite'] == 0
  assert step['mean_all_tasks'] == pytest.approx((1 + 3 + 0.5 + 1e30) / 4)
  assert step['mean_not_diverged'] == pytest.approx(1.5)
  assert step['ci95_not_diverged'] == pytest.approx(1.96 * np.std([1, 3, 0.5]) / math.sqrt(3))
  assert step['median_all_tasks'] == pytest.approx(2.0)
  assert statistics.summary_text(step) == ('1.5 ± 1.22 on 3 tasks, 1 diverged (mean over all '
                                      '2.50e+29, median 2)')
  nan_step = statistics.loss_statistics(np.array([[1.0, 1.0], [0.5, np.nan]]))[1]
  assert math.isnan(nan_step['mean_all_tasks']) and nan_step['n_nonfinite'] == 1
  assert nan_step['median_all_tasks'] == math.inf      # half the tasks failed
  assert statistics.summary_text(statistics.loss_statistics(np.array([[1.0], [0.25]]))[1]) == (
      '0.25 ± 0 (median 0.25)')
