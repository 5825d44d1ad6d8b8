"""The settings of one run and what they define: its folder name, its graph,
and the sizes and memory that graph and its evaluation need.

No flags here: Main.py builds a `Settings` from its flags, config.json stores
one, and every other module takes one as an argument.
"""
import dataclasses
import math
from typing import Iterable, Tuple

import numpy as np

from common import fileio
import FunGenerator
import utils
from utils import CommandError
tf = utils.quiet_tensorflow()
import maml  # pylint: disable=wrong-import-position

GRID_POINTS = 100        # evenly spaced x per held-out task for the whole-curve MSE
EVAL_BATCH = 10000       # at most this many tasks per session.run, so any
EVAL_BATCH_BYTES = 2 ** 28   # --num_eval_tasks fits in memory: also <= this many bytes of fast weights
FLOAT_BYTES = 8          # numpy task arrays are float64
TF_FLOAT_BYTES = 4       # the graph is float32
INT32_MAX = 2 ** 31 - 1  # TF shapes and indices are int32
LONG_GRAPH_STEPS = 50    # unrolled inner steps beyond which building the graph is slow
PAPER_MODEL = maml.MAMLConfig()   # the paper's network and step sizes


@dataclasses.dataclass(frozen=True)
class Settings:
  """Every setting of one run; the defaults are the paper's (sec. 5.1, app. B).

  config.json and every result file store `to_json()`; nothing else turns
  settings into JSON.
  """
  method: str = 'maml'             # maml, pretrain or oracle
  first_order: bool = PAPER_MODEL.first_order
  K: int = 10                      # points in the support set a and in the query set b
  meta_batch_size: int = 25
  meta_iterations: int = 70000
  alpha: float = PAPER_MODEL.alpha                  # inner step size
  beta: float = PAPER_MODEL.beta                    # meta step size (Adam)
  num_updates: int = PAPER_MODEL.num_updates        # inner steps at meta-training
  test_num_updates: int = PAPER_MODEL.test_num_updates   # inner steps at meta-test
  hidden: Tuple[int, ...] = PAPER_MODEL.dim_hidden
  family: str = 'sinusoid'
  ranges: FunGenerator.TaskRanges = FunGenerator.TaskRanges()
  seed: int = 1
  iterations_per_run: int = 100    # meta-iterations per session.run

  def to_json(self) -> dict:
    return fileio.jsonable(dataclasses.asdict(self))

  @classmethod
  def from_json(cls, data: dict) -> 'Settings':
    """The settings config.json stores; a ValueError naming the first key that
    is missing, unknown, of the wrong type or out of range (a default must not
    stand in for a missing key: a K=5 model would be evaluated at K=10)."""
    check_keys('settings', data, [f.name for f in dataclasses.fields(cls)])
    check_keys('ranges', data['ranges'],
               [f.name for f in dataclasses.fields(FunGenerator.TaskRanges)])
    stored = {**data, **data['ranges']}
    for keys, allowed, test in RULES:
      for key in keys:
        if key in stored and not test(stored[key]):   # flags-only keys are not stored
          raise ValueError(f'{key}={stored[key]!r}: {allowed}')
    ranges = FunGenerator.TaskRanges(**{
        k: tuple(v) if isinstance(v, list) else v for k, v in data['ranges'].items()})
    return cls(**{**data, 'hidden': tuple(data['hidden']), 'ranges': ranges})


def check_keys(what: str, data, keys):
  if not isinstance(data, dict):
    raise ValueError(f'{what}: expected an object, got {data!r}')
  missing, unknown = sorted(set(keys) - set(data)), sorted(set(data) - set(keys))
  if missing or unknown:
    raise ValueError(f'{what}: ' + '; '.join(
        f'{which} {", ".join(names)}' for which, names in (('missing', missing),
                                                          ('unknown', unknown)) if names))


def is_int(value, low: int = 1, high: float = math.inf) -> bool:
  return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def is_number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_range(value) -> bool:
  return (isinstance(value, list) and len(value) == 2 and all(map(is_number, value))
          and value[0] <= value[1])


