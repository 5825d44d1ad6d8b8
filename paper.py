"""The paper's sinusoid experiments (Finn et al. 2017, sec. 5.1, fig. 2, fig. 3, table 2).

train_all() trains every model into <logdir>/paper/<name>/; report()
re-evaluates those checkpoints, draws Img/paper_fig2.png and Img/paper_fig3.png
and writes the README tables, so README and result files cannot disagree.
"""
import os
from typing import Dict, List

import numpy as np

import experiment
import FunGenerator
import plots
import utils

# Quoted from the paper (appendix C.1, 5-shot MSE): the target, not a result.
PAPER_TABLE2 = {'pretrained (paper)': {1: 2.41, 5: 2.23, 10: 2.19},
                'MAML (paper)': {1: 0.67, 5: 0.38, 10: 0.35}}
TABLE_STEPS = (1, 5, 10)
EVAL_KS = (5, 10, 20)
SEEDS = (1, 2, 3)
# Fine-tuning step sizes tried for the baselines on validation tasks; 0 means
# no fine-tuning, which the oracle (told amplitude and phase) may prefer.
BASELINE_ALPHAS = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
VALIDATION_SEED = 999          # validation tasks, disjoint stream from eval_seed
SELECTION_STEP = 10            # alpha minimising the query MSE after this many steps
FIG2_TASKS = 2
HALF_RANGE = (-5.0, 0.0)       # figure 2's case: all K points in one half of x
BASELINES = ('pretrain', 'oracle')
FAMILY_SAMPLES = 4
DIVERGING_SHOWN = 2


def models(base: dict) -> Dict[str, dict]:
  """name -> settings of every model of this study (paper defaults from `base`)."""
  runs = {}
  for k in (5, 10):
    for seed in SEEDS:
      runs[f'maml_K{k}_seed{seed}'] = {**base, 'method': 'maml', 'K': k, 'seed': seed}
  runs['maml_fo_K10_seed1'] = {**base, 'method': 'maml', 'first_order': True, 'K': 10, 'seed': 1}
  for method in BASELINES:
    runs[f'{method}_K10_seed1'] = {**base, 'method': method, 'K': 10, 'seed': 1}
  return runs


def paper_dir(logdir: str) -> str:
  return os.path.join(logdir, 'paper')


def train_all(base: dict, logdir: str, print_interval: int, save_interval: int):
  """Trains every model whose folder has no checkpoint yet; records the times."""
  times_path = os.path.join(paper_dir(logdir), 'training_seconds.json')
  times = utils.read_json(times_path) if os.path.exists(times_path) else {}
  for name, settings in models(base).items():
    seconds = experiment.train_if_needed(settings, os.path.join(paper_dir(logdir), name),
                                         print_interval, save_interval)
    if seconds is not None:
      times[name] = seconds
      utils.write_json(times_path, times)


def select_alpha(settings: dict, path: str, k: int, num_tasks: int) -> float:
  """The fine-tuning step size with the lowest validation query MSE; saved beside."""
  tasks = experiment.evaluation_tasks(settings, k, num_tasks, VALIDATION_SEED)
  losses = experiment.task_losses(settings, path, tasks, BASELINE_ALPHAS)
  means = {alpha: float(np.mean(l['query'][SELECTION_STEP])) for alpha, l in losses.items()}
  finite = {a: m for a, m in means.items() if np.isfinite(m)}
  chosen = min(finite, key=finite.get)
  utils.write_json(os.path.join(path, f'alpha_selection_K{k}.json'), {
      'K': k, 'num_tasks': num_tasks, 'validation_seed': VALIDATION_SEED,
      'criterion': f'mean query MSE after {SELECTION_STEP} steps',
      'grid': {str(a): m for a, m in means.items()}, 'chosen': chosen})
  return chosen


def evaluate_all(logdir: str, num_tasks: int, eval_seed: int) -> Dict[str, Dict[int, dict]]:
  """Evaluates every shipped model at every K; {name: {K: eval json}}."""
  results = {}
  for name in sorted(os.listdir(paper_dir(logdir))):
    path = os.path.join(paper_dir(logdir), name)
    if not experiment.has_checkpoint(path):
      continue
    settings = experiment.load_settings(path)
    results[name] = {}
    for k in EVAL_KS:
      alpha = (select_alpha(settings, path, k, num_tasks)
               if settings['method'] in BASELINES else settings['alpha'])
      experiment.evaluate(settings, path, k, num_tasks, eval_seed, alpha)
      results[name][k] = utils.read_json(os.path.join(path, f'eval_K{k}.json'))
  return results


