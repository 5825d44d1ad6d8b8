"""The paper's sinusoid models (Finn et al. 2017, sec. 5.1): MAML at K = 5 and
10 over three seeds, first-order MAML and the two baselines.

training_jobs() lists every model (scheduler.train_models trains them) in
<logdir>/paper/<name>/; evaluate_all() re-evaluates those checkpoints and
writes their results files, which paper.report draws.
"""
import dataclasses
import os
from typing import Dict, List

import numpy as np

from common import fileio
from common import statistics
from run import checkpoints
from run import evaluation
from run import sampling
from run import settings as run_settings
from run.settings import Settings
import utils

EVAL_KS = (5, 10, 20)
SEEDS = (1, 2, 3)
BASELINES = ('pretrain', 'oracle')


def models(base: Settings = Settings()) -> Dict[str, Settings]:
  """name -> settings of every model of the reproduction. The project defines
  them (the paper's settings); tests pass a smaller `base`."""
  def model(**changes):
    return dataclasses.replace(base, **changes)
  runs = {f'maml_K{k}_seed{seed}': model(K=k, seed=seed) for k in (5, 10) for seed in SEEDS}
  runs['maml_fo_K10_seed1'] = model(first_order=True, K=10, seed=1)
  for method in BASELINES:
    runs[f'{method}_K10_seed1'] = model(method=method, K=10, seed=1)
  return runs


def paper_dir(logdir: str) -> str:
  return os.path.join(logdir, 'paper')


def training_jobs(logdir: str, base: Settings = Settings()) -> List[run_settings.Job]:
  return [run_settings.Job(settings, os.path.join(paper_dir(logdir), name))
          for name, settings in models(base).items()]


def select_alpha(settings: Settings, path: str, k: int, num_tasks: int,
                 graphs: evaluation.TestGraphs = None) -> float:
  """A baseline's fine-tuning step size: evaluation.lowest_mean_step_size on the query
  MSE of validation tasks after the last test step; the scores are saved beside."""
  tasks = sampling.evaluation_tasks(settings, k, num_tasks, evaluation.VALIDATION_SEED)
  last = settings.test_num_updates
  with evaluation.restored(settings, path, graphs) as (sess, model):
    errors = {alpha: evaluation.losses_of(tasks, evaluation.adapted_predictions(
        sess, model, tasks, alpha, ('query',), (last,)))['query'][0]
              for alpha in evaluation.STEP_SIZES}
  chosen = evaluation.lowest_mean_step_size(errors)
  fileio.write_json(os.path.join(path, evaluation.CHOSEN_ALPHA_FILE.format(k)), {
      'K': k, 'num_tasks': num_tasks, 'validation_seed': evaluation.VALIDATION_SEED,
      'criterion': f'fewest non-finite tasks, then lowest mean query MSE after {last} steps',
      'grid': {str(a): statistics.mean_ci(e[np.isfinite(e)])['mean'] for a, e in errors.items()},
      'n_nonfinite': {str(a): int(np.sum(~np.isfinite(e))) for a, e in errors.items()},
      'chosen': chosen, 'sources': [checkpoints.checkpoint_source(path)],
      'code': utils.code_version()})
  return chosen


def evaluate_all(logdir: str, num_tasks: int, eval_seed: int,
                 workers: int = utils.WORKERS) -> Dict[str, Dict[int, dict]]:
  """Evaluates every trained model of `models()` at every K, `workers` models
  at once (each worker restores its models into its own graphs); {name: {K:
  eval json}}. A folder whose config.json differs from the model's definition
  is refused."""
  trained = {}
  for name, defined in models().items():
    path = os.path.join(paper_dir(logdir), name)
    if checkpoints.has_checkpoint(path):
      settings = checkpoints.load_settings(path)
      run_settings.check_same(settings, defined, [f.name for f in dataclasses.fields(defined)],
                              'report', path)
      trained[name] = (settings, path)
  if not trained:
    raise utils.CommandError(f'no trained paper models in {paper_dir(logdir)}; train them '
                             '(make reproduce) or give the --logdir that holds them')
  print(f'evaluating {len(trained)} paper models at K = {", ".join(map(str, EVAL_KS))} on '
        f'{num_tasks} tasks each', flush=True)

  def evaluate_model(graphs, name):
    settings, path = trained[name]
    for k in EVAL_KS:
      with fileio.replaced_together():    # the step size chosen and its evaluation
        alpha = (select_alpha(settings, path, k, num_tasks, graphs)
                 if settings.method in BASELINES else settings.alpha)
        evaluation.evaluate(settings, path, k, num_tasks, eval_seed, alpha, graphs)
    return {k: fileio.read_json(os.path.join(path, f'eval_K{k}.json')) for k in EVAL_KS}

  # The baselines choose a step size first (every candidate), so they start first.
  names = sorted(trained, key=lambda name: trained[name][0].method not in BASELINES)
  return dict(zip(names, utils.thread_map(evaluate_model, names, workers,
                                          per_worker=evaluation.TestGraphs)))


