"""The robustness study: the seven settings, the linear family, the failure boundary.

A *point* is one task distribution (a family and its ranges). For every point
the study meta-trains MAML and pretrains the baseline on that distribution
(K=10, 70,000 iterations, the paper's hyperparameters), and also tests the
standard model (MAML trained on the paper's setting, Fig1) on it without
retraining. Models live in <logdir>/robustness/models/<experiment name>, so a
model two points share (e.g. Fig2 and the amplitude sweep at 10) is trained
once. `train_point` is one independent command per point; `report` evaluates
every trained point, draws the figures and writes the README sections.

Three test protocols, all with noise-free targets on dense grids:
  in_range       K support points from the whole x range [lo, hi], error on [lo, hi];
  time_series    support from the first 80% of the x range, error on the last
                 20%, never seen during adaptation ("predict the future");
  far            support from [lo, hi], error on [hi, hi + (hi - lo) / 2].
Errors are normalised per task: MSE / variance of the task's f over [lo, hi].
"""
import dataclasses
import math
import os
from typing import Callable, Dict, List, Tuple

import numpy as np

import experiment
import FunGenerator
import paper
import plots
import utils

PAPER_FREQUENCY = FunGenerator.PAPER_FREQUENCY


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


SETTINGS = (
    Point('Fig1', "the paper's setting"),
    Point('Fig2', 'amplitude A ~ U[0.1, 10]', ranges={'amplitude': (0.1, 10.0)}),
    Point('Fig3', 'phase phi ~ U[pi, 2 pi]', ranges={'phase': (math.pi, 2 * math.pi)}),
    Point('Fig4', 'x range [-4, 6]', ranges={'x': (-4.0, 6.0)}),
    Point('Fig5', 'frequency w ~ U[0.1, 0.2]', ranges={'frequency': (0.1, 0.2)}),
    Point('Fig6', 'product a sin(x - phi1) cos(x - phi2)', family='product'),
    Point('Fig7', 'sum a1 sin(x - phi1) + a2 cos(x - phi2)', family='sum'),
    Point('linear', 'lines: offset + slope x, both ~ U[-3, 3]', family='linear'),
)
STANDARD = SETTINGS[0]


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
    'mix': Axis('weight b of the cosine in sin + b cos', (0, 0.25, 0.5, 1, 2),
                lambda m: ('sum', {'mix': (float(m), float(m))})),
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
# The whole sweep again with another training seed: how much of the boundary is the seed.
SWEEP_SECOND_SEED = tuple(
    dataclasses.replace(point, name=point.name + SEED_SUFFIX, axis=None,
                        title=f'{point.title}, seed {SECOND_SEED}',
                        training={'seed': SECOND_SEED})
    for point in SWEEP)
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
POINTS = {p.name: p for p in SETTINGS + SWEEP + CHECKS}
FULL_PHASE_RUNS = ('phase_2', 'phase_2_seed2', 'phase_2_seed3')
TRAINED_METHODS = ('maml', 'pretrain')


def study_dir(logdir: str) -> str:
  return os.path.join(logdir, 'robustness')


def distribution(point: Point) -> dict:
  """The settings keys that define the task distribution of a point."""
  ranges = dataclasses.replace(experiment.DEFAULT_RANGES, **point.ranges)
  return {'family': point.family, 'ranges': utils.jsonable(dataclasses.asdict(ranges))}


def model_settings(point: Point, base: dict, method: str) -> dict:
  return {**base, 'method': method, 'first_order': False, **distribution(point),
          **point.training}


def model_dir(logdir: str, settings: dict) -> str:
  return os.path.join(study_dir(logdir), 'models', experiment.experiment_name(settings))


def train_point(name: str, base: dict, logdir: str, print_interval: int, save_interval: int):
  """Trains the MAML and pretrained models of one point (skips trained ones)."""
  point = POINTS[name]
  for method in TRAINED_METHODS:
    settings = model_settings(point, base, method)
    path = model_dir(logdir, settings)
    seconds = experiment.train_if_needed(settings, path, print_interval, save_interval)
    if seconds is not None:
      utils.write_json(os.path.join(path, 'training_seconds.json'), {'seconds': seconds})


