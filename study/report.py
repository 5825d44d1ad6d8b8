"""The study's report: figures, linked tables and README sections, drawn only
from the results files that study.protocols.evaluate and study.ceiling write
(<logdir>/robustness/points).
"""
import functools
import os
from typing import Callable, Dict, List

import numpy as np

from common import fileio
from common import plots
from common import readme_sections
from run import training_time
from study import points as study_points
from study.points import (AXES, CEILING_POINTS, CONTROL_POINTS, FIGURE_POINTS, POINTS, ROLES,
                          SECOND_SEED, SETTING_POINTS, SHAPE_POINTS, STANDARD, seed_name,
                          sweep_name)
from study.protocols import (FAMILY_FIT, FIGURE_K, FINAL_STEP, GOOD_NMSE, PERCENTILES,
                             PROTOCOLS, TEST_STEPS, beats_baseline)
from study import ceiling as study_ceiling
from study import protocols
from study import tables
from study import verdicts
from study.tables import (BOUNDARY_PROTOCOLS, SHAPE_PROTOCOLS, task_errors, final,
                          settings_table, verdicts_table, sign_tests_text, details_table,
                          sweep_table, boundary_table, shapes_table, ceiling_table,
                          paper_model_table, divergence_table, limits, limits_table)
from study.findings import (checks_findings, claims_table, findings, mechanism_findings,
                            shape_findings, width_keys)

ALL_POINTS_TABLE = 'all_points.md'   # beside the points' JSON files
FIGURES = FIGURE_POINTS + ('shapes_summary', 'robustness_summary', 'how_far',
                           'limits')   # Img/<name>.png
# A model works on a point if its median error is below GOOD_NMSE, that is if
# it fits more than this percent of the tasks well.
WORKS_SHARE = 100 * tables.WORKS_FRACTION
# The "how far" figure: per axis a plain title and what its magnitude m is.
HOW_FAR_AXES = {
    'amplitude': ('Wider amplitude range', 'A ~ U[0.1, m]; m ='),
    'phase': ('Wider phase range', 'phi ~ U[0, m pi]; m ='),
    'frequency': ('Varying frequency', 'w ~ U[w0, w0 + m] cycles/unit; m ='),
    'x_shift': ('Shifted x range', 'x in [-5 + m, 5 + m]; m ='),
    'mix': ('Adding a cosine of another frequency', 'sin + b cos; b ='),
    'noise': ('Noisy observations', 'noise standard deviation'),
}
SECTIONS = ('robustness_findings',
            'robustness_shape_findings', 'robustness_checks',
            'robustness_boundary', 'robustness_verdicts', 'claims', 'robustness_mechanisms',
            'robustness_limits', 'robustness_training_time',
            'mechanism_training_time')   # README (and linked docs) sections it writes


def setting_figure(point: study_points.Point, stem: str, path: str):
  """Tasks at the 10th/50th/90th percentile of time-series error, per model, and
  the error distributions of the three protocols after FINAL_STEP steps."""
  errors = task_errors(stem)
  with np.load(stem + '_figure.npz') as data:
    columns = [[plots.CurvePanel(
        data['x'], data[f'{role}_truth'][i],
        (data[f'{role}_support_x'][i], data[f'{role}_support_y'][i]),
        {s: data[f'{role}_step{s}'][i] for s in TEST_STEPS}, tuple(data['unseen']),
        f"{ROLES[role]}: {p}th pct, nMSE {errors[role]['time_series'][b]:.3g}")
                for i, (p, b) in enumerate(zip(PERCENTILES, data[f'{role}_tasks']))]
               for role in ROLES]
  distributions = {f'{title}, {FINAL_STEP} steps': {
      ROLES[role]: errors[role][protocol] for role in ROLES}
                   for protocol, title in PROTOCOLS.items()}
  plots.percentile_figure(path, f'{point.name}: {point.title} (K={FIGURE_K})', columns,
                          distributions, GOOD_NMSE)


def sweep_line(stats: Dict[str, dict], axis: str, protocol: str, role: str, step: int,
               seed: int, style: dict) -> tuple:
  """(median nMSE per magnitude, line style, diverged count per magnitude at FINAL_STEP)."""
  rows = [final(stats, seed_name(sweep_name(axis, m), seed), role, protocol, step)
          for m in AXES[axis].magnitudes]
  return ([r['median'] for r in rows], style,
          [r['n_diverged'] for r in rows] if step == FINAL_STEP else None)


