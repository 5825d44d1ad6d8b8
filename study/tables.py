"""The study's tables and verdicts, read from the statistics in its results
files: cells with their intervals and diverged counts, per-seed verdicts, and the
settings, controls, sweep, boundary, shapes and ceiling tables.
"""
import functools
import os
from typing import Callable, Dict, List

import numpy as np

from common import fileio
from common import statistics
import FunGenerator
from study.points import (AXES, ROLES, SECOND_SEED, SEED_RUNS, SEED_SUFFIX, SETTING_POINTS,
                          SHAPE_POINTS, sweep_name)
from study.protocols import (BASELINE, EVAL_KS, FAMILY_FIT, FIGURE_K, FINAL_STEP, GOOD_NMSE,
                             PROTOCOLS, REPORTED_STEPS, beats_baseline, works, works_verdict)
from study import protocols

BOUNDARY_PROTOCOLS = ('in_range', 'time_series')
# The details tables list the protocols adapted on the whole x range first.
TABLE_PROTOCOLS = sorted(protocols.MEASURED, key=lambda p: protocols.MEASURED[p][0] != 'full')
SHAPE_PROTOCOLS = ('in_range', 'time_series')
NOT_FINE_TUNED = 'pretrained, not fine-tuned'
FAMILY_FIT_LABEL = 'family fit to the K points'


def task_errors(stem: str) -> Dict[str, Dict[str, np.ndarray]]:
  """{role: {protocol: per-task normalised MSE [B] after FINAL_STEP steps}} at FIGURE_K."""
  rows = fileio.read_csv(stem + '_tasks.csv')
  return {role: {protocol: np.array([float(r[f'{role}_{protocol}_step{FINAL_STEP}'])
                                     for r in rows])
                 for protocol in protocols.MEASURED} for role in ROLES}


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
  return percent(share(stats, name, role, protocol, k) / 100)


def span(values: List[float], number: str = '{:.0f}%') -> str:
  return f'{number.format(min(values))} to {number.format(max(values))}'


def percent(fraction: float) -> str:
  """Whole percent, but a share below 1% keeps one decimal, so that it is not read as 0."""
  return f'{100 * fraction:.1f}%' if 0 < fraction < 0.01 else f'{100 * fraction:.0f}%'


def second_seed_name(name: str) -> str:
  """The point of the same distribution with models trained from SECOND_SEED."""
  return name + SEED_SUFFIX


def per_seed(stats, name: str, role: str, protocol: str = 'in_range') -> str:
  """'a% / b%': percent fit well with models trained from seed 1 and from SECOND_SEED."""
  return ' / '.join(good(stats, n, role, protocol) for n in (name, second_seed_name(name)))


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


def passing_shapes(stats: Dict[str, dict], protocol: str, test, suffix: str = '') -> str:
  """In words: the shapes on which MAML trained on them passes `test`."""
  names = [p.name for p in SHAPE_POINTS if test(final(stats, p.name + suffix, 'maml', protocol))]
  if len(names) == len(SHAPE_POINTS):
    return 'all'
  return ', '.join(names) or 'none'


def stat_cell(row: dict) -> str:
  """Median nMSE (95% interval), % of tasks fit well (95% interval), and the
  number of diverged adaptations if any."""
  (low, high), (good_low, good_high) = row['median_ci95'], row['fraction_good_ci95']
  text = (f"{statistics.readable(row['median'])} ({statistics.readable(low)}-{statistics.readable(high)}), "
          f"{percent(row['fraction_good'])} ({100 * good_low:.0f}-{100 * good_high:.0f})")
  return text + (f", {row['n_diverged']} diverged" if row['n_diverged'] else '')


def count_cell(row: dict) -> str:
  """Tasks fit well out of all, with the 95% interval of the share, and the median."""
  low, high = row['fraction_good_ci95']
  good = round(row['fraction_good'] * row['n_tasks'])
  return (f"{good} of {row['n_tasks']} ({100 * low:.0f}-{100 * high:.0f}%), "
          f"median {statistics.readable(row['median'])}")