# -------------------------------------------------------------- evaluation --

SPLIT_FRACTION = 0.8     # time series: adapt on the first 80% of the x range
FAR_FRACTION = 0.5       # far extrapolation: [hi, hi + 0.5 (hi - lo)]
GOOD_NMSE = 0.1          # a task counts as fit well below this normalised MSE
EVAL_KS = (10, 20)
FIGURE_K = 10
TEST_STEPS = (1, 20)
REPORTED_STEPS = (0,) + TEST_STEPS
FINAL_STEP = max(TEST_STEPS)
PERCENTILES = (10, 50, 90)
PROTOCOLS = {'in_range': 'in range', 'time_series': 'time series, last 20%',
             'far': 'far extrapolation'}
# protocol -> (support set, region where the error is measured)
MEASURED = {'in_range': ('full', 'in_range'), 'time_series': ('early', 'out_of_sample'),
            'far': ('full', 'far'), 'in_sample': ('early', 'in_sample')}
ROLES = {'maml': 'MAML, trained on it', 'standard': 'MAML, paper model',
         'pretrain': 'pretrained, trained on it'}
ROLE_COLORS = ('C0', 'C2', 'C1')
BASELINE = 'pretrain'
SIGN_TEST_Z = 1.645      # one-sided 95% normal quantile


def regions(ranges: FunGenerator.TaskRanges) -> Dict[str, FunGenerator.Range]:
  low, high = ranges.x
  split = low + SPLIT_FRACTION * (high - low)
  return {'in_range': (low, high), 'in_sample': (low, split),
          'out_of_sample': (split, high), 'far': (high, high + FAR_FRACTION * (high - low))}


def protocol_tasks(point: Point, k: int, num_tasks: int, seed: int) -> dict:
  """Held-out tasks of a point: two support sets and a dense grid per region.

  Returns {'support_full', 'support_early': (x, y) [B, K, 1] (noisy y),
  <region>: (x, f(x)) [B, GRID_POINTS, 1] (noise-free), 'variance': [B]
  (variance of f over the x range), 'params'}.
  """
  ranges = experiment.task_ranges(distribution(point))
  generator = FunGenerator.TaskGenerator(point.family, ranges, seed=seed)
  params = generator.sample_params(num_tasks)
  bounds = regions(ranges)
  tasks = {'params': params}
  for name, support_range in (('full', bounds['in_range']), ('early', bounds['in_sample'])):
    x = generator.sample_x(num_tasks, k, support_range)
    tasks['support_' + name] = (x, generator.targets(x, params))
  for name, region in bounds.items():
    x = generator.grid_x(num_tasks, experiment.GRID_POINTS, region)
    tasks[name] = (x, generator.targets(x, params, noisy=False))
  tasks['variance'] = np.var(tasks['in_range'][1][..., 0], axis=1)
  return tasks


def normalised_errors(sess, model, tasks: dict, alpha: float, supports=('full', 'early')):
  """Normalised MSE after each of REPORTED_STEPS, {protocol: {step: [B]}}, for the
  protocols adapted on `supports`, and the predictions after the time-series
  adaptation on [lo, hi], {step: [B, 2 GRID_POINTS]} (if 'early' is adapted)."""
  errors, predictions = {}, {}
  for support in supports:
    measured = [region for s, region in MEASURED.values() if s == support]
    feed = {'support': tasks['support_' + support],
            'support_inputs': tasks['support_' + support][0]}
    for region in measured:
      feed[region], feed[region + '_inputs'] = tasks[region], tasks[region][0]
    predictions.update(experiment.adapted_predictions(sess, model, feed, alpha, measured,
                                                      REPORTED_STEPS))
    mse = experiment.losses_of(feed, {r: predictions[r] for r in measured})
    for protocol, (s, region) in MEASURED.items():
      if s == support:
        errors[protocol] = dict(zip(REPORTED_STEPS, mse[region] / tasks['variance']))
  if 'early' not in supports:
    return errors, None
  curve = np.concatenate([predictions['in_sample'], predictions['out_of_sample']], axis=2)
  return errors, dict(zip(REPORTED_STEPS, curve[..., 0]))