def boundary_panels(stats: Dict[str, dict]) -> List[dict]:
  """One panel per axis and protocol: median nMSE of each model against
  magnitude at 1 and 20 steps (seed 1; MAML's seed 2 dotted)."""
  panels = []
  for axis, spec in AXES.items():
    for protocol in BOUNDARY_PROTOCOLS:
      lines = {}
      for role, label in ROLES.items():
        color = plots.color_of(label)
        for step in TEST_STEPS:
          lines[f'{ROLES[role]}, {step} step' + ('s' if step > 1 else '')] = sweep_line(
              stats, axis, protocol, role, step, 1,
              {'color': color, 'ls': '-' if step == FINAL_STEP else '--'})
      lines[f"{ROLES['maml']}, seed {SECOND_SEED}, {FINAL_STEP} steps"] = sweep_line(
          stats, axis, protocol, 'maml', FINAL_STEP, SECOND_SEED,
          {'color': plots.color_of(ROLES['maml']), 'ls': ':'})
      lost = next((m for m in spec.magnitudes if not beats_baseline(
          final(stats, sweep_name(axis, m), 'maml', protocol, FINAL_STEP))), None)
      panels.append({'title': f'{axis}, {PROTOCOLS[protocol]}', 'xlabel': spec.label,
                     'magnitudes': spec.magnitudes, 'lines': lines, 'lost': lost})
  return panels


def how_far_panels(stats: Dict[str, dict], protocol: str = 'in_range') -> List[dict]:
  """One panel per axis of HOW_FAR_AXES: percent of tasks fit well (K=FIGURE_K,
  the headline step protocol) of MAML retrained per seed, the baseline (mean
  over its seeds), the paper's model and the family fit."""
  def shares(name, role):
    return [100 * final(stats, n, role, protocol)['fraction_good']
            for n in verdicts.seed_names(stats, name, role)]
  panels = []
  for axis, (title, xlabel) in HOW_FAR_AXES.items():
    if axis not in AXES:   # a report of a part of the study
      continue
    names = [sweep_name(axis, m) for m in AXES[axis].magnitudes]
    panels.append({
        'title': title, 'xlabel': xlabel, 'magnitudes': AXES[axis].magnitudes,
        'seeds': [shares(n, 'maml') for n in names],
        'references': {
            'pretrained baseline (mean of its seeds)': [np.mean(shares(n, 'pretrain'))
                                                        for n in names],
            "paper model (trained on the paper's tasks)": [shares(n, 'standard')[0]
                                                           for n in names],
            'family fit to the K points': [
                100 * stats[n][FAMILY_FIT][str(FIGURE_K)][protocol]['fraction_good']
                for n in names]},
        'boundary': verdicts.boundary(stats, axis, protocol)[0]})
  return panels


def shapes_figure(stats: Dict[str, dict], ceilings: Dict[str, dict], path: str):
  """Percent of tasks fit well per shape, with 95% intervals: each model, the
  second seed, the family fit and the ceiling."""
  names = [STANDARD.name] + [p.name for p in SHAPE_POINTS]
  panels = {}
  for protocol in SHAPE_PROTOCOLS:
    def bars(rows):   # percent fit well and its interval, per shape
      return ([100 * r['fraction_good'] for r in rows],
              [[100 * v for v in r['fraction_good_ci95']] for r in rows])
    by_model = {ROLES[r]: bars([final(stats, n, r, protocol) for n in names]) for r in ROLES}
    by_model[f"{ROLES['maml']}, seed {SECOND_SEED}"] = bars(
        [final(stats, seed_name(n, SECOND_SEED), 'maml', protocol) for n in names])
    by_model['family fit to the K points'] = bars(
        [stats[n][FAMILY_FIT][str(FIGURE_K)][protocol] for n in names])
    by_model[f"one network fit to each task ({ceilings[names[0]]['num_tasks']} tasks)"] = bars(
        [ceilings[n]['statistics'][protocol] for n in names])
    panels[f'{PROTOCOLS[protocol]}, K={FIGURE_K}, steps chosen on validation'] = by_model
  labels = ['sinusoid (Fig1)' if n == STANDARD.name else n for n in names]
  plots.bar_panels(path, labels, panels, 'percent of tasks fit well (normalised MSE < 0.1)')


def training_time_text(logdir: str, base=study_points.STUDY_BASE) -> str:
  jobs = study_points.training_jobs(list(POINTS), logdir, base)
  return training_time.training_time_text(sorted(job.path for job in jobs),
                                      f'the study\'s {len(jobs)} models ({len(POINTS)} points '
                                      'share some)')


def point_statistics(results: Dict[str, dict]) -> Dict[str, dict]:
  """{point: {K: {role: ...}, FAMILY_FIT: {K: {protocol: statistics}}}} from its results file."""
  return {name: {**r['results'], FAMILY_FIT: r[FAMILY_FIT]} for name, r in results.items()}


