"""How a model is tested on a point: three protocols, the normalised error, its
statistics and the paired sign test against the baseline. `evaluate` writes
every point's results files, which are all the report reads.

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
from typing import Dict, List, Tuple

import numpy as np

from common import fileio
from common import statistics
import FunGenerator
from run import checkpoints
from run import evaluation
from run import sampling
from run import settings as run_settings
from study import family_fit
from study import points as study_points
import utils

SPLIT_FRACTION = 0.8     # time series: adapt on the first 80% of the x range
FAR_FRACTION = 0.5       # far extrapolation: [hi, hi + 0.5 (hi - lo)]
GOOD_NMSE = 0.1          # a task counts as fit well below this normalised MSE
EVAL_KS = (10, 20)
FIGURE_K = 10
TEST_STEPS = (1, 20)      # drawn in figures and kept per task in <point>_tasks.csv
# Test step counts a model may be adapted with, one chosen per model on
# validation tasks (MAML is meta-trained for one step; more may help or hurt).
STEP_CHOICES = (1, 2, 5, 10, 20)
REPORTED_STEPS = (0,) + STEP_CHOICES
FINAL_STEP = max(TEST_STEPS)
CHOSEN = 'chosen'         # the statistics at the step count chosen on validation tasks
PERCENTILES = (10, 50, 90)
PROTOCOLS = {'in_range': 'in range', 'time_series': 'time series, last 20%',
             'far': 'far extrapolation'}
# protocol -> (support set, region where the error is measured)
MEASURED = {'in_range': ('full', 'in_range'), 'time_series': ('early', 'out_of_sample'),
            'far': ('full', 'far'), 'in_sample': ('early', 'in_sample')}
BASELINE = 'pretrain'
SIGN_TEST_LEVEL = 0.05   # one-sided
SIGN_TEST_Z = 1.645      # its normal quantile


def point_ks(point: study_points.Point) -> Tuple[int, ...]:
  """The K a point is tested at."""
  return point.eval_ks or EVAL_KS


def points_dir(logdir: str) -> str:
  return os.path.join(study_points.study_dir(logdir), 'points')


def regions(ranges: FunGenerator.TaskRanges) -> Dict[str, FunGenerator.Range]:
  low, high = ranges.x
  split = low + SPLIT_FRACTION * (high - low)
  return {'in_range': (low, high), 'in_sample': (low, split),
          'out_of_sample': (split, high), 'far': (high, high + FAR_FRACTION * (high - low))}


def protocol_tasks(point: study_points.Point, k: int, num_tasks: int, seed: int) -> dict:
  """Held-out tasks of a point: two support sets and a dense grid per region.

  Returns {'support_full', 'support_early': (x, y) [B, K, 1] (noisy y),
  <region>: (x, f(x)) [B, GRID_POINTS, 1] (noise-free), 'variance': [B]
  (variance of f over the x range), 'params'}.
  """
  bounds = regions(point.task_ranges)
  tasks = sampling.held_out_tasks(
      point.family, point.task_ranges, num_tasks, seed,
      {'support_full': (k, bounds['in_range']), 'support_early': (k, bounds['in_sample'])},
      bounds)
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
    predictions.update(evaluation.adapted_predictions(sess, model, feed, alpha, measured,
                                                      REPORTED_STEPS))
    mse = evaluation.losses_of(feed, {r: predictions[r] for r in measured})
    for protocol, (s, region) in MEASURED.items():
      if s == support:
        errors[protocol] = dict(zip(REPORTED_STEPS, mse[region] / tasks['variance']))
  if 'early' not in supports:
    return errors, None
  curve = np.concatenate([predictions['in_sample'], predictions['out_of_sample']], axis=2)
  return errors, dict(zip(REPORTED_STEPS, curve[..., 0]))


def family_fit_errors(point: study_points.Point, k: int, num_tasks: int,
                      seed: int) -> Dict[str, np.ndarray]:
  """{protocol: normalised MSE [B]} of the true family fitted to each task's K
  support points (study.family_fit): do K points identify the task?"""
  tasks = protocol_tasks(point, k, num_tasks, seed)
  fitted = {support: family_fit.fit(point.family, point.task_ranges, *tasks['support_' + support])
            for support in ('full', 'early')}
  errors = {}
  for protocol, (support, region) in MEASURED.items():
    x, y = tasks[region]
    predicted = family_fit.predict(point.family, fitted[support], x)
    errors[protocol] = np.mean((predicted - y) ** 2, axis=(1, 2)) / tasks['variance']
  return errors


def family_fits(points: List[study_points.Point], num_tasks: int, seed: int,
                workers: int = utils.WORKERS) -> Dict[str, Dict[int, Dict[str, np.ndarray]]]:
  """{point: {K: family_fit_errors}}, once per task distribution."""
  distributions = {(p.family, p.task_ranges): p for p in points}
  keys = [(key, k) for key, p in distributions.items() for k in point_ks(p)]
  errors = dict(zip(keys, utils.thread_map(
      lambda job: family_fit_errors(distributions[job[0]], job[1], num_tasks, seed),
      keys, workers)))
  return {p.name: {k: errors[(p.family, p.task_ranges), k] for k in point_ks(p)}
          for p in points}


def as_failures(values: np.ndarray) -> np.ndarray:
  """Non-finite errors (diverged adaptation) become +inf: a failed task."""
  return np.where(np.isfinite(values), values, np.inf)


def nmse_statistics(values: np.ndarray, before: np.ndarray = None) -> dict:
  """Statistics of per-task normalised MSE [B]: the median and the fraction fit
  well over all tasks (a non-finite one counts as a failure), each with a 95%
  interval (order statistics; Wilson), and the mean and 95% CI over the tasks
  whose adaptation did not diverge (statistics.diverged, from the errors `before`
  adaptation [B]; without them, over the finite tasks)."""
  blown = (statistics.diverged(np.stack([before, values]))[1] if before is not None
           else ~np.isfinite(values))
  kept = statistics.mean_ci(values[~blown])
  n_good = int(np.sum(as_failures(values) < GOOD_NMSE))
  return {'mean_not_diverged': kept['mean'], 'ci95_not_diverged': kept['ci95'],
          'n_diverged': int(np.sum(blown)),
          'median': float(np.median(as_failures(values))),
          'median_ci95': statistics.median_interval(as_failures(values)),
          'fraction_good': n_good / values.size,
          'fraction_good_ci95': statistics.wilson_interval(n_good, values.size),
          'n_nonfinite': int(np.sum(~np.isfinite(values))), 'n_tasks': int(values.size)}


def percentile_tasks(values: np.ndarray) -> List[int]:
  """Indices of the tasks at PERCENTILES of the per-task error [B]."""
  order = np.argsort(as_failures(values), kind='stable')
  return [int(order[round(p / 100 * (values.size - 1))]) for p in PERCENTILES]


def most_fit(errors: Dict[float, np.ndarray]) -> float:
  """The study's rule for a test-time choice (step size or step count), on the
  statistics its verdicts read.

  Args:
    errors: {candidate: per-task validation nMSE [B]}.
  Returns:
    the candidate that fits the most validation tasks well (nMSE < GOOD_NMSE),
    ties broken by the lower median, then by the smaller candidate.
  """
  return min(sorted(errors), key=lambda c: (-np.sum(as_failures(errors[c]) < GOOD_NMSE),
                                            np.median(as_failures(errors[c]))))


def most_fit_step_size(errors: Dict[float, np.ndarray]) -> float:
  """most_fit over {alpha: nMSE after the last test step [B]}, each alpha in
  evaluation.STEP_SIZES (alpha = 0, no fine-tuning, among them)."""
  return most_fit(errors)


def validated(sess, model, point: study_points.Point, k: int, num_tasks: int,
              alpha: float = None) -> Tuple[float, int]:
  """(alpha, steps) for a model on a point, chosen on validation tasks by
  most_fit on the in-range normalised MSE: alpha (if not given) after the
  last test step, then the step count among STEP_CHOICES at that alpha."""
  tasks = protocol_tasks(point, k, num_tasks, evaluation.VALIDATION_SEED)
  feed = {'support': tasks['support_full'], 'support_inputs': tasks['support_full'][0],
          'in_range': tasks['in_range'], 'in_range_inputs': tasks['in_range'][0]}
  errors = {}    # alpha -> step -> [B]; only what the rule reads: in range
  for a in (evaluation.STEP_SIZES if alpha is None else (alpha,)):
    predictions = evaluation.adapted_predictions(sess, model, feed, a, ('in_range',),
                                                 STEP_CHOICES)
    errors[a] = dict(zip(STEP_CHOICES, evaluation.losses_of(feed, predictions)['in_range']
                         / tasks['variance']))
  if alpha is None:
    alpha = most_fit_step_size({a: by_step[FINAL_STEP] for a, by_step in errors.items()})
  return alpha, most_fit(errors[alpha])


def works(row: dict) -> bool:
  """MAML works on a distribution if it fits most tasks well: median nMSE < GOOD_NMSE."""
  return row['median'] < GOOD_NMSE


def works_verdict(row: dict) -> str:
  """'works' or 'fails' by `works`, 'borderline' if the median's 95% interval
  contains GOOD_NMSE."""
  low, high = row['median_ci95']
  if low < GOOD_NMSE <= high:
    return 'borderline'
  return 'works' if works(row) else 'fails'


def beats_baseline(row: dict) -> bool:
  """Paired sign test on the same tasks: MAML's error is lower than the
  baseline's on significantly more than half of them (one-sided, 95%)."""
  return row['fraction_beating_baseline'] > 0.5 + SIGN_TEST_Z * 0.5 / math.sqrt(row['n_tasks'])


