"""The task arrays a run feeds its graph: training chunks, seeded so that a
resumed run sees the tasks an uninterrupted one would, and held-out task sets
for evaluation, validation and the study (one sampler for all of them)."""
from typing import Dict, Iterator, Tuple

import numpy as np

from common import interrupts
import FunGenerator
from run.settings import GRID_POINTS, Settings

# Points (tasks x points per task) generated between two checks for a signal:
# a tenth of a second of the sinusoid's targets, well under a second for the
# costliest family, so a Ctrl-C stops the generation of millions of held-out
# tasks (the grids' targets alone took 9 s at --num_eval_tasks=2000000) at once.
PIECE_POINTS = 2 ** 21


def training_chunk(settings: Settings, start: int, size: int):
  """Meta-batches of iterations start..start+size-1, as [T, B, K, dim] arrays.

  The generator is seeded by (seed, start), so a resumed run sees exactly the
  tasks an uninterrupted run would have seen.
  """
  b, k = settings.meta_batch_size, settings.K
  generator = FunGenerator.TaskGenerator(settings.family, settings.ranges,
                                         seed=[settings.seed, start])
  x, y, params = generator.sample(size * b, 2 * k)
  if settings.method == 'oracle':
    x = FunGenerator.with_features(x, generator.oracle_features(params))
  x = x.reshape(size, b, 2 * k, -1)
  y = y.reshape(size, b, 2 * k, -1)
  return x[:, :, :k], y[:, :, :k], x[:, :, k:], y[:, :, k:]


def held_out_tasks(family: str, ranges: FunGenerator.TaskRanges, num_tasks: int, seed: int,
                   sampled: Dict[str, Tuple[int, FunGenerator.Range]],
                   grids: Dict[str, FunGenerator.Range]) -> dict:
  """The one sampler of held-out tasks, for evaluation, validation and the study.

  Task parameters are drawn first, so every K sees the same tasks; then, per
  set of `sampled` ({name: (points per task, x range or None for the whole
  range)}), x ~ U[range] and y = f(x) + noise; then the noise-free dense grids
  ({name: x range or None}).

  Returns {'params': {name: [B]}, name: (x, y) for every set, [B, N, 1]}.
  """
  generator = FunGenerator.TaskGenerator(family, ranges, seed=seed)
  tasks = {'params': generator.sample_params(num_tasks)}
  for name, (num_points, x_range) in sampled.items():
    x = np.empty((num_tasks, num_points, 1))
    for start, stop in pieces(num_tasks, num_points):
      x[start:stop] = generator.sample_x(stop - start, num_points, x_range)
    tasks[name] = (x, targets(generator, x, tasks['params']))
  for name, x_range in grids.items():
    x = generator.grid_x(num_tasks, GRID_POINTS, x_range)
    tasks[name] = (x, targets(generator, x, tasks['params'], noisy=False))
  return tasks


def pieces(num_tasks: int, num_points: int) -> Iterator[Tuple[int, int]]:
  """(start, stop) of consecutive pieces of tasks of about PIECE_POINTS
  points, checking for a signal before each. Drawn piece after piece, in task
  order, a RandomState gives the numbers of one draw of all the tasks."""
  size = max(1, PIECE_POINTS // max(1, num_points))
  for start in range(0, num_tasks, size):
    interrupts.check()
    yield start, min(start + size, num_tasks)


def targets(generator: FunGenerator.TaskGenerator, x: np.ndarray, params,
            noisy: bool = True) -> np.ndarray:
  """generator.targets(x, params, noisy), [B, N, 1], a piece of tasks at a time."""
  y = np.empty(x.shape)
  for start, stop in pieces(*x.shape[:2]):
    y[start:stop] = generator.targets(x[start:stop], {p: v[start:stop] for p, v in params.items()},
                                      noisy)
  return y


def network_inputs(settings: Settings, family: str, x: np.ndarray, params) -> np.ndarray:
  """The network's inputs at x: x itself, or x and the task parameters for the oracle."""
  if settings.method != 'oracle':
    return x
  features = FunGenerator.TaskGenerator(family).oracle_features(params)
  inputs = np.empty(x.shape[:2] + (x.shape[2] + features.shape[-1],),
                    np.result_type(x, features))
  for start, stop in pieces(*x.shape[:2]):
    inputs[start:stop] = FunGenerator.with_features(x[start:stop], features[start:stop])
  return inputs


def evaluation_tasks(settings: Settings, k: int, num_tasks: int, seed: int,
                     support_range: FunGenerator.Range = None) -> dict:
  """Held-out tasks of the model's distribution: K support points (from
  `support_range` if given), K query points, a noise-free grid; each set also
  as the network's inputs (`<set>_inputs`)."""
  tasks = held_out_tasks(settings.family, settings.ranges, num_tasks, seed,
                         {'support': (k, support_range), 'query': (k, None)}, {'grid': None})
  for name in ('support', 'query', 'grid'):
    tasks[name + '_inputs'] = network_inputs(settings, settings.family, tasks[name][0],
                                             tasks['params'])
  return tasks


def task_slice(tasks: dict, start: int, stop: int) -> dict:
  """Tasks start..stop-1 of a task dict (parameters, every set and its inputs)."""
  return {name: ({p: v[start:stop] for p, v in value.items()} if name == 'params'
                 else tuple(a[start:stop] for a in value) if isinstance(value, tuple)
                 else value[start:stop])
          for name, value in tasks.items()}