def as_failures(values: np.ndarray) -> np.ndarray:
  """Non-finite errors (diverged adaptation) become +inf: a failed task."""
  return np.where(np.isfinite(values), values, np.inf)


def nmse_statistics(values: np.ndarray) -> dict:
  """Statistics of per-task normalised MSE [B]: mean and 95% CI over finite
  tasks, median and the fraction fit well counting non-finite tasks as failures."""
  mean_ci = utils.finite_mean_ci(values)
  return {'mean': mean_ci['mean'], 'ci95': mean_ci['ci95'],
          'median': float(np.median(as_failures(values))),
          'fraction_good': float(np.mean(as_failures(values) < GOOD_NMSE)),
          'n_nonfinite': int(np.sum(~np.isfinite(values))), 'n_tasks': int(values.size)}


def percentile_tasks(values: np.ndarray) -> List[int]:
  """Indices of the tasks at PERCENTILES of the per-task error [B]."""
  order = np.argsort(as_failures(values), kind='stable')
  return [int(order[round(p / 100 * (values.size - 1))]) for p in PERCENTILES]


def validated_alpha(sess, model, point: Point, k: int, num_tasks: int) -> float:
  """The baseline's fine-tuning step size: lowest mean in-range normalised MSE
  after the last test step on validation tasks (a diverging alpha loses)."""
  tasks = protocol_tasks(point, k, num_tasks, paper.VALIDATION_SEED)
  scores = {alpha: float(np.mean(as_failures(
      normalised_errors(sess, model, tasks, alpha, ('full',))[0]['in_range'][FINAL_STEP])))
            for alpha in paper.BASELINE_ALPHAS}
  return min(scores, key=scores.get)


@dataclasses.dataclass
class Evaluation:
  """One model on one point at one K."""
  alpha: float
  errors: Dict[str, Dict[int, np.ndarray]]   # protocol -> step -> [B] normalised MSE
  plotted: List[int]                         # tasks at PERCENTILES of the time-series error
  curves: Dict[int, np.ndarray]              # step -> [len(plotted), 2 GRID_POINTS]


def role_models(point: Point, base: dict, logdir: str) -> Dict[str, Tuple[dict, str]]:
  """role -> (settings, checkpoint folder) of the models tested on a point."""
  models = {'maml': model_settings(point, base, 'maml'),
            'standard': model_settings(STANDARD, base, 'maml'),
            'pretrain': model_settings(point, base, 'pretrain')}
  return {role: (settings, model_dir(logdir, settings)) for role, settings in models.items()}


def evaluate_points(points: List[Point], base: dict, logdir: str, num_tasks: int,
                    seed: int) -> Dict[str, Dict[int, Dict[str, Evaluation]]]:
  """{point: {K: {role: Evaluation}}}, restoring each model once for all its points."""
  jobs = {}
  for point in points:
    for role, (settings, path) in role_models(point, base, logdir).items():
      jobs.setdefault(path, (settings, []))[1].append((point, role))
  results = {p.name: {k: {} for k in EVAL_KS} for p in points}
  # Every model of the study is the same network (one input), so one graph serves.
  first_settings = next(iter(jobs.values()))[0]
  with experiment.test_session({**first_settings, 'test_num_updates': FINAL_STEP}) as (
      sess, model, restore):
    for path, (settings, uses) in jobs.items():
      experiment.check_same(first_settings, settings, ('hidden',), 'evaluate', path)
      restore(path)
      for point, role in uses:
        for k in EVAL_KS:
          alpha = (validated_alpha(sess, model, point, k, num_tasks)
                   if settings['method'] == BASELINE or point.tuned_alpha
                   else settings['alpha'])
          errors, curves = normalised_errors(
              sess, model, protocol_tasks(point, k, num_tasks, seed), alpha)
          plotted = percentile_tasks(errors['time_series'][FINAL_STEP])
          results[point.name][k][role] = Evaluation(
              alpha, errors, plotted, {s: c[plotted] for s, c in curves.items()})
  return {name: {k: {role: by_role[role] for role in ROLES} for k, by_role in by_k.items()}
          for name, by_k in results.items()}