@dataclasses.dataclass
class Evaluation:
  """One model on one point at one K."""
  alpha: float
  steps: int                                 # test steps chosen on validation tasks
  errors: Dict[str, Dict[int, np.ndarray]]   # protocol -> step -> [B] normalised MSE
  plotted: List[int]                         # tasks at PERCENTILES of the time-series error
  curves: Dict[int, np.ndarray]              # step -> [len(plotted), 2 GRID_POINTS]


def evaluate_model(sess, model, settings: run_settings.Settings, point: study_points.Point, k: int,
                   num_tasks: int, seed: int, tuned: bool) -> Evaluation:
  """The restored model on a point at K=k, with its own alpha or one chosen on
  validation tasks (`tuned`), and its step count chosen on validation tasks."""
  alpha, steps = validated(sess, model, point, k, num_tasks, None if tuned else settings.alpha)
  errors, curves = normalised_errors(sess, model, protocol_tasks(point, k, num_tasks, seed), alpha)
  plotted = percentile_tasks(errors['time_series'][FINAL_STEP])
  return Evaluation(alpha, steps, errors, plotted,
                    {s: c[plotted] for s, c in curves.items() if s in TEST_STEPS})


def distribution_key(settings: run_settings.Settings, point: study_points.Point) -> tuple:
  """What one model's evaluation on a point depends on: the task distribution,
  the K tested and whether its step size is chosen on validation tasks (the
  last element)."""
  return (point.family, point.task_ranges, point_ks(point),
          settings.method == BASELINE or point.tuned_alpha)