METHODS = ('maml', 'pretrain', 'oracle')
SEED_LIMIT = 2 ** 32        # numpy's RandomState takes seeds in [0, 2^32)
MAX_UNROLLED_STEPS = 1000   # building the static graph takes about a second per 10 steps
RANGE_KEYS = tuple(f.name for f in dataclasses.fields(FunGenerator.TaskRanges))
# The bounds of every setting, in the order they are checked: (keys, what is
# allowed, the test). from_json checks config.json's values with it, Main.py
# the flags of the same names (and the flags-only counts and seeds here).
RULES = (
    (('method',), f'one of {", ".join(METHODS)}', lambda v: v in METHODS),
    (('family',), f'one of {", ".join(sorted(FunGenerator.FAMILIES))}',
     lambda v: isinstance(v, str) and v in FunGenerator.FAMILIES),
    (('first_order',), 'true or false', lambda v: isinstance(v, bool)),
    (('K', 'meta_batch_size', 'meta_iterations', 'iterations_per_run', 'num_eval_tasks',
      'print_interval', 'save_interval', 'benchmark_repeats', 'workers'), 'an integer >= 1',
     is_int),
    (('num_updates', 'test_num_updates'), f'an integer >= 1 and at most {MAX_UNROLLED_STEPS} '
     'inner steps (each is unrolled in the static graph, about a second to build per 10 steps)',
     lambda v: is_int(v, high=MAX_UNROLLED_STEPS)),
    (('alpha', 'beta', 'eval_alpha', 'benchmark_seconds'), 'a finite number > 0',
     lambda v: is_number(v) and v > 0),
    (('hidden',), 'at least one hidden layer size, integers >= 1 (e.g. 40,40)',
     lambda v: isinstance(v, list) and v and all(map(is_int, v))),
    (('eval_k',), 'integers >= 1 (e.g. 5,10,20)',
     lambda v: isinstance(v, list) and all(map(is_int, v))),
    (('seed', 'eval_seed'), f'an integer in [0, {SEED_LIMIT - 1}]',
     lambda v: is_int(v, 0, SEED_LIMIT - 1)),
    (tuple(key for key in RANGE_KEYS if key != 'noise_std'),
     'a pair [min, max] of finite numbers, min <= max', is_range),
    (('noise_std',), 'a finite number >= 0', lambda v: is_number(v) and v >= 0),
)


DEFAULT_RANGES = FunGenerator.TaskRanges()
# Settings that change the graph or the task distribution: a checkpoint can
# only be evaluated or resumed with the same values. The meta step size beta
# and the iteration count may change on resume (a learning-rate schedule).
MODEL_KEYS = ('method', 'hidden', 'family', 'ranges')
RESUME_KEYS = MODEL_KEYS + ('first_order', 'K', 'meta_batch_size', 'alpha',
                            'num_updates', 'seed', 'iterations_per_run')


def experiment_name(settings: Settings) -> str:
  """A folder name that spells out the hyperparameters (non-default ranges too)."""
  s = settings
  parts = [s.method + ('_fo' if s.first_order else ''), s.family, f'K{s.K}',
           f'mb{s.meta_batch_size}', f'a{s.alpha:g}', f'b{s.beta:g}', f's{s.num_updates}',
           'h' + 'x'.join(map(str, s.hidden)), f'it{s.meta_iterations}']
  for field in dataclasses.fields(FunGenerator.TaskRanges):
    value = getattr(s.ranges, field.name)
    if value != getattr(DEFAULT_RANGES, field.name):
      parts.append(field.name + '-'.join(f'{v:g}' for v in np.atleast_1d(value)))
  return '_'.join(parts + [f'seed{s.seed}'])


def changes(settings: Settings) -> str:
  """The settings that differ from the paper's, as part of a file name (e.g.
  K5_hidden100x100_amplitude0.1-10), or '' for the paper's."""
  parts = []
  for name, value, paper in [(f.name, getattr(settings, f.name), getattr(Settings(), f.name))
                             for f in dataclasses.fields(Settings) if f.name != 'ranges'] + [
      (f.name, getattr(settings.ranges, f.name), getattr(DEFAULT_RANGES, f.name))
      for f in dataclasses.fields(FunGenerator.TaskRanges)]:
    if value == paper:
      continue
    if isinstance(value, (bool, str)):    # first_order; a method or family by its name
      parts.append(name if isinstance(value, bool) else value)
    else:
      parts.append(name + ('x' if name == 'hidden' else '-').join(
          f'{v:g}' for v in np.atleast_1d(value)))
  return '_'.join(parts)


def check_same(saved: Settings, requested: Settings, keys, action: str, path: str):
  """One line naming both values if `saved` and `requested` differ in one of `keys`."""
  for key in keys:
    if getattr(saved, key) != getattr(requested, key):
      raise CommandError(
          f'cannot {action} {path}: it was trained with {key}={getattr(saved, key)}, '
          f'the flags ask for {key}={getattr(requested, key)}')


# -------------------------------------------------------------- the graph --

def model_config(settings: Settings) -> maml.MAMLConfig:
  family = FunGenerator.FAMILIES[settings.family]
  extra_inputs = len(family.oracle_params) if settings.method == 'oracle' else 0
  return maml.MAMLConfig(
      dim_input=1 + extra_inputs, dim_hidden=settings.hidden, alpha=settings.alpha,
      beta=settings.beta, num_updates=settings.num_updates,
      test_num_updates=settings.test_num_updates, first_order=settings.first_order,
      seed=settings.seed)