def seeds_of(results, prefix: str) -> List[str]:
  return [name for name in sorted(results) if name.startswith(prefix)]


def figure3(results, path: str):
  panels = {}
  for k in EVAL_KS:
    trained_k = 5 if k == 5 else 10
    curves = {
        f'MAML (trained K={trained_k})': seeds_of(results, f'maml_K{trained_k}_seed'),
        'first-order MAML (K=10)': seeds_of(results, 'maml_fo_K10'),
        'pretrained': seeds_of(results, 'pretrain_'),
        'oracle': seeds_of(results, 'oracle_')}
    panels[f'K={k}'] = {label: [results[n][k]['query'] for n in names]
                        for label, names in curves.items() if names}
  plots.learning_curves(path, panels, {'mean': 'mean query MSE, 95% CI',
                                       'median': 'median query MSE'})


def figure2(results, logdir: str, eval_seed: int, path: str):
  """MAML beside the pretrained baseline on held-out tasks, K=5, K=10 and half range."""
  cases = [(5, None), (10, None), (5, HALF_RANGE)]
  rows = []
  for k, support_range in cases:
    row = []
    for name in (f'maml_K{k}_seed1', 'pretrain_K10_seed1'):
      model_dir = os.path.join(paper_dir(logdir), name)
      settings = experiment.load_settings(model_dir)
      tasks = experiment.evaluation_tasks(settings, k, FIG2_TASKS, eval_seed, support_range)
      predictions = experiment.grid_predictions(settings, model_dir, tasks,
                                                results[name][k]['alpha'])
      where = '' if support_range is None else f', points in x in {list(support_range)}'
      label = 'MAML' if settings['method'] == 'maml' else 'pretrained'
      row += [plots.Panel(tasks, b, predictions[:, b], f'{label}, K={k}{where}')
              for b in range(FIG2_TASKS)]
    rows.append(sorted(row, key=lambda p: p.b))
  plots.adaptation_figure(path, rows, experiment.PLOT_STEPS)


def diverging_tasks(results, logdir: str, k: int = 5, top: int = DIVERGING_SHOWN) -> str:
  """The tasks with the largest 10-step loss of each MAML model at K=k."""
  lines = ['| model | amplitude A | phase phi | MSE before | after 1 step | after 10 steps |',
           '|---|---|---|---|---|---|']
  for name in seeds_of(results, 'maml_K'):
    rows = utils.read_csv(os.path.join(paper_dir(logdir), name, f'eval_K{k}_tasks.csv'))
    final = [float(r['query_step10']) for r in rows]
    order = np.argsort([-(v if np.isfinite(v) else np.inf) for v in final])
    worst = [rows[i] for i in order]
    for r in worst[:top]:
      lines.append(f"| {name} | {float(r['amplitude']):.2f} | {float(r['phase']):.2f} | "
                   f"{float(r['query_step0']):.2f} | {float(r['query_step1']):.2f} | "
                   f"{float(r['query_step10']):.4g} |")
  return '\n'.join(lines)


def cell(row: dict) -> str:
  return f"{row['mean']:.3f} ± {row['ci95']:.3f} (median {row['median']:.3f})"


def table2(results) -> str:
  lines = ['| method | ' + ' | '.join(f'{s} step' + ('s' if s > 1 else '') for s in TABLE_STEPS)
           + ' | tasks worse than before / non-finite at 10 steps |',
           '|---' * (len(TABLE_STEPS) + 2) + '|']
  for label, values in PAPER_TABLE2.items():
    lines.append(f'| {label} | ' + ' | '.join(f'{values[s]:.2f}' for s in TABLE_STEPS) + ' | |')
  rows = [('pretrained (ours)', 'pretrain_K10_seed1')] + [
      (f'MAML (ours, seed {n[-1]})', n) for n in seeds_of(results, 'maml_K5_seed')]
  for label, name in rows:
    stats = results[name][5]
    query = stats['query']
    alpha = f", α={stats['alpha']:g}" if name.startswith('pretrain') else ''
    lines.append(f'| {label}{alpha} | ' + ' | '.join(cell(query[s]) for s in TABLE_STEPS)
                 + f" | {query[10]['n_worse']} / {query[10]['n_nonfinite']} |")
  return '\n'.join(lines)


