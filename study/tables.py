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
from study.points import (AXES, POINTS, ROLES, SEED_RUNS, SETTING_POINTS, SHAPE_POINTS,
                          sweep_name)
from study.protocols import (BASELINE, CHOSEN, FAMILY_FIT, FIGURE_K, FINAL_STEP,
                             PROTOCOLS, SIGN_TEST_LEVEL)
from study import protocols
from study import verdicts
from study.verdicts import STEP_PROTOCOLS, HEADLINE, over_seeds

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
          step=HEADLINE, k: int = FIGURE_K) -> dict:
  """Statistics of a point, model and protocol at K=k after `step` steps (a
  count, or CHOSEN: the model's count chosen on validation tasks)."""
  return verdicts.row(stats, name, role, protocol, step, k)


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


def per_seed(stats, name: str, role: str, protocol: str = 'in_range', k: int = FIGURE_K,
             steps=HEADLINE) -> str:
  """Percent fit well over the role's training seeds: '84-89% (5 seeds)', or
  one model's share."""
  verdict = over_seeds(stats, name, protocol, steps, k, role)
  return verdict.spread() + (f' ({verdict.n} seeds)' if verdict.n > 1 else '')


def passing_shapes(stats: Dict[str, dict], protocol: str, steps=HEADLINE) -> str:
  """The shapes with their verdict over seeds."""
  return '; '.join(f'{p.name} {over_seeds(stats, p.name, protocol, steps).text()}'
                   for p in SHAPE_POINTS)


def named(name: str) -> str:
  """A point with its other names: 'Fig2 (= amplitude_10)'."""
  others = verdicts.aliases_of(name)
  return f"{name} (= {', '.join(others)})" if others else name


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


def beats_tests(stats: Dict[str, dict], names: List[str], protocols_=('in_range', 'time_series'),
                steps=HEADLINE) -> Dict[tuple, float]:
  """{(point, protocol, seed point): one-sided sign-test p-value that MAML beats
  the baseline}, every test a table of these points states."""
  return {(n, p, run): verdicts.beats_p(verdicts.row(stats, run, 'maml', p, steps))
          for n in names for p in protocols_ for run in verdicts.seed_names(stats, n)}


def beats_cell(rejected: set, name: str, protocol: str, runs: List[str]) -> str:
  wins = sum((name, protocol, run) in rejected for run in runs)
  return f'{wins} of {len(runs)}'