# ------------------------------------------------------------------ report --

BOUNDARY_PROTOCOLS = ('in_range', 'time_series')
ALL_POINTS_TABLE = 'all_points.md'   # beside the points' JSON files


def summary(evaluations: Dict[int, Dict[str, Evaluation]]) -> dict:
  """The JSON of one point: {K: {role: {alpha, protocols: {protocol: {step: stats}}}}}.

  Besides nmse_statistics, MAML's rows hold the fraction of tasks on which its
  error is below the baseline's on the same task (`fraction_beating_baseline`).
  """
  out = {}
  for k, by_role in evaluations.items():
    baseline = by_role[BASELINE].errors
    out[str(k)] = {}
    for role, e in by_role.items():
      protocols = {}
      for protocol, errors in e.errors.items():
        protocols[protocol] = {}
        for step in REPORTED_STEPS:
          row = nmse_statistics(errors[step])
          if role != BASELINE:
            row['fraction_beating_baseline'] = float(np.mean(
                as_failures(errors[step]) < as_failures(baseline[protocol][step])))
          protocols[protocol][str(step)] = row
      out[str(k)][role] = {'alpha': e.alpha, 'protocols': protocols}
  return out


def write_point(point: Point, evaluations, path: str, num_tasks: int, seed: int) -> dict:
  """Writes <point>.json (statistics) and <point>_tasks.csv (per-task errors at FIGURE_K)."""
  stats = summary(evaluations)
  utils.write_json(path + '.json', {
      'point': dataclasses.asdict(point), 'num_tasks': num_tasks, 'eval_seed': seed,
      'good_nmse': GOOD_NMSE, 'split_fraction': SPLIT_FRACTION,
      'far_fraction': FAR_FRACTION, 'results': stats})
  columns = [(role, protocol, s) for role in ROLES for protocol in MEASURED for s in TEST_STEPS]
  errors = evaluations[FIGURE_K]
  utils.write_csv(path + '_tasks.csv', ['task'] + [f'{r}_{p}_step{s}' for r, p, s in columns],
                  [[b] + [errors[r].errors[p][s][b] for r, p, s in columns]
                   for b in range(num_tasks)])
  return stats


def setting_figure(point: Point, evaluations: Dict[str, Evaluation], path: str,
                   seed: int, num_tasks: int):
  """Tasks at the 10th/50th/90th percentile of time-series error, per model, and
  the error distributions of the three protocols after FINAL_STEP steps."""
  tasks = protocol_tasks(point, FIGURE_K, num_tasks, seed)
  bounds = regions(experiment.task_ranges(distribution(point)))
  x = np.concatenate([tasks['in_sample'][0], tasks['out_of_sample'][0]], axis=1)[..., 0]
  y = np.concatenate([tasks['in_sample'][1], tasks['out_of_sample'][1]], axis=1)[..., 0]
  support_x, support_y = (a[..., 0] for a in tasks['support_early'])
  columns = []
  for role, e in evaluations.items():
    columns.append([plots.CurvePanel(
        x[b], y[b], (support_x[b], support_y[b]),
        {s: e.curves[s][i] for s in TEST_STEPS}, bounds['out_of_sample'],
        f"{ROLES[role]}: {p}th pct, nMSE {e.errors['time_series'][FINAL_STEP][b]:.3g}")
                    for i, (p, b) in enumerate(zip(PERCENTILES, e.plotted))])
  distributions = {f'{title}, {FINAL_STEP} steps': {
      ROLES[role]: e.errors[protocol][FINAL_STEP] for role, e in evaluations.items()}
                   for protocol, title in PROTOCOLS.items()}
  plots.percentile_figure(path, f'{point.name}: {point.title} (K={FIGURE_K})', columns,
                          distributions, GOOD_NMSE)


def works(row: dict) -> bool:
  """MAML works on a distribution if it fits most tasks well: median nMSE < GOOD_NMSE."""
  return row['median'] < GOOD_NMSE