def limit_rows(stats: Dict[str, dict], ceilings: Dict[str, dict]) -> Dict[str, dict]:
  """tables.limits of every point with a ceiling, the wider networks where fit."""
  return limits(stats, ceilings, list(CEILING_POINTS),
                {name: [k for k in width_keys(name) if k in ceilings]
                 for name in study_ceiling.WIDTH_POINTS})


def limits_figure(stats: Dict[str, dict], ceilings: Dict[str, dict], path: str):
  """tables.limits drawn: a row per point, percent of tasks fit well."""
  rows = {}
  for name, row in limit_rows(stats, ceilings).items():
    shares = [100 * x for x in row['MAML'].shares]
    rows[name] = {'family fit': 100 * row['family fit'], 'network': 100 * row['network'],
                  'wider network': None if row['wider network'] is None
                  else 100 * row['wider network'],
                  'baseline': 100 * np.mean(row['baseline'].shares),
                  'MAML low': min(shares), 'MAML high': max(shares),
                  'MAML median': float(np.median(shares))}
  plots.limits_figure(path, rows, WORKS_SHARE, f'% of tasks fit well, in range (K={FIGURE_K})')


def figures(logdir: str, results: Dict[str, dict], ceilings: Dict[str, dict]
            ) -> Dict[str, Callable[[str], None]]:
  """{name: draw(path)} for each of FIGURES whose points (and ceilings) are evaluated."""
  stats = point_statistics(results)
  results_dir = protocols.points_dir(logdir)
  drawn = {name: functools.partial(setting_figure, POINTS[name], os.path.join(results_dir, name))
           for name in FIGURE_POINTS if name in stats}
  if len(stats) == len(POINTS):
    if all(n in ceilings for n in CEILING_POINTS):
      drawn['shapes_summary'] = functools.partial(shapes_figure, stats, ceilings)
      drawn['limits'] = functools.partial(limits_figure, stats, ceilings)
    drawn['robustness_summary'] = lambda path: plots.boundary_figure(
        path, boundary_panels(stats), GOOD_NMSE)
    drawn['how_far'] = lambda path: plots.how_far_figure(
        path, how_far_panels(stats), WORKS_SHARE,
        f'% of tasks fit well, in range (K={FIGURE_K})')
  return drawn


def all_points_text(logdir: str, stats: Dict[str, dict], results: Dict[str, dict],
                    ceilings: Dict[str, dict]) -> str:
  """all_points.md: every table behind the README's robustness sections."""
  distinct = verdicts.distinct(list(verdicts.CANONICAL))
  evaluated = lambda points: [p for p in points if p.name in stats]
  parts = [
      ('Verdicts over training seeds, each distinct distribution once',
       verdicts_table(stats, distinct) + '\n\n' + sign_tests_text(stats, distinct)),
      ("The paper's model against MAML retrained on the moved distribution",
       'Seeds on which each is significantly better on the same tasks (in range, '
       f"K={FIGURE_K}, sign test, Holm over each step count's tests):\n\n"
       + paper_model_table(stats, [n for n in distinct if n != STANDARD.name])),
      ("Divergence against the task's parameters",
       f"MAML's in-range adaptations (K={FIGURE_K}, {FINAL_STEP} steps) that diverged, per "
       "quartile of the parameter's size over the tasks: median over seeds (min-max):\n\n"
       + divergence_table(logdir, stats)),
      ('Median error per axis, seeds 1 and 2, 1 and 20 steps',
       '![robustness summary](../../../Img/robustness_summary.png)\n\n'
       "*Median normalised MSE per axis, in range and on the unseen end: MAML (blue; dotted: "
       "seed 2), the paper's model (green), the baseline (orange); dashed 1 step; top "
       'triangle: above 10; "div.": diverged; red: MAML stops beating it.*'),
      *[(f"The earlier study's settings, {PROTOCOLS[protocol]}, K={FIGURE_K}, seed 1",
         settings_table(stats, evaluated(SETTING_POINTS), protocol))
        for protocol in BOUNDARY_PROTOCOLS if evaluated(SETTING_POINTS)],
      *([(f'The controls, in range, K={FIGURE_K}, seed 1',
          settings_table(stats, evaluated(CONTROL_POINTS)))] if evaluated(CONTROL_POINTS) else []),
      (f'The sweep, K={FIGURE_K}, steps chosen on validation, seed 1', sweep_table(stats)),
      (f'Per shape, K={FIGURE_K}, steps chosen on validation', shapes_table(stats, results)),
  ]
  if all(n in ceilings for n in CEILING_POINTS):
    parts.append(('The ceiling: one network fit to each task',
                  f"Cells: tasks fit well of the first {ceilings[CEILING_POINTS[0]]['num_tasks']} "
                  '(95% interval), median; MAML and the baseline of seed 1, '
                  f'{FINAL_STEP} steps.\n\n'
                  + ceiling_table(logdir, {n: ceilings[n] for n in CEILING_POINTS})))
  parts.append(('Every statistic', details_table(stats, list(POINTS))))
  return ('# Every point of the robustness study\n\nCells: median normalised MSE (95% interval), '
          '% of tasks fit well (95% interval), diverged adaptations if any.\n\n'
          + '\n\n'.join(f'## {heading}\n\n{body}' for heading, body in parts) + '\n')


