"""The study's report: tables, figures and README sections, drawn only from the
results files that study.protocols.evaluate writes (<logdir>/robustness/points).
"""
import functools
import os
from typing import Callable, Dict, List

import numpy as np

import benchmark
import FunGenerator
import plots
import utils
from study import points as study_points
from study.points import (AXES, CEILING_POINTS, CHECK_ITERATIONS, FIGURE_POINTS,
                          FULL_PHASE_RUNS, POINTS, ROLES, SECOND_SEED, SEED_RUNS,
                          SEED_SUFFIX, SETTING_POINTS, SHAPE_POINTS, STANDARD,
                          TUNED_AMPLITUDES, TUNED_SUFFIX, sweep_name)
from study.protocols import (EVAL_KS, FIGURE_K, FINAL_STEP, GOOD_NMSE, PERCENTILES,
                             PROTOCOLS, REPORTED_STEPS, SPLIT_FRACTION, TEST_STEPS,
                             beats_baseline, works)
from study import protocols

BOUNDARY_PROTOCOLS = ('in_range', 'time_series')
ALL_POINTS_TABLE = 'all_points.md'   # beside the points' JSON files
ROLE_COLORS = ('C0', 'C2', 'C1')
# The details tables list the protocols adapted on the whole x range first.
TABLE_PROTOCOLS = sorted(protocols.MEASURED, key=lambda p: protocols.MEASURED[p][0] != 'full')
FIGURES = FIGURE_POINTS + ('shapes_summary', 'robustness_summary')   # Img/<name>.png
SECTIONS = ('robustness_settings', 'robustness_findings', 'robustness_shapes',
            'robustness_ceiling', 'robustness_shape_findings', 'robustness_sweep',
            'robustness_boundary', 'robustness_training_time')   # README sections it writes


def read_point_files(logdir: str, names, suffix: str = '') -> Dict[str, dict]:
  """{point name: its <name><suffix>.json} for every named point that has one."""
  results = {}
  for name in names:
    path = os.path.join(protocols.points_dir(logdir), name + suffix + '.json')
    if os.path.exists(path):
      results[name] = utils.read_json(path)
  return results