def beats_baseline(row: dict) -> bool:
  """Paired sign test on the same tasks: MAML's error is lower than the
  baseline's on significantly more than half of them (one-sided, 95%)."""
  return row['fraction_beating_baseline'] > 0.5 + SIGN_TEST_Z * 0.5 / math.sqrt(row['n_tasks'])


def first_failure(stats: Dict[str, dict], axis: str, protocol: str, test,
                  suffix: str = ''):
  """Index of the first magnitude of an axis where MAML (trained on that point)
  fails `test` after FINAL_STEP steps at K=FIGURE_K, or None; suffix picks the
  points of another training seed."""
  return next((i for i, m in enumerate(AXES[axis].magnitudes)
               if not test(final(stats, sweep_name(axis, m, suffix), 'maml', protocol))), None)


def last_passing(stats: Dict[str, dict], axis: str, protocol: str, test,
                 suffix: str = '') -> str:
  """In words: the largest magnitude up to which MAML passes `test`."""
  magnitudes = AXES[axis].magnitudes
  i = first_failure(stats, axis, protocol, test, suffix)
  if i is None:
    return f'over the whole sweep (up to {magnitudes[-1]:g})'
  if i == 0:
    return 'nowhere'
  return f"{'only at' if i == 1 else 'up to'} {magnitudes[i - 1]:g} (not at {magnitudes[i]:g})"


def boundary_panels(stats: Dict[str, dict]) -> List[dict]:
  """One panel per axis and protocol: median nMSE of each model against magnitude."""
  panels = []
  for axis, spec in AXES.items():
    for protocol in BOUNDARY_PROTOCOLS:
      lines = {}
      for role, color in zip(ROLES, ROLE_COLORS):
        for step in TEST_STEPS:
          lines[f'{ROLES[role]}, {step} step' + ('s' if step > 1 else '')] = (
              [final(stats, sweep_name(axis, m), role, protocol, step)['median']
               for m in spec.magnitudes],
              {'color': color, 'ls': '-' if step == FINAL_STEP else '--'})
      lines[f"{ROLES['maml']}, seed {SECOND_SEED}, {FINAL_STEP} steps"] = (
          [final(stats, sweep_name(axis, m, SEED_SUFFIX), 'maml', protocol)['median']
           for m in spec.magnitudes], {'color': ROLE_COLORS[0], 'ls': ':'})
      lost = first_failure(stats, axis, protocol, beats_baseline)
      panels.append({'title': f'{axis}, {PROTOCOLS[protocol]}', 'xlabel': spec.label,
                     'magnitudes': spec.magnitudes, 'lines': lines,
                     'lost': None if lost is None else spec.magnitudes[lost]})
  return panels


def stat_cell(row: dict) -> str:
  return f"{row['median']:.3g} ({100 * row['fraction_good']:.0f}%)"


def settings_table(stats: Dict[str, dict]) -> str:
  """K=10, FINAL_STEP steps: median normalised MSE and % of tasks fit well, per protocol."""
  lines = ['| setting | model | ' + ' | '.join(PROTOCOLS.values()) + ' |',
           '|---|---|' + '---|' * len(PROTOCOLS)]
  for point in SETTINGS:
    for role, label in ROLES.items():
      lines.append(f'| {point.name}: {point.title} | {label} | ' + ' | '.join(
          stat_cell(final(stats, point.name, role, p)) for p in PROTOCOLS) + ' |')
  return '\n'.join(lines)