def report(logdir: str, img_dir: str, readme: str, results: Dict[str, dict],
           ceilings: Dict[str, dict], base=study_points.STUDY_BASE):
  """Draws Img/<figure point>.png (Fig1..7, linear, the shapes), Img/robustness_summary.png
  and Img/shapes_summary.png and rewrites the README sections from the
  results of every evaluated point and the ceiling files, as
  publish.checks.study_results read and checked them ({point: its file})."""
  stats = point_statistics(results)
  os.makedirs(img_dir, exist_ok=True)
  for name, draw in figures(logdir, results, ceilings).items():
    draw(os.path.join(img_dir, name + '.png'))
  # Sections are written once every point they read has been evaluated.
  has_settings = all(p.name in stats for p in SETTING_POINTS)
  has_all = len(stats) == len(POINTS)
  sections = {}
  if has_settings and has_all:
    sections['robustness_findings'] = findings(stats)
  if has_all and all(n in ceilings for n in CEILING_POINTS):
    sections.update({'robustness_shape_findings': shape_findings(stats, results, ceilings),
                     'robustness_checks': checks_findings(stats, ceilings),
                     'robustness_mechanisms': mechanism_findings(stats, ceilings),
                     'robustness_limits': limits_table(
                         limit_rows(stats, ceilings),
                         ceilings[CEILING_POINTS[0]]['num_tasks'])})
  results_dir = protocols.points_dir(logdir)
  if has_all:
    headline = [p.name for p in SETTING_POINTS if p.name in stats]
    if has_settings:
      sections['claims'] = claims_table(stats)
    sections.update({'robustness_boundary': boundary_table(stats),
                     'robustness_verdicts': verdicts_table(stats, headline) + '\n\n'
                     + sign_tests_text(stats, headline),
                     'robustness_training_time': training_time_text(logdir, base),
                     'mechanism_training_time': mechanism_cost_table(logdir, base)})
    fileio.atomic_write(os.path.join(results_dir, ALL_POINTS_TABLE),
                        all_points_text(logdir, stats, results, ceilings))
  readme_sections.update_readme(readme, sections)
  print(f'wrote the results of {len(stats)} points to {results_dir}, their figures to '
        f'{img_dir} and {len(sections)} README sections')
  # For the provenance check: a ceiling file's tasks are the first of its
  # evaluation's `of_eval_tasks`.
  return {**results, **{name + '_ceiling': {'code': c['code'], 'eval_seed': c['eval_seed'],
                                            'num_tasks': c['of_eval_tasks']}
                        for name, c in ceilings.items()}}


def mechanism_cost_table(logdir: str, base=study_points.STUDY_BASE) -> str:
  """Per mechanism point's trained models: what each training session cost
  (from the training_seconds.json records): iterations, the wall time of its
  group and the models in it, model-iterations per second, and the 1-minute
  load average at its start and end (above the workers: other work shared
  the cores)."""
  lines = ['| point, model, seed | iterations | group wall time | models in group | model-it/s | '
           'workers | load average at start, end |', '|---|---|---|---|---|---|---|']
  seen = set()
  for point in study_points.MECHANISM_POINTS + study_points.WIDE_POINTS:
    for name in (n for n in (study_points.seed_name(point.name, seed)
                             for seed in study_points.seeds_of(point.name)) if n in POINTS):
      for role in study_points.TRAINED_METHODS:
        settings, path = study_points.role_models(POINTS[name], logdir, base)[role]
        if path in seen or not os.path.exists(os.path.join(path, training_time.TIME_FILE)):
          continue
        seen.add(path)
        for session in training_time.read(path).get('sessions', []):
          models = session['models_in_group']
          wall = session['seconds'] * models
          its = session['end'] - session['start']
          lines.append(f"| {point.name}, {ROLES[role].split(',')[0]}, seed {settings.seed} | "
                       f"{session['start']}-{session['end']} | "
                       f"{wall:.0f} s | {models} | {its * models / wall:.0f} | "
                       f"{session['workers']} | "
                       f"{', '.join(f'{v:.1f}' for v in session['load_average'])} |")
  return '\n'.join(lines)
