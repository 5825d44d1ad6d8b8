"""The points of the study: one task distribution each, and the models they test.

For every point the study meta-trains MAML and pretrains the baseline on that
distribution (K=10, 70,000 iterations, the paper's hyperparameters), and also
tests the standard model (MAML trained on the paper's setting, Fig1) on it
without retraining. Models live in <logdir>/robustness/models/<experiment name>,
so a model two points share (e.g. Fig2 and the amplitude sweep at 10) is
trained once. `training_jobs` lists the models of some points for
scheduler.train_models.
"""
import dataclasses
import math
import os
from typing import Callable, Dict, List, Tuple

import FunGenerator
from run import checkpoints
from run import settings as run_settings

PAPER_FREQUENCY = FunGenerator.PAPER_FREQUENCY
# The study's models are the paper's settings on each point's distribution;
# the project defines them, never the flags of the run that reports them.
STUDY_BASE = run_settings.Settings()


@dataclasses.dataclass(frozen=True)
class Point:
  """One task distribution of the study.

  name: the command-line name; title: what changed from the paper's setting;
  family: a FunGenerator family; ranges: the TaskRanges fields that differ
  from the paper's; axis/magnitude: the sweep coordinate (None for a setting);
  training: training settings that differ from the study's (checks only);
  tuned_alpha: every model's test step size is chosen on validation tasks,
  not only the baseline's (checks only).
  """
  name: str
  title: str
  family: str = 'sinusoid'
  ranges: Dict[str, object] = dataclasses.field(default_factory=dict)
  axis: str = None
  magnitude: float = None
  training: Dict[str, object] = dataclasses.field(default_factory=dict)  # e.g. another seed
  tuned_alpha: bool = False    # MAML too adapts with a step size chosen on validation tasks

  @property
  def task_ranges(self) -> FunGenerator.TaskRanges:
    return dataclasses.replace(run_settings.DEFAULT_RANGES, **self.ranges)


# The earlier study's seven README figures (Fig1..Fig7) and its lines.
SETTING_POINTS = (
    Point('Fig1', "the paper's setting"),
    Point('Fig2', 'amplitude A ~ U[0.1, 10]', ranges={'amplitude': (0.1, 10.0)}),
    Point('Fig3', 'phase phi ~ U[pi, 2 pi]', ranges={'phase': (math.pi, 2 * math.pi)}),
    Point('Fig4', 'x range [-4, 6]', ranges={'x': (-4.0, 6.0)}),
    Point('Fig5', 'frequency w ~ U[0.1, 0.2]', ranges={'frequency': (0.1, 0.2)}),
    Point('Fig6', 'product a sin(x - phi1) cos(2 pi w2 x - phi2), w2 - w1 ~ U[0.01, 0.1]',
          family='product'),
    Point('Fig7', 'sum a1 sin(x - phi1) + a2 cos(2 pi w2 x - phi2), w2 - w1 ~ U[0.01, 0.1]',
          family='sum'),
    Point('linear', 'lines: offset + slope x, both ~ U[-3, 3]', family='linear'),
)
STANDARD = SETTING_POINTS[0]
# The earlier study's "common periodic functions", with the paper's amplitude,
# phase and frequency ranges, quadratics, and a mixture whose tasks draw their
# shape at random.
SHAPE_POINTS = (
    Point('square', 'square waves a sign(sin(x - phi))', family='square'),
    Point('triangle', 'triangle waves a (2/pi) arcsin(sin(x - phi))', family='triangle'),
    Point('sawtooth', 'sawtooth waves, a ramp from -a to a each period', family='sawtooth'),
    Point('quadratic', 'quadratics c x^2 + s x + o, c ~ U[-1, 1], s, o ~ U[-3, 3]',
          family='quadratic'),
    Point('shapes', 'a sinusoid, square, triangle or sawtooth wave per task', family='shapes'),
)
ONE_FREQUENCY = {'frequency_offset': (0.0, 0.0)}
DOUBLE_FREQUENCY = {'frequency': (2 * PAPER_FREQUENCY, 2 * PAPER_FREQUENCY)}
# Controls that tell apart what makes Fig6 and Fig7 hard. With one frequency a
# sum is a sinusoid of the paper's frequency (another amplitude and phase
# distribution) and a product (a/2) sin(2x - phi1 - phi2) + (a/2) sin(phi2 - phi1):
# a doubled frequency, amplitudes halved, the phase over the whole circle and
# an offset. The sinusoid controls add those properties one group at a time.
CONTROL_POINTS = (
    Point('Fig6_one_frequency', 'product with w2 = w1 (a doubled-frequency sinusoid '
          'plus an offset)', family='product', ranges=ONE_FREQUENCY),
    Point('Fig7_one_frequency', 'sum with w2 = w1 (one sinusoid)', family='sum',
          ranges=ONE_FREQUENCY),
    Point('double_frequency', "sinusoid at the doubled frequency w = 1/pi, the paper's "
          'A and phi', ranges=DOUBLE_FREQUENCY),
    Point('double_frequency_product_like', 'sinusoid at w = 1/pi, A ~ U[0.05, 2.5], '
          'phi ~ U[0, 2 pi] (the one-frequency product without its offset)',
          ranges={**DOUBLE_FREQUENCY, 'amplitude': (0.05, 2.5), 'phase': (0.0, 2 * math.pi)}),
)
# Points drawn as a figure like the earlier study's (Img/<name>.png).
FIGURE_POINTS = tuple(p.name for p in SETTING_POINTS + SHAPE_POINTS)
# Points whose tasks are also fit one network per task (study.ceiling): the
# paper's sinusoid as the reference, the shapes, the widest frequency ranges,
# the sums and products and the doubled-frequency control.
CEILING_POINTS = ((STANDARD.name,) + tuple(p.name for p in SHAPE_POINTS)
                  + ('Fig5', 'frequency_0.4', 'Fig6', 'Fig6_one_frequency', 'Fig7',
                     'double_frequency'))


