"""The paper's figures and tables (Finn et al. 2017, fig. 2, fig. 3, table 2),
drawn from the results paper.models.evaluate_all wrote: write_report() draws
Img/paper_fig2.png, Img/paper_fig3.png and the other figures and writes the
README sections, so README and result files cannot disagree.
"""
import functools
import os
from typing import Callable, Dict, List

import numpy as np

from common import fileio
from common import plots
from common import readme_sections
from common import statistics
import FunGenerator
from paper import models
from run import checkpoints
from run import evaluation
from run import sampling
from run import settings as run_settings
from run import training_time

# Quoted from the paper (appendix C.1, 5-shot MSE): the target, not a result.
TABLE2_K = 5   # table 2 is 5-shot
PAPER_TABLE2 = {'pretrained (paper)': {1: 2.41, 5: 2.23, 10: 2.19},
                'MAML (paper)': {1: 0.67, 5: 0.38, 10: 0.35}}
TABLE_STEPS = (1, 5, 10)
FIG2_TASKS = 2
HALF_RANGE = (-5.0, 0.0)       # figure 2's case: all K points in one half of x
FAMILY_SAMPLES = 4
# The paper's meta-objective (eq. 1 with theta'_i from the inner step) and meta-update.
TASK_LOSS = r'\mathcal{L}_{\mathcal{T}_i}'
OVER_TASKS = r'\sum_{\mathcal{T}_i \sim p(\mathcal{T})}'
FORMULAS = {
    'meta_objective': (rf'$\min_{{\theta}} {OVER_TASKS} {TASK_LOSS}(f_{{\theta_i^{{\prime}}}}) '
                       rf'= {OVER_TASKS} {TASK_LOSS}(f_{{\theta - \alpha \nabla_{{\theta}} '
                       rf'{TASK_LOSS}(f_{{\theta}})}})$'),
    'meta_minimize': (rf'$\theta \leftarrow \theta - \beta \nabla_{{\theta}} {OVER_TASKS} '
                      rf'{TASK_LOSS}(f_{{\theta_i^{{\prime}}}})$'),
}
DIVERGING_SHOWN = 2
ALL_MODELS_TABLE = 'all_models.md'   # in <logdir>/paper, linked from the README
FIGURES = ('paper_fig2', 'paper_fig3', 'families') + tuple(FORMULAS)   # Img/<name>.png
SECTIONS = ('paper_table2', 'paper_findings', 'paper_training_time')   # README sections it writes


def seeds_of(results, prefix: str) -> List[str]:
  return [name for name in sorted(results) if name.startswith(prefix)]


def model_label(names: List[str], what: str, results) -> str:
  """e.g. 'MAML (meta-trained with K=5, seeds 1, 2, 3)'."""
  settings = [results[n][models.EVAL_KS[0]]['settings'] for n in names]
  seeds = ', '.join(str(s['seed']) for s in settings)
  return (f"{what} (trained with K={settings[0]['K']}, seed{'s' if len(names) > 1 else ''} "
          f'{seeds})')


def figure3(results, path: str):
  """MSE against steps per test K: the paper's mean over all tasks (top; steps
  where it is off the scale are marked at the edge with the diverged count) and
  the median (bottom). MAML is the K=10-trained model at every K, as in the
  paper's text; at K=5 the K=5-trained variant and the paper's table 2 too."""
  panels, references = {}, {}
  for k in models.EVAL_KS:
    curves = {'MAML': seeds_of(results, 'maml_K10_seed'),
              'first-order MAML': seeds_of(results, 'maml_fo_K10'),
              'pretrained': seeds_of(results, 'pretrain_'),
              'oracle': seeds_of(results, 'oracle_')}
    if k == TABLE2_K:   # the variant: meta-trained with the test K
      curves['MAML, variant'] = seeds_of(results, f'maml_K{TABLE2_K}_seed')
    title = f'tested with K={k}'
    panels[title] = {model_label(names, what.split(',')[0], results): [
        results[n][k]['query'] for n in names] for what, names in curves.items() if names}
  references[f'tested with K={TABLE2_K}'] = {
      f'{label}, table 2': values for label, values in PAPER_TABLE2.items()}
  plots.learning_curves(path, panels, references)


