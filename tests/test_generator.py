"""FunGenerator: shapes, ranges, seeding, and the paper's task exactly."""
import math

import numpy as np
import pytest

import FunGenerator
from FunGenerator import TaskGenerator, TaskRanges


@pytest.mark.parametrize('family', sorted(FunGenerator.FAMILIES))
def test_shapes_and_seeding(family):
  x, y, params = TaskGenerator(family, seed=7).sample(4, 9)
  assert x.shape == y.shape == (4, 9, 1)
  assert all(v.shape == (4,) for v in params.values())
  assert set(params) == set(FunGenerator.FAMILIES[family].params)
  again = TaskGenerator(family, seed=7).sample(4, 9)
  np.testing.assert_array_equal(y, again[1])
  other = TaskGenerator(family, seed=8).sample(4, 9)
  assert not np.allclose(y, other[1])


def test_paper_sinusoid_defaults():
  generator = TaskGenerator('sinusoid', seed=0)
  x, y, params = generator.sample(2000, 5)
  amplitude, phase = params['amplitude'], params['phase']
  assert 0.1 <= amplitude.min() and amplitude.max() <= 5.0
  assert 0 <= phase.min() and phase.max() <= math.pi
  assert -5 <= x.min() and x.max() <= 5
  # The paper's task, A sin(x - phi), with its minus sign.
  expected = amplitude[:, None, None] * np.sin(x - phase[:, None, None])
  np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_ranges_are_respected():
  ranges = TaskRanges(amplitude=(2.0, 3.0), phase=(4.0, 5.0), x=(6.0, 7.0))
  x, _, params = TaskGenerator('sinusoid', ranges, seed=1).sample(500, 3)
  assert 2 <= params['amplitude'].min() and params['amplitude'].max() <= 3
  assert 4 <= params['phase'].min() and params['phase'].max() <= 5
  assert 6 <= x.min() and x.max() <= 7


def test_noise_is_added_only_when_asked():
  ranges = TaskRanges(noise_std=0.3)
  generator = TaskGenerator('linear', ranges, seed=2)
  params = generator.sample_params(200)
  x = generator.sample_x(200, 50)
  residual = generator.targets(x, params) - generator.targets(x, params, noisy=False)
  assert abs(residual.std() - 0.3) < 0.01


def test_oracle_features():
  generator = TaskGenerator(seed=3)
  x, _, params = generator.sample(2, 6)
  features = generator.oracle_features(params)
  inputs = FunGenerator.with_features(x, features)
  assert inputs.shape == (2, 6, 3)
  np.testing.assert_array_equal(inputs[:, 0, 1], params['amplitude'])
  np.testing.assert_array_equal(inputs[:, 5, 2], params['phase'])


def test_unknown_family_is_rejected():
  with pytest.raises(ValueError, match='unknown family'):
    TaskGenerator('circle')