@dataclasses.dataclass(frozen=True)
class Axis:
  """A direction away from the paper's sinusoid; `point` builds (family, ranges)."""
  label: str
  magnitudes: Tuple[float, ...]
  point: Callable[[float], Tuple[str, dict]]


# The first magnitude of every axis is the paper's distribution (or, for mix,
# the same functions written as a sum with b = 0).
AXES = {
    'amplitude': Axis('upper bound of the amplitude A', (5, 10, 20, 40, 80),
                      lambda m: ('sinusoid', {'amplitude': (0.1, float(m))})),
    'phase': Axis('width of the phase range, in units of pi', (1, 1.25, 1.5, 1.75, 2),
                  lambda m: ('sinusoid', {'phase': (0.0, m * math.pi)})),
    'frequency': Axis('width of the frequency range w (cycles per unit)',
                      (0, 0.05, 0.1, 0.2, 0.4),
                      lambda m: ('sinusoid', {'frequency': (PAPER_FREQUENCY,
                                                            PAPER_FREQUENCY + m)})),
    'x_shift': Axis('shift of the x range', (0, 1, 2, 5, 10),
                    lambda m: ('sinusoid', {'x': (-5.0 + m, 5.0 + m)})),
    'mix': Axis('weight b of the cosine in sin + b cos, two frequencies', (0, 0.25, 0.5, 1, 2),
                lambda m: ('sum', {'mix': (float(m), float(m))})),
    'mix_one_frequency': Axis('weight b of the cosine in sin + b cos, one frequency',
                              (0, 0.25, 0.5, 1, 2),
                              lambda m: ('sum', {'mix': (float(m), float(m)), **ONE_FREQUENCY})),
    'noise': Axis('standard deviation of the observation noise', (0, 0.25, 0.5, 1, 2),
                  lambda m: ('sinusoid', {'noise_std': float(m)})),
}


def sweep_name(axis: str, magnitude: float, suffix: str = '') -> str:
  """The point name of a sweep coordinate, e.g. amplitude_10 (+ a check's suffix)."""
  return f'{axis}_{magnitude:g}{suffix}'


def sweep_points() -> List[Point]:
  points = []
  for axis, spec in AXES.items():
    for magnitude in spec.magnitudes:
      family, ranges = spec.point(magnitude)
      points.append(Point(sweep_name(axis, magnitude), f'{spec.label} = {magnitude:g}',
                          family, ranges, axis, magnitude))
  return points


SWEEP = tuple(sweep_points())
SECOND_SEED = 2
SEED_SUFFIX = f'_seed{SECOND_SEED}'


def with_second_seed(point: Point) -> Point:
  """The same distribution with models trained from SECOND_SEED (off the sweep axes)."""
  return dataclasses.replace(point, name=point.name + SEED_SUFFIX, axis=None,
                             title=f'{point.title}, seed {SECOND_SEED}',
                             training={'seed': SECOND_SEED})


# The whole sweep and the shapes again with another training seed: how much
# of a result is the seed.
SWEEP_SECOND_SEED = tuple(map(with_second_seed, SWEEP))
SHAPE_POINTS_SECOND_SEED = tuple(map(with_second_seed, SHAPE_POINTS))
# Most settings share their seed-2 models with sweep points (Fig2 is amplitude_10).
SETTING_POINTS_SECOND_SEED = tuple(map(with_second_seed, SETTING_POINTS))
CONTROL_POINTS_SECOND_SEED = tuple(map(with_second_seed, CONTROL_POINTS))
SEED_RUNS = ((1, ''), (SECOND_SEED, SEED_SUFFIX))   # (training seed, point name suffix)
TUNED_AMPLITUDES = (40, 80)
TUNED_SUFFIX = '_tuned'
FULL_PHASE = {'phase': (0.0, 2 * math.pi)}
CHECK_ITERATIONS = 210000
# MAML meta-trained on the full phase circle (seed 1) fits far fewer tasks than
# in the paper's setting: a third seed and three times the iterations tell a
# bad seed or too short a run from a harder problem.
CHECKS = SWEEP_SECOND_SEED + (
    Point('phase_2_seed3', 'phase width 2 pi, seed 3', ranges=FULL_PHASE, training={'seed': 3}),
    Point('phase_2_long', f'phase width 2 pi, {CHECK_ITERATIONS} iterations',
          ranges=FULL_PHASE, training={'meta_iterations': CHECK_ITERATIONS}),
) + tuple(
    # Large amplitudes fail with the fixed alpha = 0.01: is it the step size?
    dataclasses.replace(point, name=point.name + TUNED_SUFFIX, axis=None,
                        title=point.title + ', test alpha chosen on validation tasks',
                        tuned_alpha=True)
    for point in SWEEP if point.axis == 'amplitude' and point.magnitude in TUNED_AMPLITUDES)