def figure2(results, logdir: str, eval_seed: int, path: str):
  """MAML beside the pretrained baseline on held-out tasks, K=5, K=10 and half
  range; both models meta-trained with K=10, as in the paper's text."""
  cases = [(5, None), (10, None), (5, HALF_RANGE)]
  rows = []
  with evaluation.TestGraphs() as graphs:
    for k, support_range in cases:
      row = []
      for name in ('maml_K10_seed1', 'pretrain_K10_seed1'):
        model_dir = os.path.join(models.paper_dir(logdir), name)
        settings = checkpoints.load_settings(model_dir)
        tasks = sampling.evaluation_tasks(settings, k, FIG2_TASKS, eval_seed, support_range)
        predictions = evaluation.grid_predictions(settings, model_dir, tasks,
                                                 results[name][k]['alpha'], graphs)
        where = '' if support_range is None else f', points in x in {list(support_range)}'
        label = 'MAML' if settings.method == 'maml' else 'pretrained'
        row += [plots.Panel(tasks, b, predictions[:, b], f'{label}, tested with K={k}{where}')
                for b in range(FIG2_TASKS)]
      rows.append(sorted(row, key=lambda p: p.b))
  plots.adaptation_figure(path, rows, evaluation.PLOT_STEPS)


def diverging_tasks(results, logdir: str, k: int = 5, top: int = DIVERGING_SHOWN) -> str:
  """The tasks with the largest 10-step loss of each MAML model at K=k."""
  lines = ['| model | amplitude A | phase phi | MSE before | after 1 step | after 10 steps |',
           '|---|---|---|---|---|---|']
  for name in seeds_of(results, 'maml_K'):
    rows = fileio.read_csv(os.path.join(models.paper_dir(logdir), name, f'eval_K{k}_tasks.csv'))
    final = [float(r['query_step10']) for r in rows]
    order = np.argsort([-(v if np.isfinite(v) else np.inf) for v in final])
    worst = [rows[i] for i in order]
    for r in worst[:top]:
      lines.append(f"| {name} | {float(r['amplitude']):.2f} | {float(r['phase']):.2f} | "
                   + ' | '.join(statistics.readable(float(r[f'query_step{s}'])) for s in (0, 1, 10))
                   + ' |')
  return '\n'.join(lines)


def cell(row: dict) -> str:
  return statistics.summary_text(row)


def within_interval(row: dict, published: float) -> bool:
  """The published mean lies in our mean's 95% CI (over all tasks, none diverged)."""
  return (not row['n_diverged']
          and abs(row['mean_all_tasks'] - published) <= row['ci95_all_tasks'])


def diverged_amplitudes(logdir: str, name: str, k: int, step: int) -> List[float]:
  """The amplitudes A of the tasks whose adaptation diverged by `step` at K=k."""
  rows = fileio.read_csv(os.path.join(models.paper_dir(logdir), name, f'eval_K{k}_tasks.csv'))
  losses = np.array([[float(r[f'query_step{s}']) for r in rows] for s in (0, step)])
  return sorted(float(r['amplitude']) for r, d in zip(rows, statistics.diverged(losses)[1]) if d)