def details_table(stats: Dict[str, dict], names: List[str]) -> str:
  """Every K, protocol and test step count: mean ± 95% CI, median, % fit well."""
  lines = ['| point | model | K | α | protocol | ' + ' | '.join(
      f'{s} steps: mean ± CI, median, % good' for s in REPORTED_STEPS) + ' |',
           '|---|---|---|---|---|' + '---|' * len(REPORTED_STEPS)]
  for name in names:
    for k, by_role in stats[name].items():
      for role, row in by_role.items():
        for protocol, by_step in row['protocols'].items():
          cells = [f"{c['mean']:.3g} ± {c['ci95']:.2g}, {c['median']:.3g}, "
                   f"{100 * c['fraction_good']:.0f}%" + (
                       f", {c['n_nonfinite']} non-finite" if c['n_nonfinite'] else '')
                   for c in (by_step[str(s)] for s in REPORTED_STEPS)]
          lines.append(f"| {name} | {ROLES[role]} | {k} | {row['alpha']:g} | {protocol} | "
                       + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def sweep_table(stats: Dict[str, dict]) -> str:
  """Per axis and magnitude, K=10, FINAL_STEP steps: in-range and time-series columns."""
  header = [f'{ROLES[r]}, {PROTOCOLS[p]}' for p in BOUNDARY_PROTOCOLS for r in ROLES]
  lines = ['| axis | magnitude | ' + ' | '.join(header) + ' |',
           '|---|---|' + '---|' * len(header)]
  for axis, spec in AXES.items():
    for m in spec.magnitudes:
      lines.append(f'| {axis} | {m:g} | ' + ' | '.join(
          stat_cell(final(stats, sweep_name(axis, m), r, p))
          for p in BOUNDARY_PROTOCOLS for r in ROLES) + ' |')
  return '\n'.join(lines)


def boundary_table(stats: Dict[str, dict]) -> str:
  """Per axis: how far MAML trained on each point keeps working and keeps its advantage."""
  header = [f'{what}, {PROTOCOLS[p]}' for what in ('works', 'beats the baseline')
            for p in BOUNDARY_PROTOCOLS]
  lines = ['| axis | seed | ' + ' | '.join(header) + ' |', '|---|---|' + '---|' * len(header)]
  for axis, spec in AXES.items():
    for seed, suffix in SEED_RUNS:
      cells = [last_passing(stats, axis, p, test, suffix) for test in (works, beats_baseline)
               for p in BOUNDARY_PROTOCOLS]
      lines.append(f'| {spec.label} ({", ".join(f"{m:g}" for m in spec.magnitudes)}) | '
                   f'{seed} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def final(stats: Dict[str, dict], name: str, role: str, protocol: str = 'in_range',
          step: int = FINAL_STEP, k: int = FIGURE_K) -> dict:
  """Statistics of a point, model and protocol at K=k after `step` steps."""
  return stats[name][str(k)][role]['protocols'][protocol][str(step)]


def final_alpha(stats: Dict[str, dict], name: str, role: str) -> float:
  """The test step size a model adapted with on a point at K=FIGURE_K."""
  return stats[name][str(FIGURE_K)][role]['alpha']


def share(stats, name, role, protocol='in_range', k=FIGURE_K) -> float:
  """Percent of tasks fit well."""
  return 100 * final(stats, name, role, protocol, k=k)['fraction_good']


def good(stats, name, role, protocol='in_range', k=FIGURE_K) -> str:
  return f'{share(stats, name, role, protocol, k):.0f}%'


def span(values: List[float], number: str = '{:.0f}%') -> str:
  return f'{number.format(min(values))} to {number.format(max(values))}'


def tuned_alpha_effect(stats: Dict[str, dict], amplitude: float) -> str:
  fixed, tuned = (sweep_name('amplitude', amplitude, suffix) for suffix in ('', TUNED_SUFFIX))
  return (f"MAML trained with amplitude bound {amplitude:g} fits {good(stats, tuned, 'maml')} "
          f"of tasks well in range (alpha = {final_alpha(stats, tuned, 'maml'):g}, median "
          f"{final(stats, tuned, 'maml')['median']:.3g}) instead of {good(stats, fixed, 'maml')} "
          f"(median {final(stats, fixed, 'maml')['median']:.3g})")


def findings(stats: Dict[str, dict]) -> str:
  """The Results paragraph: the measured answers to the earlier study's claims,
  every number read from `stats` (K=FIGURE_K, FINAL_STEP steps)."""
  moved = [p.name for p in SETTINGS[1:] if p.family in ('sinusoid', 'sum')]
  far_sinusoids = [p.name for p in SETTINGS if p.family != 'linear']
  paper_model_worst = min(moved, key=lambda n: share(stats, n, 'standard'))
  product_ratio = (final(stats, 'Fig6', 'pretrain')['median']
                   / final(stats, 'Fig6', 'maml')['median'])
  lines = [
      f"- **The paper's setting (Fig1).** After {FINAL_STEP} steps from K={FIGURE_K} points "
      f"MAML fits {good(stats, 'Fig1', 'maml')} of the {final(stats, 'Fig1', 'maml')['n_tasks']} "
      "held-out tasks well over the x "
      f"range, the pretrained baseline {good(stats, 'Fig1', 'pretrain')}. On the last "
      f"{100 * (1 - SPLIT_FRACTION):.0f}% of the range, never seen during adaptation: {good(stats, 'Fig1', 'maml', 'time_series')} "
      f"against {good(stats, 'Fig1', 'pretrain', 'time_series')}.",
      f"- **Moved sinusoids ({', '.join(moved)}).** MAML meta-trained on the moved "
      f"distribution fits {span([share(stats, n, 'maml') for n in moved])} of tasks well in range "
      f"({good(stats, 'Fig1', 'maml')} in the paper's setting), the pretrained baseline "
      f"{span([share(stats, n, 'pretrain') for n in moved])}. The paper's model tested there "
      f"without retraining fits {span([share(stats, n, 'standard') for n in moved])}, worst on "
      f"{paper_model_worst} ({POINTS[paper_model_worst].title}, "
      f"{good(stats, paper_model_worst, 'standard')}).",
      '- **How far the distribution can move** before MAML meta-trained on it no '
      f'longer fits most tasks well (median normalised MSE < {GOOD_NMSE:g}, in range): '
      + '; '.join(f'{spec.label}: ' + ', '.join(
          f"seed {seed} {last_passing(stats, axis, 'in_range', works, suffix)}"
          for seed, suffix in SEED_RUNS) for axis, spec in AXES.items()) + '.',
      '- **Large amplitudes and the step size.** With the test step size chosen on '
      'validation tasks instead of the meta-training alpha = '
      f"{final_alpha(stats, sweep_name('amplitude', TUNED_AMPLITUDES[0]), 'maml'):g}, "
      + '; '.join(tuned_alpha_effect(stats, m) for m in TUNED_AMPLITUDES) + '.',
      f"- **Products (Fig6).** MAML trained on products fits "
      f"{good(stats, 'Fig6', 'maml')} of tasks well (median normalised MSE "
      f"{final(stats, 'Fig6', 'maml')['median']:.2f}), the pretrained baseline "
      f"{good(stats, 'Fig6', 'pretrain')} (median "
      f"{final(stats, 'Fig6', 'pretrain')['median']:.2f}, {product_ratio:.1f} times MAML's).",
      f"- **More points** (K={max(EVAL_KS)} at test, the models trained with "
      f"K={FIGURE_K}). On Fig5 MAML fits {good(stats, 'Fig5', 'maml', k=max(EVAL_KS))} "
      f"of tasks well in range (K={FIGURE_K}: {good(stats, 'Fig5', 'maml')}) but "
      f"{good(stats, 'Fig5', 'maml', 'time_series', k=max(EVAL_KS))} on the never-seen "
      f"end of the range (K={FIGURE_K}: {good(stats, 'Fig5', 'maml', 'time_series')}); "
      f"on Fig6 {good(stats, 'Fig6', 'maml', k=max(EVAL_KS))} in range "
      f"(K={FIGURE_K}: {good(stats, 'Fig6', 'maml')}).",
      f"- **Lines.** MAML trained on lines fits {good(stats, 'linear', 'maml')} in range, "
      f"{good(stats, 'linear', 'maml', 'time_series')} on the never-seen last 20% and "
      f"{good(stats, 'linear', 'maml', 'far')} far beyond the range; the pretrained "
      f"baseline {good(stats, 'linear', 'pretrain')}, "
      f"{good(stats, 'linear', 'pretrain', 'time_series')} and "
      f"{good(stats, 'linear', 'pretrain', 'far')}.",
      f"- **The full phase circle** (phase width 2 pi). MAML meta-trained on it fits "
      f"{', '.join(good(stats, n, 'maml') for n in FULL_PHASE_RUNS)} of tasks well in "
      f"range (seeds 1, 2, 3) and {good(stats, 'phase_2_long', 'maml')} after "
      f"{CHECK_ITERATIONS} iterations, while the paper's model, trained on half the "
      f"circle, fits {good(stats, 'phase_2', 'standard')} of the same tasks.",
      f"- **Far extrapolation of periodic tasks.** On [hi, hi + (hi - lo)/2] MAML's median "
      f"normalised MSE is "
      f"{span([final(stats, n, 'maml', 'far')['median'] for n in far_sinusoids], '{:.3g}')} "
      f"across Fig1-Fig7 (1 = predicting the task's mean), the pretrained baseline's "
      f"{span([final(stats, n, 'pretrain', 'far')['median'] for n in far_sinusoids], '{:.3g}')}; "
      f"no model fits more than {max(share(stats, n, r, 'far') for n in far_sinusoids for r in ROLES):.0f}% "
      'of the tasks of any of these settings well there.',
  ]
  return '\n'.join(lines)


def training_time_text(base: dict, logdir: str) -> str:
  paths = {model_dir(logdir, model_settings(p, base, m)) for p in POINTS.values()
           for m in TRAINED_METHODS}
  seconds = [utils.read_json(os.path.join(p, 'training_seconds.json'))['seconds']
             for p in sorted(paths)]
  return (f'The study trained {len(seconds)} models ({len(POINTS)} points share some), '
          f'{sum(seconds) / 60:.0f} minutes of training in all '
          f'({min(seconds):.0f} to {max(seconds):.0f} s each, mostly two at a time on 2 cores), '
          'from the `training_seconds.json` files.')


def trained_points(base: dict, logdir: str) -> List[Point]:
  return [p for p in POINTS.values() if all(
      experiment.has_checkpoint(path) for _, path in role_models(p, base, logdir).values())]


def report(base: dict, logdir: str, img_dir: str, readme: str, num_tasks: int, seed: int):
  """Evaluates every trained point, writes its results, draws Img/Fig1..7.png,
  Img/linear.png and Img/robustness_summary.png, rewrites the README sections."""
  points = trained_points(base, logdir)
  if not points:
    raise experiment.CommandError(f'no trained robustness points in {study_dir(logdir)}; '
                                  'train them with --mode=point')
  evaluations = evaluate_points(points, base, logdir, num_tasks, seed)
  results_dir = os.path.join(study_dir(logdir), 'points')
  os.makedirs(results_dir, exist_ok=True)
  os.makedirs(img_dir, exist_ok=True)
  stats = {p.name: write_point(p, evaluations[p.name], os.path.join(results_dir, p.name),
                               num_tasks, seed) for p in points}
  for point in points:
    if point in SETTINGS:
      setting_figure(point, evaluations[point.name][FIGURE_K],
                     os.path.join(img_dir, point.name + '.png'), seed, num_tasks)
  # Sections are written once every point they read has been trained.
  has_settings = all(p.name in stats for p in SETTINGS)
  has_all = len(stats) == len(POINTS)
  sections = {}
  if has_settings:
    sections.update({'robustness_settings': settings_table(stats),
                     'robustness_details': details_table(stats, [p.name for p in SETTINGS])})
  if has_settings and has_all:
    sections['robustness_findings'] = findings(stats)
  if has_all:
    plots.boundary_figure(os.path.join(img_dir, 'robustness_summary.png'),
                          boundary_panels(stats), GOOD_NMSE)
    sections.update({'robustness_sweep': sweep_table(stats),
                     'robustness_boundary': boundary_table(stats),
                     'robustness_training_time': training_time_text(base, logdir)})
    utils.atomic_write(os.path.join(results_dir, ALL_POINTS_TABLE),
                       '# Every point of the robustness study\n\n'
                       + details_table(stats, list(POINTS)) + '\n')
  utils.update_readme(readme, sections)
  print(f'wrote the results of {len(points)} points to {results_dir}, their figures to '
        f'{img_dir} and {len(sections)} README sections')