def evaluate_points(points: List[study_points.Point], logdir: str, num_tasks: int, seed: int,
                    base: run_settings.Settings = study_points.STUDY_BASE,
                    workers: int = utils.WORKERS) -> Dict[str, Dict[int, Dict[str, Evaluation]]]:
  """{point: {K: {role: Evaluation}}}, `workers` threads at a time, each
  restoring models into its own graph. Points that are one distribution for a
  model (Fig1 and the sweeps' first magnitudes, a seed-2 point's paper model,
  ...) share one evaluation."""
  jobs = {}    # (model folder, distribution_key) -> (settings, [(point, role)])
  for point in points:
    for role, (settings, path) in study_points.role_models(point, logdir, base).items():
      key = (path, distribution_key(settings, point))
      jobs.setdefault(key, (settings, []))[1].append((point, role))
  results = {p.name: {k: {} for k in point_ks(p)} for p in points}
  every_k = sorted({k for p in points for k in point_ks(p)})
  print(f'evaluating {len(points)} study points: {len(jobs)} (model, task distribution) pairs '
        f'({num_tasks} tasks each, K = {", ".join(map(str, every_k))})', flush=True)

  def evaluate_distribution(graphs: evaluation.TestGraphs, job: tuple):
    (path, (*_, tuned)), (settings, uses) = job, jobs[job]
    sess, model = graphs.restored(dataclasses.replace(settings, test_num_updates=FINAL_STEP),
                                  path)
    evaluations = {k: evaluate_model(sess, model, settings, uses[0][0], k, num_tasks, seed,
                                     tuned) for k in point_ks(uses[0][0])}
    for point, role in uses:
      for k in point_ks(point):
        results[point.name][k][role] = evaluations[k]

  # Validated evaluations try every step size: they start first. A model's
  # evaluations are adjacent, so a worker restores it once for several.
  order = sorted(jobs, key=lambda job: (not job[1][-1], job[0]))
  utils.thread_map(evaluate_distribution, order, workers, per_worker=evaluation.TestGraphs)
  return {name: {k: {role: by_role[role] for role in study_points.ROLES}
                 for k, by_role in by_k.items()} for name, by_k in results.items()}


