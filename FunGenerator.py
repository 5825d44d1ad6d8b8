"""Task distributions for few-shot regression: one registry entry per family.

A task is a function y = f(x; params). Every family draws its parameters from
the ranges of a `TaskRanges` and evaluates on x of shape [B, N, 1]. The paper's
sinusoid (Finn et al. 2017, sec. 5.1) is y = A sin(x - phi), A ~ U[0.1, 5],
phi ~ U[0, pi], x ~ U[-5, 5]; here written a sin(2 pi w x - phi) with
w = 1 / (2 pi) cycles per unit by default, which is exactly the paper's task.
Keep the minus sign: sin(x + phi) over the same phase range is a mirrored set.

Adding a family is one class with `params`, `oracle_params`, `sample`,
`evaluate` and, for the family fit (study.family_fit), `searched` and `basis`,
decorated with `@register`.
"""
import dataclasses
import math
from typing import Callable, Dict, Tuple

import numpy as np

Params = Dict[str, np.ndarray]   # each value [B]
Range = Tuple[float, float]

PAPER_FREQUENCY = 1.0 / (2.0 * math.pi)   # cycles per unit: sin(2 pi w x) = sin(x)


@dataclasses.dataclass(frozen=True)
class TaskRanges:
  """Parameter ranges of the task distribution; the defaults are the paper's."""
  amplitude: Range = (0.1, 5.0)
  phase: Range = (0.0, math.pi)
  frequency: Range = (PAPER_FREQUENCY, PAPER_FREQUENCY)
  mix: Range = (1.0, 1.0)          # weight b of the cosine in the sum family
  # Sums and products of two waves: w2 - w1 when `frequency` is a single value
  # (the earlier study's generator; (0, 0) makes both one frequency).
  frequency_offset: Range = (0.01, 0.1)
  slope: Range = (-3.0, 3.0)
  offset: Range = (-3.0, 3.0)
  curvature: Range = (-1.0, 1.0)   # x^2 coefficient of the quadratic family
  x: Range = (-5.0, 5.0)
  noise_std: float = 0.0           # additive Gaussian observation noise


FAMILIES: Dict[str, 'Family'] = {}


def register(cls):
  FAMILIES[cls.name] = cls()
  return cls


def uniform(rng: np.random.RandomState, bounds: Range, size: int) -> np.ndarray:
  return rng.uniform(bounds[0], bounds[1], size)


def column(values: np.ndarray) -> np.ndarray:
  """[B] -> [B, 1, 1], to broadcast a task parameter over x [B, N, 1]."""
  return values[:, np.newaxis, np.newaxis]


class Family:
  """A function family: parameter names, sampler and evaluator.

  For the family fit, f(x) = basis(x, s) @ c: the parameters s the family is
  not linear in are searched over their ranges, the coefficients c solved by
  least squares (a superset of the family where c has more freedom than the
  family's parameters, e.g. any phase of a sinusoid).
  """
  name = ''
  params: Tuple[str, ...] = ()
  oracle_params: Tuple[str, ...] = ()   # what the oracle baseline is told
  discrete: Tuple[str, ...] = ()        # searched parameters that take integer values
  ordered_x = False   # a task's points come in increasing x (see Harmonic)

  def searched(self, ranges: TaskRanges) -> Dict[str, Range]:
    """The range of each parameter the family is not linear in (a single value
    if it is fixed)."""
    return {}

  def basis(self, x: np.ndarray, searched: Params) -> np.ndarray:
    """The functions the family is a linear combination of, given the searched
    parameters (each [B]): [B, N, P] for x [B, N, 1]."""
    raise NotImplementedError

  def sample(self, rng: np.random.RandomState, ranges: TaskRanges, size: int) -> Params:
    return {p: uniform(rng, getattr(ranges, p.rstrip('12')), size) for p in self.params}

  def evaluate(self, x: np.ndarray, params: Params) -> np.ndarray:
    raise NotImplementedError


class Periodic(Family):
  """a * g(2 pi w x - phi) for a 2 pi-periodic waveform g with range [-1, 1]."""
  params = ('amplitude', 'phase', 'frequency')
  oracle_params = ('amplitude', 'phase')
  waveform: Callable[[np.ndarray], np.ndarray] = staticmethod(np.sin)

  def evaluate(self, x, params):
    angle = 2 * math.pi * column(params['frequency']) * x - column(params['phase'])
    return column(params['amplitude']) * self.waveform(angle)

  def searched(self, ranges):
    return {'frequency': ranges.frequency, 'phase': ranges.phase}

  def basis(self, x, searched):
    return self.evaluate(x, {'amplitude': np.ones(len(x)), **searched})