POINTS = {p.name: p for p in SETTING_POINTS + SWEEP + CHECKS + SHAPE_POINTS
          + SHAPE_POINTS_SECOND_SEED + SETTING_POINTS_SECOND_SEED + CONTROL_POINTS
          + CONTROL_POINTS_SECOND_SEED}
FULL_PHASE_RUNS = ('phase_2', 'phase_2_seed2', 'phase_2_seed3')
TRAINED_METHODS = ('maml', 'pretrain')
# The models tested on every point, and how the report names them.
ROLES = {'maml': 'MAML, trained on it', 'standard': 'MAML, paper model',
         'pretrain': 'pretrained, trained on it'}


def study_dir(logdir: str) -> str:
  return os.path.join(logdir, 'robustness')


def model_settings(point: Point, method: str,
                   base: run_settings.Settings = STUDY_BASE) -> run_settings.Settings:
  """The settings of the `method` model trained on a point's distribution."""
  return dataclasses.replace(base, method=method, first_order=False, family=point.family,
                             ranges=point.task_ranges, **point.training)


def model_dir(logdir: str, settings: run_settings.Settings) -> str:
  return os.path.join(study_dir(logdir), 'models', run_settings.experiment_name(settings))


def role_models(point: Point, logdir: str, base: run_settings.Settings = STUDY_BASE
                ) -> Dict[str, Tuple[run_settings.Settings, str]]:
  """role -> (settings, checkpoint folder) of the models tested on a point."""
  models = {'maml': model_settings(point, 'maml', base),
            'standard': model_settings(STANDARD, 'maml', base),
            'pretrain': model_settings(point, 'pretrain', base)}
  return {role: (settings, model_dir(logdir, settings)) for role, settings in models.items()}


def training_jobs(names: List[str], logdir: str, base: run_settings.Settings = STUDY_BASE
                  ) -> List[run_settings.Job]:
  """The MAML and pretrained models of the named points, each once."""
  jobs = {}
  for name in names:
    for method in TRAINED_METHODS:
      settings = model_settings(POINTS[name], method, base)
      jobs.setdefault(model_dir(logdir, settings), settings)
  return [run_settings.Job(settings, path) for path, settings in jobs.items()]


# Verdicts over seeds (issue 30): MAML meta-trained from each of these seeds on
# every distinct distribution the study's verdicts and tables read, and from
# more on the full phase circle, where seeds disagree most. The points above
# test seeds 1 and 2 (and 3 on the full circle); the report does not read the
# other seeds' models yet.
VERDICT_SEEDS = (1, 2, 3, 4, 5)
FULL_PHASE_SEEDS = tuple(range(1, 11))
VERDICT_POINTS = SETTING_POINTS + SWEEP + SHAPE_POINTS + CONTROL_POINTS


def seed_jobs(logdir: str, base: run_settings.Settings = STUDY_BASE) -> List[run_settings.Job]:
  """The MAML models of every VERDICT_POINTS distribution at each VERDICT_SEEDS
  seed (FULL_PHASE_SEEDS on the full phase circle), each once."""
  jobs = {}
  for point in VERDICT_POINTS:
    seeds = FULL_PHASE_SEEDS if point.ranges == FULL_PHASE else VERDICT_SEEDS
    for seed in seeds:
      settings = dataclasses.replace(model_settings(point, 'maml', base), seed=seed)
      jobs.setdefault(model_dir(logdir, settings), settings)
  return [run_settings.Job(settings, path) for path, settings in jobs.items()]


def all_jobs(logdir: str, base: run_settings.Settings = STUDY_BASE) -> List[run_settings.Job]:
  """Every model the study trains: its points' and the verdict seeds', each once."""
  jobs = {job.path: job for job in training_jobs(list(POINTS), logdir, base)
          + seed_jobs(logdir, base)}
  return list(jobs.values())


def trained_points(logdir: str, base: run_settings.Settings = STUDY_BASE) -> List[Point]:
  return [p for p in POINTS.values() if all(
      checkpoints.has_checkpoint(path) for _, path in role_models(p, logdir, base).values())]