def compared(role: str, mine: np.ndarray, before: np.ndarray, baseline: np.ndarray,
             paper: np.ndarray) -> dict:
  """nmse_statistics of a model's per-task errors [B] (`before`: at step 0) and,
  on the same tasks, the fraction below the baseline's (not for the baseline)
  and, for the retrained MAML, the fractions below and above the paper model's
  (ties count for neither)."""
  row = nmse_statistics(mine, before)
  mine = as_failures(mine)
  if role != BASELINE:
    row['fraction_beating_baseline'] = float(np.mean(mine < as_failures(baseline)))
  if role == 'maml':
    row['fraction_beating_standard'] = float(np.mean(mine < as_failures(paper)))
    row['fraction_beaten_by_standard'] = float(np.mean(as_failures(paper) < mine))
  return row


def summary(evaluations: Dict[int, Dict[str, Evaluation]]) -> dict:
  """The statistics of one point: {K: {role: {alpha, steps, protocols:
  {protocol: {step: row}}, CHOSEN: {protocol: row}}}}, each row `compared`: at
  each of REPORTED_STEPS against the other models at the same count, and at
  each model's own step count chosen on validation tasks (`steps`) against the
  others at theirs.
  """
  out = {}
  for k, by_role in evaluations.items():
    out[str(k)] = {}
    for role, e in by_role.items():
      def at(step_of):   # {protocol: row}, each model at step_of(its evaluation)
        return {protocol: compared(
            role, errors[step_of(e)], errors[0],
            *(by_role[r].errors[protocol][step_of(by_role[r])] for r in (BASELINE, 'standard')))
                for protocol, errors in e.errors.items()}
      protocols = {}
      for step in REPORTED_STEPS:
        for protocol, row in at(lambda _: step).items():
          protocols.setdefault(protocol, {})[str(step)] = row
      out[str(k)][role] = {'alpha': e.alpha, 'steps': e.steps, 'protocols': protocols,
                           CHOSEN: at(lambda model: model.steps)}
  return out


CSV_STEPS = (0,) + TEST_STEPS   # step 0 too: divergence is judged against it


def task_columns():
  """(role, protocol, step) of every error column of <point>_tasks.csv."""
  return [(role, protocol, s) for role in study_points.ROLES for protocol in MEASURED
          for s in CSV_STEPS]


FAMILY_FIT = 'family_fit'   # its columns in <point>_tasks.csv: family_fit_<protocol>


def restricted(evaluations: Dict[int, Dict[str, Evaluation]], mask: np.ndarray):
  """The same evaluations on the tasks where mask [B] is True (figure data dropped)."""
  return {k: {role: Evaluation(e.alpha, e.steps,
                               {p: {s: v[mask] for s, v in by_step.items()}
                                for p, by_step in e.errors.items()}, [], {})
              for role, e in by_role.items()} for k, by_role in evaluations.items()}