def model_rows(stats: Dict[str, dict], name: str, k: int = FIGURE_K) -> Dict[str, Callable]:
  """{row label: protocol -> statistics after FINAL_STEP steps}: each model, the
  baseline before fine-tuning (step 0) and the family fit."""
  rows = {label: functools.partial(final, stats, name, role, k=k) for role, label in ROLES.items()}
  rows[NOT_FINE_TUNED] = lambda p: final(stats, name, BASELINE, p, step=0, k=k)
  rows[FAMILY_FIT_LABEL] = lambda p: stats[name][FAMILY_FIT][str(k)][p]
  return rows


def settings_table(stats: Dict[str, dict], points=SETTING_POINTS,
                   protocol: str = 'in_range') -> str:
  """K=FIGURE_K, FINAL_STEP steps, one protocol: a row per point, a column per
  model (model_rows), each cell a stat_cell."""
  labels = list(model_rows(stats, points[0].name))
  lines = ['| point | ' + ' | '.join(labels) + ' |', '|---|' + '---|' * len(labels)]
  for point in points:
    rows = model_rows(stats, point.name)
    lines.append(f'| {point.name}: {point.title} | '
                 + ' | '.join(stat_cell(rows[label](protocol)) for label in labels) + ' |')
  return '\n'.join(lines)


def beats_verdict(row: dict) -> str:
  return 'beats' if beats_baseline(row) else 'not'


def seed_verdicts(stats: Dict[str, dict], name: str, protocol: str = 'in_range',
                  k: int = FIGURE_K) -> List[str]:
  """works_verdict of MAML trained on the point, per training seed that has it."""
  return [works_verdict(final(stats, name + suffix, 'maml', protocol, k=k))
          for _, suffix in SEED_RUNS if name + suffix in stats]


def overall(verdicts: List[str]) -> str:
  """'works' or 'fails' if every seed says so, else 'mixed' (seeds disagree or borderline)."""
  return verdicts[0] if len(set(verdicts)) == 1 and verdicts[0] != 'borderline' else 'mixed'


def verdicts_table(stats: Dict[str, dict], names: List[str]) -> str:
  """Per point, K=FIGURE_K, FINAL_STEP steps, for the models of seed 1 and
  SECOND_SEED: does MAML trained on it work (median nMSE < GOOD_NMSE, borderline
  if the median's interval contains it) and beat the baseline (sign test), in
  range and on the never-seen end, and do the seeds agree; beside it the
  share of tasks the family fit fits well."""
  header = [f'{what}, {PROTOCOLS[p]} (seed 1 / {SECOND_SEED})'
            for what in ('works', 'beats the baseline') for p in BOUNDARY_PROTOCOLS]
  lines = ['| point | family fit, % fit well in range | ' + ' | '.join(header)
           + ' | seeds agree |', '|---|---|' + '---|' * (len(header) + 1)]
  for name in names:
    runs = [name + suffix for _, suffix in SEED_RUNS if name + suffix in stats]
    cells, agree = [], True
    for verdict in (works_verdict, beats_verdict):
      for protocol in BOUNDARY_PROTOCOLS:
        values = [verdict(final(stats, run, 'maml', protocol)) for run in runs]
        agree &= len(set(values)) == 1
        cells.append(' / '.join(values))
    fit = stats[name][FAMILY_FIT][str(FIGURE_K)]['in_range']
    lines.append(f"| {name} | {percent(fit['fraction_good'])} | " + ' | '.join(cells)
                 + f" | {'yes' if agree else '**no**'} |")
  return '\n'.join(lines)