def verdicts_table(stats: Dict[str, dict], names: List[str]) -> str:
  """Per distinct point, K=FIGURE_K, over MAML's training seeds: the verdict and
  the seed spread of the share fit well, in range and on the never-seen end,
  at the headline step protocol; the in-range verdict at 1 and 20 steps; the
  seeds whose MAML beats the baseline (sign test, Holm over the table's tests);
  the step counts chosen on validation; and the family fit's share."""
  names = verdicts.distinct(names)
  boundary = ('in_range', 'time_series')
  tests = beats_tests(stats, names, boundary)
  rejected = verdicts.holm(tests)
  header = ([f'{PROTOCOLS[p]}: verdict, % fit well over seeds' for p in boundary]
            + [f'in range, {STEP_PROTOCOLS[s]}' for s in STEP_PROTOCOLS if s != HEADLINE]
            + [f'seeds beating the baseline, {PROTOCOLS[p]} (Holm)' for p in boundary]
            + ['steps chosen (MAML, per seed)', 'family fit, % fit well in range'])
  lines = ['| point | ' + ' | '.join(header) + ' |', '|---|' + '---|' * len(header)]
  for name in names:
    runs = verdicts.seed_names(stats, name)
    cells = [f'{v.text()}, {v.spread()}' for p in boundary
             for v in [over_seeds(stats, name, p)]]
    cells += [over_seeds(stats, name, steps=s).text() for s in STEP_PROTOCOLS if s != HEADLINE]
    cells += [beats_cell(rejected, name, p, runs) for p in boundary]
    cells.append(', '.join(str(stats[run][str(FIGURE_K)]['maml']['steps']) for run in runs))
    cells.append(percent(stats[name][FAMILY_FIT][str(FIGURE_K)]['in_range']['fraction_good']))
    lines.append(f'| {named(name)} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def sign_tests_text(stats: Dict[str, dict], names: List[str]) -> str:
  """What the "beats" columns count, and how many of their tests survive Holm."""
  tests = beats_tests(stats, verdicts.distinct(names))
  plain = sum(p <= SIGN_TEST_LEVEL for p in tests.values())
  return (f'"Beating the baseline": MAML has the lower error on significantly more than half '
          f'of the same tasks (one-sided sign test); the table holds {len(tests)} such tests, '
          f'{plain} at {100 * SIGN_TEST_LEVEL:g}% each, {len(verdicts.holm(tests))} after '
          "Holm's correction over all of them (the counts shown).")


def paper_model_tests(stats: Dict[str, dict], names: List[str], steps=FINAL_STEP
                      ) -> Dict[tuple, float]:
  """{(point, seed point, direction): sign-test p-value, in range, K=FIGURE_K}:
  direction 'paper' tests that the paper's model has the lower error on more
  of the same tasks than MAML retrained on the point, 'retrained' the reverse."""
  keys = {'paper': 'fraction_beaten_by_standard', 'retrained': 'fraction_beating_standard'}
  return {(n, run, d): verdicts.beats_p(verdicts.row(stats, run, 'maml', 'in_range', steps), key)
          for n in names for run in verdicts.seed_names(stats, n) for d, key in keys.items()}


def paper_model_table(stats: Dict[str, dict], names: List[str]) -> str:
  """Per distinct moved point: on how many seeds the retrained MAML and the
  paper's model are each significantly better on the same tasks (in range,
  sign test, Holm over the table's tests), at 1 and at 20 test steps."""
  names = [n for n in verdicts.distinct(names) if n != SETTING_POINTS[0].name]
  counts = {}
  for steps in (1, FINAL_STEP):
    tests = paper_model_tests(stats, names, steps)
    counts[steps] = verdicts.holm(tests)
  header = [f'{who} better, {STEP_PROTOCOLS[s]}' for s in (1, FINAL_STEP)
            for who in ('retrained', 'paper model')]
  lines = ['| point | ' + ' | '.join(header) + ' |', '|---|' + '---|' * len(header)]
  for name in names:
    runs = verdicts.seed_names(stats, name)
    lines.append(f'| {named(name)} | ' + ' | '.join(
        f'{sum((name, run, d) in counts[s] for run in runs)} of {len(runs)}'
        for s in (1, FINAL_STEP) for d in ('retrained', 'paper')) + ' |')
  return '\n'.join(lines)


DETAIL_STEPS = (0, 1, FINAL_STEP, CHOSEN)    # the rest of REPORTED_STEPS: the JSON files


def details_table(stats: Dict[str, dict], names: List[str]) -> str:
  """Every K and protocol at DETAIL_STEPS: mean ± 95% CI over the tasks that did
  not diverge, median over all tasks, % fit well, and the diverged count. A
  point of a later seed lists its MAML only (its other models are seed 1's)."""
  step_names = [f'{s} steps' if s != CHOSEN else 'chosen steps' for s in DETAIL_STEPS]
  lines = ['| point | model | K | α | steps chosen | protocol | ' + ' | '.join(
      f'{s}: mean ± CI (not diverged), median, % good' for s in step_names) + ' |',
           '|---|---|---|---|---|---|' + '---|' * len(DETAIL_STEPS)]
  for name in names:
    roles = ROLES if POINTS[name].baseline_training is None else ('maml',)
    for k in map(str, protocols.point_ks(POINTS[name])):
      for role in roles:
        row = stats[name][k][role]
        for protocol in TABLE_PROTOCOLS:
          cells = [f"{statistics.readable(c['mean_not_diverged'])} ± "
                   f"{statistics.readable(c['ci95_not_diverged'])}, {statistics.readable(c['median'])}, "
                   f"{100 * c['fraction_good']:.0f}%" + (
                       f", {c['n_diverged']} diverged" if c['n_diverged'] else '')
                   for c in (verdicts.row(stats, name, role, protocol, s, int(k))
                             for s in DETAIL_STEPS)]
          lines.append(f"| {name} | {ROLES[role]} | {k} | {row['alpha']:g} | {row['steps']} | "
                       f"{protocol} | " + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def sweep_table(stats: Dict[str, dict]) -> str:
  """Per axis and magnitude, K=10, steps chosen on validation, seed 1: in-range
  and time-series columns."""
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


def boundary_table(stats: Dict[str, dict]) -> str:
  """Per axis, at K=FIGURE_K: up to which magnitude MAML meta-trained on each
  works for every seed and for a majority of seeds, in range and on the
  never-seen end, at the headline step protocol and, in range, at 1 and 20
  steps; then the shapes' verdicts over seeds."""
  columns = ([(p, HEADLINE, rule) for p in BOUNDARY_PROTOCOLS for rule in ('every', 'majority')]
             + [('in_range', s, 'every') for s in STEP_PROTOCOLS if s != HEADLINE])
  header = [f'{PROTOCOLS[p]}, {"every seed" if rule == "every" else "most seeds"}'
            + ('' if s == HEADLINE else f', {STEP_PROTOCOLS[s]}') for p, s, rule in columns]
  lines = ['| axis (magnitudes; seeds) | ' + ' | '.join(header) + ' |',
           '|---|' + '---|' * len(header)]
  for axis, spec in AXES.items():
    seeds = sorted({len(verdicts.seed_names(stats, sweep_name(axis, m))) for m in spec.magnitudes})
    lines.append(f'| {spec.label} ({", ".join(f"{m:g}" for m in spec.magnitudes)}; '
                 f'{"-".join(map(str, seeds))}) | ' + ' | '.join(
                     verdicts.boundary_text(stats, axis, p, s, rule) for p, s, rule in columns)
                 + ' |')
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
  """K=10, steps chosen on validation: median normalised MSE (% fit well) of every model per shape."""
  header = [f'{ROLES[r]}, {PROTOCOLS[p]}' for p in SHAPE_PROTOCOLS for r in ROLES]
  lines = ['| shape | ' + ' | '.join(header) + ' |', '|---|' + '---|' * len(header)]
  for label, by_role in shape_rows(stats, results):
    lines.append(f'| {label} | ' + ' | '.join(
        stat_cell(by_role[r][CHOSEN][p])
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


# Divergence against the task's parameters: (point, parameter whose size is
# binned); quartiles of |parameter| over the point's tasks.
DIVERGENCE_PARAMETERS = (('quadratic', 'curvature'), ('quadratic', 'slope'),
                         ('amplitude_40', 'amplitude'), ('amplitude_80', 'amplitude'),
                         ('linear', 'slope'))
QUARTILES = 4


def divergence_rates(logdir: str, run: str, parameter: str) -> List[float]:
  """Percent of MAML's in-range adaptations (K=FIGURE_K, FINAL_STEP steps) that
  diverged, per quartile of |parameter| over the point's tasks."""
  rows = fileio.read_csv(os.path.join(protocols.points_dir(logdir), run + '_tasks.csv'))
  size = np.abs([float(r[parameter]) for r in rows])
  losses = np.array([[float(r[f'maml_in_range_step{s}']) for r in rows] for s in (0, FINAL_STEP)])
  blown = statistics.diverged(losses)[1]
  edges = np.quantile(size, np.linspace(0, 1, QUARTILES + 1))
  bins = np.clip(np.searchsorted(edges, size, side='right') - 1, 0, QUARTILES - 1)
  return [100 * float(np.mean(blown[bins == q])) for q in range(QUARTILES)]


def divergence_table(logdir: str, stats: Dict[str, dict]) -> str:
  """Per point and parameter: the share of MAML's adaptations that diverged
  in each quartile of |parameter|, the median over seeds (min-max)."""
  header = [f'quartile {q + 1} of |parameter|' for q in range(QUARTILES)]
  lines = ['| point | parameter | seeds | ' + ' | '.join(header) + ' |',
           '|---|---|---|' + '---|' * QUARTILES]
  for name, parameter in DIVERGENCE_PARAMETERS:
    runs = verdicts.seed_names(stats, name)
    rates = np.array([divergence_rates(logdir, run, parameter) for run in runs])
    lines.append(f'| {name} | {parameter} | {len(runs)} | ' + ' | '.join(
        f'{np.median(q):.0f}% ({q.min():.0f}-{q.max():.0f})' for q in rates.T) + ' |')
  return '\n'.join(lines)


WORKS_FRACTION = 0.5   # works (median below GOOD_NMSE) = more than half the tasks fit well


def limits(stats: Dict[str, dict], ceilings: Dict[str, dict], names: List[str],
           widths: Dict[str, List[str]], protocol: str = 'in_range') -> Dict[str, dict]:
  """Per point, what could limit MAML, in range at K=FIGURE_K: the share of
  tasks fit well (a fraction) by the 'family fit' (do K points identify the
  task?), the paper's 'network' fit to each task (can it fit it?), the best
  'wider network' of the ceilings in `widths[name]` (None if none), and the
  verdicts over seeds of 'MAML' and the 'baseline' (OverSeeds, at the
  headline step protocol); 'limited by': the data if the family fit fits at
  most WORKS_FRACTION, the network if it does, the meta-learning if MAML
  does not work where the data and some network allow it."""
  out = {}
  for name in names:
    ceiling = lambda key: ceilings[key]['statistics'][protocol]['fraction_good']
    row = {'family fit': stats[name][FAMILY_FIT][str(FIGURE_K)][protocol]['fraction_good'],
           'network': ceiling(name),
           'wider network': max((ceiling(k) for k in widths.get(name, ())), default=None),
           'MAML': over_seeds(stats, name, protocol),
           'baseline': over_seeds(stats, name, protocol, role='pretrain')}
    data_ok = row['family fit'] > WORKS_FRACTION
    network_ok = max(row['network'], row['wider network'] or 0) > WORKS_FRACTION
    limited = [] if data_ok else ['the data']
    if row['network'] <= WORKS_FRACTION:
      limited.append('the 1-40-40-1 network' + (', not a wider one' if network_ok else ''))
    if row['MAML'].verdict != 'works' and data_ok and network_ok:
      limited.append('the meta-learning')
    row['limited by'] = ('nothing (MAML works)' if row['MAML'].verdict == 'works' and not limited
                         else ', '.join(limited) or 'the meta-learning')
    out[name] = row
  return out


def limits_table(rows: Dict[str, dict], num_tasks: int) -> str:
  """limits as a table: percent fit well per column."""
  lines = ['| point | family fit to the K points | 1-40-40-1 network fit to each task '
           f'(first {num_tasks} tasks) | wider network, best | MAML, over seeds | pretrained, '
           'over seeds | limited by |', '|---|---|---|---|---|---|---|']
  for name, row in rows.items():
    wider = '' if row['wider network'] is None else percent(row['wider network'])
    lines.append(f"| {name} | {percent(row['family fit'])} | {percent(row['network'])} | "
                 f"{wider} | {row['MAML'].text()}, {row['MAML'].spread()} | "
                 f"{row['baseline'].spread()} | {row['limited by']} |")
  return '\n'.join(lines)