def by_shape(point: study_points.Point, evaluations, num_tasks: int, seed: int) -> dict:
  """For a family that draws a shape per task: {shape: summary over its tasks}."""
  shapes = getattr(FunGenerator.FAMILIES[point.family], 'SHAPES', None)
  if shapes is None:
    return {}
  drawn = protocol_tasks(point, FIGURE_K, num_tasks, seed)['params']['shape']
  return {'results_by_shape': {name: summary(restricted(evaluations, drawn == i))
                               for i, name in enumerate(shapes)}}


# The keys of every <point>.json the report reads: write_point writes them,
# publish.checks reads them.
POINT_KEYS = ('point', 'num_tasks', 'eval_seed', 'results', FAMILY_FIT, 'sources', 'code')
ROW_KEYS = ('median', 'median_ci95', 'fraction_good', 'n_tasks', 'n_diverged')


def missing_results(data: dict) -> List[str]:
  """What a <point>.json lacks of what the report reads, as key paths (none:
  []): for each K the point is tested at (its `point` record) and role in ROLES, its chosen step count and each
  MEASURED protocol's row of statistics at each REPORTED_STEPS and at CHOSEN,
  and the family fit's rows."""
  missing = []

  def need(container, key, where):
    value = container.get(key) if isinstance(container, dict) else None
    if not isinstance(value, dict):
      missing.append(where)
    return value if isinstance(value, dict) else {}

  results, fits = need(data, 'results', 'results'), need(data, FAMILY_FIT, FAMILY_FIT)
  ks = EVAL_KS
  if isinstance(data.get('point'), dict) and data['point'].get('eval_ks'):
    ks = data['point']['eval_ks']
  for k in map(str, ks):
    for role in study_points.ROLES:
      block = need(need(results, k, f'results/{k}'), role, f'results/{k}/{role}')
      if block and block.get('steps') not in STEP_CHOICES:
        missing.append(f'results/{k}/{role}/steps')
      protocols = need(block, 'protocols', f'results/{k}/{role}/protocols')
      chosen = need(block, CHOSEN, f'results/{k}/{role}/{CHOSEN}')
      for protocol in MEASURED:
        steps = need(protocols, protocol, f'results/{k}/{role}/protocols/{protocol}')
        for step in map(str, REPORTED_STEPS):
          row = need(steps, step, f'results/{k}/{role}/protocols/{protocol}/{step}')
          if row and not all(key in row for key in ROW_KEYS):
            missing.append(f'results/{k}/{role}/protocols/{protocol}/{step} (statistics)')
        row = need(chosen, protocol, f'results/{k}/{role}/{CHOSEN}/{protocol}')
        if row and not all(key in row for key in ROW_KEYS):
          missing.append(f'results/{k}/{role}/{CHOSEN}/{protocol} (statistics)')
    for protocol in MEASURED:
      need(need(fits, k, f'{FAMILY_FIT}/{k}'), protocol, f'{FAMILY_FIT}/{k}/{protocol}')
  return missing


def write_point(point: study_points.Point, evaluations, fits: Dict[int, Dict[str, np.ndarray]],
                stem: str, num_tasks: int, seed: int, sources: Dict[str, dict]):
  """Writes <point>.json (statistics of the models and the family fit; per shape
  too for a mixture of shapes) and <point>_tasks.csv (per task at FIGURE_K: its
  parameters, each model's errors and the family fit's)."""
  fileio.write_record(stem + '.json', {
      'point': dataclasses.asdict(point), 'num_tasks': num_tasks, 'eval_seed': seed,
      'good_nmse': GOOD_NMSE, 'split_fraction': SPLIT_FRACTION,
      'far_fraction': FAR_FRACTION, 'results': summary(evaluations),
      FAMILY_FIT: {str(k): {protocol: nmse_statistics(e) for protocol, e in by_protocol.items()}
                   for k, by_protocol in fits.items()},
      **by_shape(point, evaluations, num_tasks, seed),
      'sources': sources, 'code': utils.code_version()}, POINT_KEYS)
  errors, fit = evaluations[FIGURE_K], fits[FIGURE_K]
  params = protocol_tasks(point, FIGURE_K, num_tasks, seed)['params']
  fileio.write_csv(stem + '_tasks.csv',
                  ['task'] + list(params) + [f'{r}_{p}_step{s}' for r, p, s in task_columns()]
                  + [f'{FAMILY_FIT}_{p}' for p in MEASURED],
                  [[b] + [v[b] for v in params.values()]
                   + [errors[r].errors[p][s][b] for r, p, s in task_columns()]
                   + [fit[p][b] for p in MEASURED] for b in range(num_tasks)])