def findings(results, logdir: str) -> str:
  """What Table 2 shows, in words: every number read from the results files."""
  maml, paper = PAPER_TABLE2['MAML (paper)'], PAPER_TABLE2['pretrained (paper)']
  lines = []
  for k in (10, TABLE2_K):
    names = seeds_of(results, f'maml_K{k}_seed')
    inside = {s: [n[-1] for n in names if within_interval(results[n][TABLE2_K]['query'][s],
                                                            maml[s])] for s in TABLE_STEPS}
    lines.append(
        f'- **MAML meta-trained with K={k}** ({"the paper" if k == 10 else "a variant"}): the '
        "paper's mean lies within the 95% CI of "
        + '; '.join(f"{s} step{'s' if s > 1 else ''}: "
                    + (f"seed{'s' if len(inside[s]) > 1 else ''} {', '.join(inside[s])}"
                       if inside[s] else 'no seed') for s in TABLE_STEPS)
        + f' (of seeds {", ".join(n[-1] for n in names)}).')
  baseline = results['pretrain_K10_seed1'][TABLE2_K]['query']
  close = [s for s in TABLE_STEPS if within_interval(baseline[s], paper[s])]
  lines.append('- **The pretrained baseline** is within its 95% CI of the paper at '
               + (', '.join(map(str, close)) if close else 'no')
               + f' of {", ".join(map(str, TABLE_STEPS))} steps '
               f"(fine-tuned with alpha = {results['pretrain_K10_seed1'][TABLE2_K]['alpha']:g}, "
               'chosen on the mean validation MSE).')
  last = max(TABLE_STEPS)
  diverged = {n: diverged_amplitudes(logdir, n, TABLE2_K, last)
              for n in seeds_of(results, 'maml_K')}
  lines.append(
      f'- **Diverged adaptations** after {last} steps at K={TABLE2_K}, and the amplitude A of '
      'each such task: ' + '; '.join(
          f"{n}: {len(a)}" + (f" (A = {', '.join(f'{v:.2f}' for v in a)})" if a else '')
          for n, a in diverged.items())
      + f'. One such task decides a mean over {baseline[last]["n_tasks"]}; whether the '
      "paper's own models had any, its mean-only table does not say. Why they diverge is a "
      'hypothesis here: MAML is meta-trained for one inner step, so nothing in training '
      f'keeps steps 2 to {last} stable.')
  if not {'maml_fo_K10_seed1', 'oracle_K10_seed1'} <= set(results):
    return '\n'.join(lines)
  fo, so = (results[n][TABLE2_K]['query'][last] for n in ('maml_fo_K10_seed1', 'maml_K10_seed1'))
  lines.append(
      f'- **First-order MAML** (K=10, seed 1) at K={TABLE2_K} after {last} steps: '
      f"{statistics.rounded_to_interval(fo['mean_all_tasks'], fo['ci95_all_tasks'])} against "
      f"{statistics.rounded_to_interval(so['mean_all_tasks'], so['ci95_all_tasks'])} for second "
      "order (the paper reports first-order MAML for MiniImagenet only). The oracle's "
      f"step size chosen on validation is {results['oracle_K10_seed1'][TABLE2_K]['alpha']:g}.")
  return '\n'.join(lines)


def summary(results) -> str:
  """One sentence: does table 2 reproduce, for the K=10-trained MAML seeds."""
  names = seeds_of(results, 'maml_K10_seed')
  maml = PAPER_TABLE2['MAML (paper)']
  inside = {s: sum(within_interval(results[n][TABLE2_K]['query'][s], maml[s]) for n in names)
            for s in TABLE_STEPS}
  diverged = sum(results[n][TABLE2_K]['query'][max(TABLE_STEPS)]['n_diverged'] > 0
                 for n in names)
  baseline = results['pretrain_K10_seed1'][TABLE2_K]['query']
  matched = sum(within_interval(baseline[s], PAPER_TABLE2['pretrained (paper)'][s])
                for s in TABLE_STEPS)
  return (f"**The paper's table 2**: MAML meta-trained with K=10 lands within its 95% CI of "
          "the paper's mean for " + ', '.join(
              f"{inside[s]} of {len(names)} seeds after {s} step{'s' if s > 1 else ''}"
              for s in TABLE_STEPS)
          + f"; {diverged} of {len(names)} seeds have tasks whose repeated steps diverge, "
          f"which decide their means; the pretrained baseline matches at {matched} of "
          f"{len(TABLE_STEPS)} step counts.")


def table2_cell(row: dict) -> str:
  """The mean over all tasks rounded to its 95% CI (the paper's statistic) and
  the median; if some tasks diverged, their count and the mean over the others
  instead, since the diverged ones decide the mean over all."""
  median = f"median {statistics.readable(row['median_all_tasks'])}"
  if not row['n_diverged']:
    return f"{statistics.rounded_to_interval(row['mean_all_tasks'], row['ci95_all_tasks'])} ({median})"
  return (f"{row['n_diverged']} diverged (they decide the mean over all); the other "
          f"{row['n_tasks'] - row['n_diverged']}: "
          f"{statistics.rounded_to_interval(row['mean_not_diverged'], row['ci95_not_diverged'])} "
          f"({median} over all)")