def all_models_table(results) -> str:
  lines = ['| model | K | α at test | 0 steps | 1 step | 10 steps | grid MSE, 10 steps | worse / non-finite |',
           '|---|---|---|---|---|---|---|---|']
  for name in sorted(results):
    for k, stats in sorted(results[name].items()):
      q, g = stats['query'], stats['grid']
      lines.append(f"| {name} | {k} | {stats['alpha']:g} | {q[0]['mean']:.3f} | {cell(q[1])} "
                   f"| {cell(q[10])} | {cell(g[10])} | {q[10]['n_worse']} / {q[10]['n_nonfinite']} |")
  return '\n'.join(lines)


def training_time_text(logdir: str) -> str:
  times = utils.read_json(os.path.join(paper_dir(logdir), 'training_seconds.json'))
  return (f'Training the {len(times)} models took {sum(times.values()) / 60:.1f} minutes '
          f'in all on a 2-core CPU ({min(times.values()):.0f} to '
          f'{max(times.values()):.0f} s each), from `training_seconds.json`.')


def families_figure(path: str, num_tasks: int = FAMILY_SAMPLES, seed: int = 0):
  """Img/families.png: a few tasks of every family in FunGenerator, default ranges."""
  samples = {}
  for name in sorted(FunGenerator.FAMILIES):
    generator = FunGenerator.TaskGenerator(name, seed=seed)
    x = generator.grid_x(num_tasks, experiment.GRID_POINTS)
    y = generator.targets(x, generator.sample_params(num_tasks))
    samples[name] = (plots.as_2d(x)[0], plots.as_2d(y))
  plots.families_figure(path, samples)


def report(logdir: str, img_dir: str, readme: str, num_tasks: int, eval_seed: int):
  """Re-evaluates every model, redraws the figures and rewrites the README tables."""
  results = evaluate_all(logdir, num_tasks, eval_seed)
  os.makedirs(img_dir, exist_ok=True)
  figure3(results, os.path.join(img_dir, 'paper_fig3.png'))
  families_figure(os.path.join(img_dir, 'families.png'))
  figure2(results, logdir, eval_seed, os.path.join(img_dir, 'paper_fig2.png'))
  sections = {'paper_table2': table2(results), 'paper_all_models': all_models_table(results),
              'paper_diverging': diverging_tasks(results, logdir),
              'paper_training_time': training_time_text(logdir)}
  benchmark = os.path.join(logdir, 'benchmark.json')
  if os.path.exists(benchmark):
    sections['benchmark'] = benchmark_table(utils.read_json(benchmark))
  utils.update_readme(readme, sections)
  print(f'wrote {img_dir}/paper_fig2.png, {img_dir}/paper_fig3.png and the tables in {readme}')


def benchmark_table(results: dict) -> str:
  rows = [('meta-training, paper setting (K=10, 25 tasks, 1 step, second order)',
           'meta_iterations_per_second', '{:.0f} it/s'),
          ('meta-training, 5 inner steps', 'meta_iterations_per_second_5_steps', '{:.0f} it/s'),
          ('meta-training, first order', 'meta_iterations_per_second_first_order', '{:.0f} it/s'),
          ('meta-training, one session.run per iteration (feed_dict every step)',
           'meta_iterations_per_second_one_run_per_iteration', '{:.0f} it/s'),
          ('evaluation, 600 tasks x 11 step counts', 'eval_seconds_600_tasks', '{:.3f} s')]
  lines = [f"| what | median of {results['repeats']} repeats | repeats |", '|---|---|---|']
  lines += [f"| {label} | {value.format(results[key])} | "
            f"{', '.join(value.format(r) for r in results[key + '_repeats'])} |"
            for label, key, value in rows]
  return '\n'.join(lines)