def task_errors(stem: str) -> Dict[str, Dict[str, np.ndarray]]:
  """{role: {protocol: per-task normalised MSE [B] after FINAL_STEP steps}} at FIGURE_K."""
  rows = utils.read_csv(stem + '_tasks.csv')
  return {role: {protocol: np.array([float(r[f'{role}_{protocol}_step{FINAL_STEP}'])
                                     for r in rows])
                 for protocol in protocols.MEASURED} for role in ROLES}


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
  for point in SETTING_POINTS:
    for role, label in ROLES.items():
      lines.append(f'| {point.name}: {point.title} | {label} | ' + ' | '.join(
          stat_cell(final(stats, point.name, role, p)) for p in PROTOCOLS) + ' |')
  return '\n'.join(lines)


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
          cells = [f"{utils.readable(c['mean_not_diverged'])} ± "
                   f"{utils.readable(c['ci95_not_diverged'])}, {utils.readable(c['median'])}, "
                   f"{100 * c['fraction_good']:.0f}%" + (
                       f", {c['n_diverged']} diverged" if c['n_diverged'] else '')
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
  for seed, suffix in SEED_RUNS if SHAPE_POINTS else ():
    cells = [passing_shapes(stats, p, test, suffix) for test in (works, beats_baseline)
             for p in BOUNDARY_PROTOCOLS]
    lines.append(f'| shape ({", ".join(p.name for p in SHAPE_POINTS)}) | {seed} | '
                 + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def passing_shapes(stats: Dict[str, dict], protocol: str, test, suffix: str = '') -> str:
  """In words: the shapes on which MAML trained on them passes `test`."""
  names = [p.name for p in SHAPE_POINTS if test(final(stats, p.name + suffix, 'maml', protocol))]
  if len(names) == len(SHAPE_POINTS):
    return 'all'
  return ', '.join(names) or 'none'


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
  moved = [p.name for p in SETTING_POINTS[1:] if p.family in ('sinusoid', 'sum')]
  far_sinusoids = [p.name for p in SETTING_POINTS if p.family != 'linear']
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


# ------------------------------------------------------------------ shapes --

SHAPE_PROTOCOLS = ('in_range', 'time_series')


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


def ceiling_table(logdir: str, ceilings: Dict[str, dict]) -> str:
  """Per ceiling point: the per-task network fit beside MAML and the baseline on the same tasks."""
  header = [f'{what}, {PROTOCOLS[p]}' for p in SHAPE_PROTOCOLS
            for what in ('network fit to the task', ROLES['maml'], ROLES['pretrain'])]
  lines = ['| point | ' + ' | '.join(header) + ' |', '|---|' + '---|' * len(header)]
  for name, ceiling in ceilings.items():
    cells = []
    for protocol in SHAPE_PROTOCOLS:
      cells.append(stat_cell(ceiling['statistics'][protocol]))
      cells += [stat_cell(same_tasks(logdir, name, role, protocol, ceiling['num_tasks']))
                for role in ('maml', 'pretrain')]
    lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def second_seed_name(name: str) -> str:
  """The point of the same distribution with models trained from SECOND_SEED (the
  paper's distribution is the first magnitude of the sweep's axes)."""
  if name == STANDARD.name:
    return sweep_name('amplitude', AXES['amplitude'].magnitudes[0], SEED_SUFFIX)
  return name + SEED_SUFFIX


def shapes_figure(stats: Dict[str, dict], ceilings: Dict[str, dict], path: str):
  """Percent of tasks fit well per shape: each model, the second seed and the ceiling."""
  names = list(CEILING_POINTS)
  panels = {}
  for protocol in SHAPE_PROTOCOLS:
    percent = lambda point, role: 100 * final(stats, point, role, protocol)['fraction_good']
    by_model = {ROLES[r]: [percent(n, r) for n in names] for r in ROLES}
    by_model[f"{ROLES['maml']}, seed {SECOND_SEED}"] = [
        percent(second_seed_name(n), 'maml') for n in names]
    by_model[f"one network fit to each task ({ceilings[names[0]]['num_tasks']} tasks)"] = [
        100 * ceilings[n]['statistics'][protocol]['fraction_good'] for n in names]
    panels[f'{PROTOCOLS[protocol]}, K={FIGURE_K}, {FINAL_STEP} steps'] = by_model
  labels = ['sinusoid (Fig1)' if n == STANDARD.name else n for n in names]
  plots.bar_panels(path, labels, panels, 'percent of tasks fit well (normalised MSE < 0.1)')


WAVES = ('square', 'triangle', 'sawtooth')


def per_seed(stats, name: str, role: str, protocol: str = 'in_range') -> str:
  """'a% / b%': percent fit well with models trained from seed 1 and from SECOND_SEED."""
  return ' / '.join(good(stats, n, role, protocol) for n in (name, second_seed_name(name)))


def shape_findings(stats: Dict[str, dict], results: Dict[str, dict],
                   ceilings: Dict[str, dict], logdir: str) -> str:
  """The shapes paragraph: every number read from the results and ceiling files."""
  by_name = results['shapes']['results_by_shape']
  mixture = {shape: by_name[shape] for shape in FunGenerator.Shapes.SHAPES}
  by_shape = lambda shape, role: (
      f"{100 * mixture[shape][str(FIGURE_K)][role]['protocols']['in_range'][str(FINAL_STEP)]['fraction_good']:.0f}%")
  num = ceilings[WAVES[0]]['num_tasks']

  def versus(name: str, protocol: str) -> str:
    fit = ceilings[name]['statistics'][protocol]['median']
    adapted = same_tasks(logdir, name, 'maml', protocol, num)['median']
    return f'{name} {fit:.2g} vs {adapted:.2g}'

  lines = [
      f"- **Common periodic shapes.** After {FINAL_STEP} steps from K={FIGURE_K} points, MAML "
      "meta-trained on each wave fits, in range (models from seed 1 / seed "
      f"{SECOND_SEED}): " + '; '.join(f"{w} {per_seed(stats, w, 'maml')}" for w in WAVES)
      + f" (sinusoid, Fig1: {per_seed(stats, STANDARD.name, 'maml')}); the pretrained baseline "
      + '; '.join(f"{w} {per_seed(stats, w, 'pretrain')}" for w in WAVES)
      + "; the paper's model, never trained on them, "
      + '; '.join(f"{w} {good(stats, w, 'standard')}" for w in WAVES)
      + f". On the never-seen last {100 * (1 - SPLIT_FRACTION):.0f}% of the range MAML fits "
      + '; '.join(f"{w} {per_seed(stats, w, 'maml', 'time_series')}" for w in WAVES)
      + ', the baseline '
      + '; '.join(f"{w} {per_seed(stats, w, 'pretrain', 'time_series')}" for w in WAVES) + '.',
      f"- **The shape or the few-shot fit?** Median normalised MSE on the first {num} tasks "
      "of each point, one network of the same shape fit to each task on "
      f"{ceilings[WAVES[0]]['train_points']} noise-free points vs MAML after {FINAL_STEP} "
      f"steps from K={FIGURE_K} points. In range (the network fit on the whole range): "
      + '; '.join(versus(n, 'in_range') for n in CEILING_POINTS)
      + f". On the last {100 * (1 - SPLIT_FRACTION):.0f}% of the range (the network fit on the "
      'first 80% only): ' + '; '.join(versus(n, 'time_series') for n in CEILING_POINTS) + '.',
      f"- **Quadratics.** MAML meta-trained on quadratics fits {per_seed(stats, 'quadratic', 'maml')} "
      f"of tasks well in range, {per_seed(stats, 'quadratic', 'maml', 'time_series')} on the "
      f"never-seen end and {per_seed(stats, 'quadratic', 'maml', 'far')} far beyond it; the "
      f"pretrained baseline {per_seed(stats, 'quadratic', 'pretrain')}, "
      f"{per_seed(stats, 'quadratic', 'pretrain', 'time_series')} and "
      f"{per_seed(stats, 'quadratic', 'pretrain', 'far')}.",
      f"- **A mixture of shapes** (each task a sinusoid, square, triangle or sawtooth wave, "
      f"the shape drawn at random). MAML meta-trained on it fits {per_seed(stats, 'shapes', 'maml')} "
      "of tasks well in range; by the shape the task drew (seed 1): "
      + '; '.join(f"{shape} {by_shape(shape, 'maml')}" for shape in mixture)
      + f". The pretrained baseline fits {per_seed(stats, 'shapes', 'pretrain')}; by shape: "
      + '; '.join(f"{shape} {by_shape(shape, 'pretrain')}" for shape in mixture) + '.',
  ]
  return '\n'.join(lines)


def training_time_text(logdir: str, base=study_points.STUDY_BASE) -> str:
  jobs = study_points.training_jobs(list(POINTS), logdir, base)
  return benchmark.training_time_text(sorted(job.path for job in jobs),
                                      f'the study\'s {len(jobs)} models ({len(POINTS)} points '
                                      'share some)')


def saved_results(logdir: str):
  """(results, ceilings): every evaluated point's and shape point's ceiling file."""
  results = read_point_files(logdir, POINTS)
  if not results:
    raise utils.CommandError(
        f'no robustness results in {protocols.points_dir(logdir)}; evaluate first '
        '(--mode=report)')
  return results, read_point_files(logdir, CEILING_POINTS, '_ceiling')


def figures(logdir: str, results: Dict[str, dict], ceilings: Dict[str, dict]
            ) -> Dict[str, Callable[[str], None]]:
  """{name: draw(path)} for each of FIGURES whose points (and ceilings) are evaluated."""
  stats = {name: r['results'] for name, r in results.items()}
  results_dir = protocols.points_dir(logdir)
  drawn = {name: functools.partial(setting_figure, POINTS[name], os.path.join(results_dir, name))
           for name in FIGURE_POINTS if name in stats}
  if len(stats) == len(POINTS):
    if len(ceilings) == len(CEILING_POINTS):
      drawn['shapes_summary'] = functools.partial(shapes_figure, stats, ceilings)
    drawn['robustness_summary'] = lambda path: plots.boundary_figure(
        path, boundary_panels(stats), GOOD_NMSE)
  return drawn


def report(logdir: str, img_dir: str, readme: str, base=study_points.STUDY_BASE):
  """Draws Img/<figure point>.png (Fig1..7, linear, the shapes), Img/robustness_summary.png
  and Img/shapes_summary.png and rewrites the README sections from the saved
  results of every evaluated point and the ceiling files."""
  results, ceilings = saved_results(logdir)
  stats = {name: r['results'] for name, r in results.items()}
  os.makedirs(img_dir, exist_ok=True)
  for name, draw in figures(logdir, results, ceilings).items():
    draw(os.path.join(img_dir, name + '.png'))
  # Sections are written once every point they read has been evaluated.
  has_settings = all(p.name in stats for p in SETTING_POINTS)
  has_all = len(stats) == len(POINTS)
  sections = {}
  if has_settings:
    sections['robustness_settings'] = settings_table(stats)
  if has_settings and has_all:
    sections['robustness_findings'] = findings(stats)
  if has_all and len(ceilings) == len(CEILING_POINTS):
    sections.update({'robustness_shapes': shapes_table(stats, results),
                     'robustness_ceiling': ceiling_table(logdir, ceilings),
                     'robustness_shape_findings': shape_findings(stats, results, ceilings,
                                                                 logdir)})
  results_dir = protocols.points_dir(logdir)
  if has_all:
    sections.update({'robustness_sweep': sweep_table(stats),
                     'robustness_boundary': boundary_table(stats),
                     'robustness_training_time': training_time_text(logdir, base)})
    utils.atomic_write(os.path.join(results_dir, ALL_POINTS_TABLE),
                       '# Every point of the robustness study\n\n'
                       + details_table(stats, list(POINTS)) + '\n')
  utils.update_readme(readme, sections)
  print(f'wrote the results of {len(stats)} points to {results_dir}, their figures to '
        f'{img_dir} and {len(sections)} README sections')
  return results