def table2(results) -> str:
  """K=5 at test: the paper's rows, the pretrained baseline, MAML meta-trained
  with K=10 (the paper's text) and with K=5 (a variant), every seed."""
  lines = ['| method | ' + ' | '.join(f'{s} step' + ('s' if s > 1 else '') for s in TABLE_STEPS)
           + ' | tasks worse than before / diverged at 10 steps |',
           '|---' * (len(TABLE_STEPS) + 2) + '|']
  for label, values in PAPER_TABLE2.items():
    lines.append(f'| {label} | ' + ' | '.join(f'{values[s]:.2f}' for s in TABLE_STEPS) + ' | |')
  rows = [('pretrained (ours)', 'pretrain_K10_seed1')] + [
      (f'MAML (ours, meta-trained K={k}, seed {n[-1]})', n)
      for k in (10, 5) for n in seeds_of(results, f'maml_K{k}_seed')]
  for label, name in rows:
    stats = results[name][TABLE2_K]
    query = stats['query']
    alpha = f", α={stats['alpha']:g}" if name.startswith('pretrain') else ''
    lines.append(f'| {label}{alpha} | ' + ' | '.join(table2_cell(query[s]) for s in TABLE_STEPS)
                 + f" | {query[10]['n_worse']} / {query[10]['n_diverged']} |")
  return '\n'.join(lines)


def task_count(results) -> int:
  """The number of evaluation tasks (one for the whole set: published checks it)."""
  return next(iter(next(iter(results.values())).values()))['num_tasks']


def all_models_table(results) -> str:
  lines = ['| model | K | α at test | 0 steps | 1 step | 10 steps | grid MSE, 10 steps | worse / diverged |',
           '|---|---|---|---|---|---|---|---|']
  for name in sorted(results):
    for k, stats in sorted(results[name].items()):
      q, g = stats['query'], stats['grid']
      lines.append(f"| {name} | {k} | {stats['alpha']:g} | {statistics.readable(q[0]['mean_all_tasks'])} "
                   f"| {cell(q[1])} | {cell(q[10])} | {cell(g[10])} "
                   f"| {q[10]['n_worse']} / {q[10]['n_diverged']} |")
  return '\n'.join(lines)


def training_time_text(results: Dict[str, Dict[int, dict]], logdir: str) -> str:
  return training_time.training_time_text(
      [os.path.join(models.paper_dir(logdir), name) for name in results], f'the {len(results)} models')


def families_figure(path: str, num_tasks: int = FAMILY_SAMPLES, seed: int = 0):
  """Img/families.png: a few tasks of every family in FunGenerator, default ranges."""
  samples = {}
  for name in sorted(FunGenerator.FAMILIES):
    generator = FunGenerator.TaskGenerator(name, seed=seed)
    x = generator.grid_x(num_tasks, run_settings.GRID_POINTS)
    y = generator.targets(x, generator.sample_params(num_tasks))
    samples[name] = (plots.as_2d(x)[0], plots.as_2d(y))
  plots.families_figure(path, samples)


def figures(results: Dict[str, Dict[int, dict]], logdir: str) -> Dict[str, Callable[[str], None]]:
  """{name: draw(path)} for each of FIGURES, from the saved results (figure 2
  also restores its two models' checkpoints to predict on its few tasks)."""
  eval_seed = next(iter(results.values()))[models.EVAL_KS[0]]['eval_seed']
  drawn = {'paper_fig2': lambda path: figure2(results, logdir, eval_seed, path),
           'paper_fig3': functools.partial(figure3, results),
           'families': families_figure}
  drawn.update({name: functools.partial(plots.formula, tex=tex) for name, tex in FORMULAS.items()})
  return drawn


def write_report(results: Dict[str, Dict[int, dict]], logdir: str, img_dir: str, readme: str):
  """Figures 2 and 3, the formulas, the families figure and the paper's README sections."""
  os.makedirs(img_dir, exist_ok=True)
  for name, draw in figures(results, logdir).items():
    draw(os.path.join(img_dir, name + '.png'))
  sections = dict(zip(SECTIONS, (table2(results), findings(results, logdir),
                                 training_time_text(results, logdir))))
  readme_sections.update_readme(readme, sections)
  fileio.atomic_write(os.path.join(models.paper_dir(logdir), ALL_MODELS_TABLE),
                     '# Every model of the paper section\n\n'
                     f'Query MSE on {task_count(results)} held-out tasks: mean ± 95% CI over '
                     'all tasks, or over the tasks that did not diverge with their count, and '
                     'the median.\n\n'
                     + all_models_table(results) + '\n\n'
                     f'## The {DIVERGING_SHOWN} tasks with the largest 10-step query MSE of '
                     'every MAML model, 5-shot\n\n' + diverging_tasks(results, logdir) + '\n')
  print(f'wrote {img_dir}/paper_fig2.png, {img_dir}/paper_fig3.png and the tables in {readme}')