@register
class Sinusoid(Periodic):
  name = 'sinusoid'

  def searched(self, ranges):   # a sin(t - phi) = a cos(phi) sin(t) - a sin(phi) cos(t)
    return {'frequency': ranges.frequency}

  def basis(self, x, searched):
    return sines(x, searched['frequency'])


@register
class Square(Periodic):
  name = 'square'
  waveform = staticmethod(lambda t: np.sign(np.sin(t)))


@register
class Triangle(Periodic):
  name = 'triangle'
  waveform = staticmethod(lambda t: (2 / math.pi) * np.arcsin(np.sin(t)))


@register
class Sawtooth(Periodic):
  name = 'sawtooth'
  waveform = staticmethod(lambda t: 2 * np.mod(t / (2 * math.pi), 1.0) - 1)


@register
class Shapes(Periodic):
  """a * g(2 pi w x - phi) with the waveform g drawn per task: sinusoid, square,
  triangle or sawtooth, each with probability 1/4 (`shape` is its index in SHAPES)."""
  name = 'shapes'
  SHAPES = ('sinusoid', 'square', 'triangle', 'sawtooth')
  params = Periodic.params + ('shape',)
  oracle_params = ('amplitude', 'phase', 'shape')

  def sample(self, rng, ranges, size):
    params = {p: uniform(rng, getattr(ranges, p), size) for p in Periodic.params}
    params['shape'] = rng.randint(len(self.SHAPES), size=size).astype(float)
    return params

  discrete = ('shape',)

  def evaluate(self, x, params):
    angle = 2 * math.pi * column(params['frequency']) * x - column(params['phase'])
    shape = column(params['shape'])
    waves = sum(np.where(shape == i, FAMILIES[name].waveform(angle), 0.0)
                for i, name in enumerate(self.SHAPES))
    return column(params['amplitude']) * waves

  def searched(self, ranges):
    return {**super().searched(ranges), 'shape': (0, len(self.SHAPES) - 1)}


class TwoWaves(Family):
  """Two sinusoids: a1 sin(2 pi w1 x - phi1) combined with cos(2 pi w2 x - phi2).

  As the earlier study's generator draws them: with a single frequency w,
  w1 = w and w2 = w + U[frequency_offset] per task; with a frequency range, w1
  and w2 are independent draws from it. With w1 = w2 a sum is one sinusoid and
  a product a sinusoid of doubled frequency plus an offset.
  """
  params = ('amplitude1', 'phase1', 'frequency1', 'phase2', 'frequency2')
  oracle_params = ('amplitude1', 'phase1', 'phase2')

  def sample(self, rng, ranges, size):
    params = super().sample(rng, ranges, size)
    if ranges.frequency[0] == ranges.frequency[1]:
      low, high = ranges.frequency_offset
      # A fixed offset draws nothing: the one-frequency control keeps the
      # random stream (and so the checkpoints) of its earlier trainings.
      offset = uniform(rng, (low, high), size) if low != high else low
      params['frequency2'] = params['frequency1'] + offset
    return params

  def searched(self, ranges):
    if ranges.frequency[0] == ranges.frequency[1]:
      return {'frequency1': ranges.frequency,
              'frequency2': tuple(ranges.frequency[0] + d for d in ranges.frequency_offset)}
    return {'frequency1': ranges.frequency, 'frequency2': ranges.frequency}

  def waves(self, x, params):
    sine = column(params['amplitude1']) * np.sin(
        2 * math.pi * column(params['frequency1']) * x - column(params['phase1']))
    cosine = np.cos(
        2 * math.pi * column(params['frequency2']) * x - column(params['phase2']))
    return sine, cosine


@register
class Sum(TwoWaves):
  """a1 sin(2 pi w1 x - phi1) + b a2 cos(2 pi w2 x - phi2)."""
  name = 'sum'
  params = TwoWaves.params + ('amplitude2', 'mix')
  oracle_params = TwoWaves.oracle_params + ('amplitude2',)

  def evaluate(self, x, params):
    sine, cosine = self.waves(x, params)
    return sine + column(params['mix'] * params['amplitude2']) * cosine

  def basis(self, x, searched):
    return np.concatenate([sines(x, searched['frequency1']), sines(x, searched['frequency2'])],
                          axis=-1)


@register
class Product(TwoWaves):
  """a1 sin(2 pi w1 x - phi1) cos(2 pi w2 x - phi2)."""
  name = 'product'

  def evaluate(self, x, params):
    sine, cosine = self.waves(x, params)
    return sine * cosine

  def basis(self, x, searched):   # sin(u) cos(v) = (sin(u + v) + sin(u - v)) / 2
    w1, w2 = searched['frequency1'], searched['frequency2']
    return np.concatenate([sines(x, w1 + w2), sines(x, w1 - w2)], axis=-1)