def figure_arrays() -> List[str]:
  """The arrays of a point's _figure.npz: write_figure_data writes them, publish.checks reads them."""
  per_role = ['tasks', 'truth', 'support_x', 'support_y'] + [f'step{s}' for s in TEST_STEPS]
  return ['x', 'unseen'] + [f'{role}_{name}' for role in study_points.ROLES for name in per_role]


def write_figure_data(point: study_points.Point, evaluations: Dict[str, Evaluation], path: str,
                      num_tasks: int, seed: int):
  """<point>_figure.npz: what a setting figure draws besides the per-task
  errors, for the tasks at PERCENTILES of each model's time-series error at
  FIGURE_K: the grid x [2 GRID_POINTS] over in-sample and unseen parts, and
  per role the task indices, truths, support points and predictions."""
  tasks = protocol_tasks(point, FIGURE_K, num_tasks, seed)
  x = np.concatenate([tasks['in_sample'][0], tasks['out_of_sample'][0]], axis=1)[..., 0]
  y = np.concatenate([tasks['in_sample'][1], tasks['out_of_sample'][1]], axis=1)[..., 0]
  support_x, support_y = (a[..., 0] for a in tasks['support_early'])
  arrays = {'x': x[0], 'unseen': np.array(regions(point.task_ranges)['out_of_sample'])}
  for role, e in evaluations.items():
    arrays.update({f'{role}_tasks': np.array(e.plotted), f'{role}_truth': y[e.plotted],
                   f'{role}_support_x': support_x[e.plotted],
                   f'{role}_support_y': support_y[e.plotted]})
    arrays.update({f'{role}_step{s}': e.curves[s] for s in TEST_STEPS})
  missing = sorted(set(figure_arrays()) - set(arrays))
  if missing:
    raise ValueError(f'{path}: the figure data lacks {", ".join(missing)}')
  with fileio.atomic_open(path, 'wb') as f:    # whole or not at all
    np.savez(f, **arrays)


def evaluate(logdir: str, num_tasks: int, seed: int,
             base: run_settings.Settings = study_points.STUDY_BASE,
             workers: int = utils.WORKERS) -> List[study_points.Point]:
  """Evaluates every trained point and writes its results files; the points done."""
  points = study_points.trained_points(logdir, base)
  if not points:
    raise utils.CommandError(
        f'no trained robustness points in {study_points.study_dir(logdir)}; '
        'train them with --mode=point')
  evaluations = evaluate_points(points, logdir, num_tasks, seed, base, workers)
  print(f'fitting the true family to the K points of each task of {len(points)} points',
        flush=True)
  fits = family_fits(points, num_tasks, seed, workers)
  results_dir = points_dir(logdir)
  os.makedirs(results_dir, exist_ok=True)
  for point in points:
    sources = {role: checkpoints.checkpoint_source(path)
               for role, (_, path) in study_points.role_models(point, logdir, base).items()}
    stem = os.path.join(results_dir, point.name)
    with fileio.replaced_together():    # a point's files are one set
      write_point(point, evaluations[point.name], fits[point.name], stem, num_tasks, seed,
                  sources)
      if point.name in study_points.FIGURE_POINTS:
        write_figure_data(point, evaluations[point.name][FIGURE_K], stem + '_figure.npz',
                          num_tasks, seed)
  return points