def sign_tests_text(stats: Dict[str, dict]) -> str:
  """How many one-sided sign tests the study runs, and what chance alone gives."""
  tests = len(stats) * len(EVAL_KS) * len(protocols.MEASURED)
  level = protocols.SIGN_TEST_LEVEL
  return (f'"Beats" is a one-sided sign test at {100 * level:g}% on the same tasks. The '
          f'results files hold {tests} of them (every point, K and protocol); if MAML and the '
          f'baseline were equally good everywhere, about {round(level * tests)} would still '
          'read "beats", so a single "beats" near the threshold is weak evidence; one that '
          'holds for both seeds is stronger.')


def details_table(stats: Dict[str, dict], names: List[str]) -> str:
  """Every K, protocol and test step count: mean ± 95% CI over the tasks that did
  not diverge, median over all tasks, % fit well, and the diverged count."""
  lines = ['| point | model | K | α | protocol | ' + ' | '.join(
      f'{s} steps: mean ± CI (not diverged), median, % good' for s in REPORTED_STEPS) + ' |',
           '|---|---|---|---|---|' + '---|' * len(REPORTED_STEPS)]
  for name in names:
    for k in map(str, EVAL_KS):
      for role in ROLES:
        row = stats[name][k][role]
        for protocol in TABLE_PROTOCOLS:
          by_step = row['protocols'][protocol]
          cells = [f"{statistics.readable(c['mean_not_diverged'])} ± "
                   f"{statistics.readable(c['ci95_not_diverged'])}, {statistics.readable(c['median'])}, "
                   f"{100 * c['fraction_good']:.0f}%" + (
                       f", {c['n_diverged']} diverged" if c['n_diverged'] else '')
                   for c in (by_step[str(s)] for s in REPORTED_STEPS)]
          lines.append(f"| {name} | {ROLES[role]} | {k} | {row['alpha']:g} | {protocol} | "
                       + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def sweep_table(stats: Dict[str, dict]) -> str:
  """Per axis and magnitude, K=10, FINAL_STEP steps: in-range and time-series columns."""
  header = [f'{label}, {PROTOCOLS[p]}' for p in BOUNDARY_PROTOCOLS
            for label in list(ROLES.values()) + [FAMILY_FIT_LABEL]]
  lines = ['| axis | magnitude | ' + ' | '.join(header) + ' |',
           '|---|---|' + '---|' * len(header)]
  for axis, spec in AXES.items():
    for m in spec.magnitudes:
      rows = model_rows(stats, sweep_name(axis, m))
      lines.append(f'| {axis} | {m:g} | ' + ' | '.join(
          stat_cell(rows[label](p)) for p in BOUNDARY_PROTOCOLS
          for label in list(ROLES.values()) + [FAMILY_FIT_LABEL]) + ' |')
  return '\n'.join(lines)


def boundary_cell(stats: Dict[str, dict], axis: str, protocol: str, test, suffix: str) -> str:
  """last_passing in words, with the magnitudes where `works` is borderline."""
  text = last_passing(stats, axis, protocol, test, suffix)
  if test is works:
    near = [f'{m:g}' for m in AXES[axis].magnitudes if works_verdict(
        final(stats, sweep_name(axis, m, suffix), 'maml', protocol)) == 'borderline']
    text += f"; borderline at {', '.join(near)}" if near else ''
  return text


def boundary_table(stats: Dict[str, dict]) -> str:
  """Per axis: how far MAML trained on each point keeps working and keeps its
  advantage; each cell 'seed 1 / SECOND_SEED'."""
  header = [f'{what}, {PROTOCOLS[p]}' for what in ('works', 'beats the baseline')
            for p in BOUNDARY_PROTOCOLS]
  lines = [f'| axis (seed 1 / {SECOND_SEED}) | ' + ' | '.join(header) + ' |',
           '|---|' + '---|' * len(header)]
  tests = [(test, p) for test in (works, beats_baseline) for p in BOUNDARY_PROTOCOLS]
  for axis, spec in AXES.items():
    lines.append(f'| {spec.label} ({", ".join(f"{m:g}" for m in spec.magnitudes)}) | '
                 + ' | '.join(' / '.join(boundary_cell(stats, axis, p, test, suffix)
                                         for _, suffix in SEED_RUNS) for test, p in tests)
                 + ' |')
  if SHAPE_POINTS:
    lines.append(f'| shape ({", ".join(p.name for p in SHAPE_POINTS)}) | ' + ' | '.join(
        ' / '.join(passing_shapes(stats, p, test, suffix) for _, suffix in SEED_RUNS)
        for test, p in tests) + ' |')
  return '\n'.join(lines)


def shape_rows(stats: Dict[str, dict], results: Dict[str, dict]) -> List[tuple]:
  """(label, statistics by role) per shape point and seed, then per shape of the mixture."""
  rows = [(f'{p.name}, seed {seed}', stats[p.name + suffix][str(FIGURE_K)])
          for p in SHAPE_POINTS for seed, suffix in SEED_RUNS]
  for point in SHAPE_POINTS:
    for seed, suffix in SEED_RUNS:
      by_shape = results[point.name + suffix].get('results_by_shape', {})
      for shape in getattr(FunGenerator.FAMILIES[point.family], 'SHAPES', ()):
        by_k = by_shape[shape]
        rows.append((f'{point.name} (seed {seed}), its {shape} tasks', by_k[str(FIGURE_K)]))
  return rows


def shapes_table(stats: Dict[str, dict], results: Dict[str, dict]) -> str:
  """K=10, FINAL_STEP steps: median normalised MSE (% fit well) of every model per shape."""
  header = [f'{ROLES[r]}, {PROTOCOLS[p]}' for p in SHAPE_PROTOCOLS for r in ROLES]
  lines = ['| shape | ' + ' | '.join(header) + ' |', '|---|' + '---|' * len(header)]
  for label, by_role in shape_rows(stats, results):
    lines.append(f'| {label} | ' + ' | '.join(
        stat_cell(by_role[r]['protocols'][p][str(FINAL_STEP)])
        for p in SHAPE_PROTOCOLS for r in ROLES) + ' |')
  return '\n'.join(lines)


def same_tasks(logdir: str, name: str, role: str, protocol: str, num_tasks: int) -> dict:
  """nmse_statistics of a model after FINAL_STEP steps on the first num_tasks tasks."""
  errors = task_errors(os.path.join(protocols.points_dir(logdir), name))
  return protocols.nmse_statistics(errors[role][protocol][:num_tasks])


def same_tasks_fit(logdir: str, name: str, protocol: str, num_tasks: int) -> dict:
  """nmse_statistics of the family fit on the first num_tasks tasks at FIGURE_K."""
  rows = fileio.read_csv(os.path.join(protocols.points_dir(logdir), name + '_tasks.csv'))
  return protocols.nmse_statistics(np.array([float(r[f'{FAMILY_FIT}_{protocol}'])
                                             for r in rows[:num_tasks]]))


def ceiling_table(logdir: str, ceilings: Dict[str, dict]) -> str:
  """Per ceiling point, on the same tasks: one network fit to each task (many
  noise-free points), the family fit, MAML and the baseline (K points)."""
  header = [f'{what}, {PROTOCOLS[p]}' for p in SHAPE_PROTOCOLS
            for what in ('network fit to the task', 'family fit', ROLES['maml'],
                         ROLES['pretrain'])]
  lines = ['| point | ' + ' | '.join(header) + ' |', '|---|' + '---|' * len(header)]
  for name, ceiling in ceilings.items():
    cells = []
    for protocol in SHAPE_PROTOCOLS:
      cells.append(count_cell(ceiling['statistics'][protocol]))
      cells.append(count_cell(same_tasks_fit(logdir, name, protocol, ceiling['num_tasks'])))
      cells += [count_cell(same_tasks(logdir, name, role, protocol, ceiling['num_tasks']))
                for role in ('maml', 'pretrain')]
    lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)