@register
class Harmonic(Product):
  """A product whose points come in increasing x order, as the earlier study's
  generator made them for its harmonic experiment (its code notes): the
  first half of a meta-training task's points (set a) is then the left part
  of its range and the second half (set b) the right, so the meta-objective
  asks to predict the right part from the left."""
  name = 'harmonic'
  ordered_x = True


def sines(x: np.ndarray, frequency: np.ndarray) -> np.ndarray:
  """sin and cos of 2 pi w x, [B, N, 2] for x [B, N, 1] and w [B]."""
  angle = 2 * math.pi * column(frequency) * x
  return np.concatenate([np.sin(angle), np.cos(angle)], axis=-1)


@register
class Linear(Family):
  """offset + slope x."""
  name = 'linear'
  params = ('slope', 'offset')
  oracle_params = params

  def evaluate(self, x, params):
    return column(params['offset']) + column(params['slope']) * x

  def basis(self, x, searched):
    return np.concatenate([np.ones_like(x), x], axis=-1)


@register
class Quadratic(Family):
  """curvature x^2 + slope x + offset."""
  name = 'quadratic'
  params = ('curvature', 'slope', 'offset')
  oracle_params = params

  def evaluate(self, x, params):
    return (column(params['curvature']) * x ** 2 + column(params['slope']) * x
            + column(params['offset']))

  def basis(self, x, searched):
    return np.concatenate([np.ones_like(x), x, x ** 2], axis=-1)


class TaskGenerator:
  """Samples tasks of one family with its own seeded RandomState.

  Args:
    family: a key of FAMILIES.
    ranges: parameter and x ranges (defaults: the paper's sinusoid).
    seed: seed of this generator's numpy RandomState.
  """

  def __init__(self, family: str = 'sinusoid', ranges: TaskRanges = TaskRanges(),
               seed: int = 0):
    if family not in FAMILIES:
      raise ValueError(f'unknown family {family!r}; allowed: {sorted(FAMILIES)}')
    self.family = FAMILIES[family]
    self.ranges = ranges
    self.rng = np.random.RandomState(seed)

  def sample_params(self, num_tasks: int) -> Params:
    return self.family.sample(self.rng, self.ranges, num_tasks)

  def sample_x(self, num_tasks: int, num_points: int, x_range: Range = None) -> np.ndarray:
    """x ~ U[x_range] (default: the distribution's range), [B, N, 1], in
    increasing order per task for a family with ordered_x."""
    bounds = self.ranges.x if x_range is None else x_range
    x = uniform(self.rng, bounds, num_tasks * num_points).reshape(num_tasks, num_points, 1)
    return np.sort(x, axis=1) if self.family.ordered_x else x

  def grid_x(self, num_tasks: int, num_points: int, x_range: Range = None) -> np.ndarray:
    """num_points evenly spaced x over x_range (default: the distribution's range),
    the same for every task, [B, N, 1]."""
    bounds = self.ranges.x if x_range is None else x_range
    grid = np.linspace(bounds[0], bounds[1], num_points)
    return np.broadcast_to(grid[np.newaxis, :, np.newaxis], (num_tasks, num_points, 1))

  def targets(self, x: np.ndarray, params: Params, noisy: bool = True) -> np.ndarray:
    """y = f(x; params) [+ N(0, noise_std^2)], [B, N, 1]."""
    y = self.family.evaluate(x, params)
    if noisy and self.ranges.noise_std > 0:
      y = y + self.rng.normal(0.0, self.ranges.noise_std, y.shape)
    return y

  def sample(self, num_tasks: int, num_points: int, x_range: Range = None):
    """Returns x [B, N, 1], y [B, N, 1] and the task parameters (each [B])."""
    params = self.sample_params(num_tasks)
    x = self.sample_x(num_tasks, num_points, x_range)
    return x, self.targets(x, params), params

  def oracle_features(self, params: Params) -> np.ndarray:
    """The parameters the oracle is given, [B, P]."""
    return np.stack([params[p] for p in self.family.oracle_params], axis=-1)


def with_features(x: np.ndarray, features: np.ndarray) -> np.ndarray:
  """Appends per-task features [B, P] to every point: [B, N, 1] -> [B, N, 1 + P]."""
  tiled = np.broadcast_to(features[:, np.newaxis, :], x.shape[:2] + features.shape[-1:])
  return np.concatenate([x, tiled], axis=-1)