def objective_of(settings: Settings) -> str:
  """The training objective (maml.training_objective) of a method."""
  return 'maml' if settings.method == 'maml' else 'joint'


def build_model(settings: Settings) -> maml.MAML:
  """maml.MAML for these settings in a fresh default graph."""
  tf.reset_default_graph()
  return new_model(settings)


def new_model(settings: Settings) -> maml.MAML:
  """maml.MAML for these settings in the current default graph."""
  steps = max(settings.num_updates, settings.test_num_updates)
  if steps > LONG_GRAPH_STEPS:
    print(f'building the graph: {steps} unrolled inner steps take a while '
          '(about a second per 10 steps)', flush=True)
  return maml.MAML(model_config(settings), objective_of(settings),
                   meta_batch_size=settings.meta_batch_size,
                   num_support=settings.K, num_query=settings.K)


# ------------------------------------------------------- sizes and memory --

def num_parameters(settings: Settings) -> int:
  sizes = maml.layer_sizes(model_config(settings))
  return sum(fan_in * fan_out + fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))


def eval_batch_size(settings: Settings) -> int:
  """Tasks per session.run at test time: every task holds its own fast weights."""
  per_task = 3 * num_parameters(settings) * TF_FLOAT_BYTES
  return max(1, min(EVAL_BATCH, EVAL_BATCH_BYTES // per_task))


def evaluation_bytes(settings: Settings, k: int, num_tasks: int) -> int:
  """About the memory an evaluation of num_tasks tasks at K=k needs: the task
  arrays (x, y and inputs of support, query and grid), per-task losses, and
  one batch of fast weights and predictions."""
  points = 2 * k + GRID_POINTS
  steps = settings.test_num_updates + 1
  tasks = num_tasks * points * 3 * FLOAT_BYTES
  losses = num_tasks * 2 * steps * FLOAT_BYTES
  batch = eval_batch_size(settings) * (points * steps * 4 + 3 * num_parameters(settings))
  return tasks + losses + batch * TF_FLOAT_BYTES


def training_bytes(settings: Settings) -> int:
  """About the memory meta-training needs: one chunk of task data, theta with
  Adam's slots and gradients, every task's fast weights and the activations of
  each unrolled inner step."""
  points = settings.meta_batch_size * 2 * settings.K
  dim = model_config(settings).dim_input + 1
  data = settings.iterations_per_run * points * dim * FLOAT_BYTES * 3
  weights = num_parameters(settings) * (4 + 2 * settings.meta_batch_size
                                        * (settings.num_updates + 1))
  activations = points * sum(settings.hidden) * 6 * (settings.num_updates + 1)
  return data + (weights + activations) * TF_FLOAT_BYTES


def check_resources(settings: Settings, training: bool, eval_ks: Iterable[int] = (),
                    num_eval_tasks: int = 0):
  """Sizes TF shapes can hold and memory this machine has, before anything is
  built: for training (if `training`) and for evaluating num_eval_tasks tasks
  at each of `eval_ks`."""
  dim = model_config(settings).dim_input
  chunk = settings.iterations_per_run * settings.meta_batch_size * 2 * settings.K * dim
  largest = max([chunk] + [eval_batch_size(settings) * (2 * k + GRID_POINTS) for k in eval_ks])
  if largest > INT32_MAX:
    raise CommandError(f'--K={settings.K}, --meta_batch_size={settings.meta_batch_size}, '
                       f'--iterations_per_run={settings.iterations_per_run}, --eval_k: a tensor '
                       f'of {largest:.3g} numbers exceeds what a TF shape holds ({INT32_MAX})')
  needs = {'training': training_bytes(settings)} if training else {}
  for k in eval_ks:
    needs[f'evaluating {num_eval_tasks} tasks at K={k}'] = evaluation_bytes(settings, k,
                                                                           num_eval_tasks)
  for what, need in needs.items():
    require_memory(what, need, '--num_eval_tasks, --eval_k, --K, --meta_batch_size, '
                               '--iterations_per_run, --hidden')


def require_memory(what: str, need: int, flags_to_lower: str):
  """One line if `need` bytes exceed the memory this process can have."""
  available = utils.available_bytes()
  if need > available:
    raise CommandError(
        f'{what} would need about {utils.readable_bytes(need)} of memory and this process '
        f'can have {utils.readable_bytes(available)} (free memory, within any ulimit -v); ask '
        f'for less ({flags_to_lower})')


@dataclasses.dataclass(frozen=True)
class Job:
  """One model to train: its settings and its checkpoint folder."""
  settings: Settings
  path: str
