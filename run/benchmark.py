"""Every timing the project measures and reports: `make benchmark` (training
speed alone and in groups, evaluation time; one warm-up/repeat rule for all),
the wall time of each part of `make figures` and `make reproduce`, the
training time of the shipped models, and the README table and sentences made
from those records."""
import concurrent.futures
import dataclasses
import json
import os
import threading
import time
from typing import Callable, List

import numpy as np

from common import fileio
from common import interrupts
from common import statistics
from run import checkpoints
from run import evaluation
from run import sampling
from run import scheduler
from run import settings as run_settings
from run import training
from run.settings import Settings
import utils
tf = utils.quiet_tensorflow()

WARMUP_RUNS = 2          # measurements run and discarded before the timed repeats
BENCHMARK_EVAL_TASKS = 600
BENCHMARK_GROUP_SIZES = (1, 4, scheduler.GROUP_SIZE, 8, 16)
RESULTS_FILE = 'benchmark.json'   # in --logdir
PUBLISHED_REPEATS = 3     # the published record's timed repeats per case
PUBLISHED_SECONDS = 4.0   # and seconds per repeat
SOLO_CASES = {   # name -> changes to the benchmarked settings
    'meta_iterations_per_second': {},
    'meta_iterations_per_second_5_steps': {'num_updates': 5},
    'meta_iterations_per_second_first_order': {'first_order': True},
    'meta_iterations_per_second_one_run_per_iteration': {'iterations_per_run': 1},
}
EVAL_CASE = 'eval_seconds_600_tasks'


# -------------------------------------------------------- how to measure --

def repeated(measure: Callable[[], float], repeats: int) -> List[float]:
  """`repeats` values of measure(), after WARMUP_RUNS whose values are dropped."""
  return [measure() for _ in range(WARMUP_RUNS + repeats)][WARMUP_RUNS:]


def window_rate(run_chunk: Callable[[], int], seconds: float) -> float:
  """Iterations per second of run_chunk() (which returns the iterations it
  ran), called at least once however short the window, and until `seconds` pass."""
  start = time.perf_counter()
  done = run_chunk()
  while time.perf_counter() - start < seconds:
    done += run_chunk()
  return done / (time.perf_counter() - start)


def training_speed(settings: Settings, repeats: int, seconds: float) -> List[float]:
  """Meta-iterations per second of one model's training loop, data generation included."""
  model = run_settings.build_model(settings)
  chunk = settings.iterations_per_run
  with tf.Session(config=utils.session_config()) as sess:
    sess.run(tf.global_variables_initializer())
    step = 0

    def run_chunk():
      nonlocal step
      data = sampling.training_chunk(settings, step, chunk)
      sess.run(model.train_op, dict(zip(model.train_feeds, data)))
      step += chunk
      return chunk

    return repeated(lambda: window_rate(run_chunk, seconds), repeats)


def grouped_training_speed(settings: Settings, group_size: int, workers: int, repeats: int,
                           seconds: float) -> List[float]:
  """Model-iterations per second of `workers` groups of `group_size` models
  (seeds 1..group_size) training at once, data generation included."""
  members = [dataclasses.replace(settings, seed=seed) for seed in range(1, group_size + 1)]
  chunk = settings.iterations_per_run
  barrier = threading.Barrier(workers)

  def worker(_):
    with tf.Graph().as_default():
      model = training.build_group(members)
      with tf.Session(config=utils.session_config(1, 1)) as sess:
        sess.run(tf.global_variables_initializer())
        training.load_initial_theta(model, members, sess)
        step = 0

        def run_chunk():
          nonlocal step
          sess.run(model.train_op, dict(zip(model.train_feeds,
                                            training.group_chunk(members, step, chunk))))
          step += chunk
          return group_size * chunk

        def window():
          barrier.wait()     # the workers' windows overlap
          return window_rate(run_chunk, seconds)
        return repeated(window, repeats)

  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    per_worker = list(pool.map(worker, range(workers)))
  return [sum(rates) for rates in zip(*per_worker)]


def evaluation_time(settings: Settings, repeats: int) -> List[float]:
  """Seconds to evaluate 600 K-shot tasks at 0..10 steps on query and grid points."""
  model = run_settings.build_model(settings)
  with tf.Session(config=utils.session_config()) as sess:
    sess.run(tf.global_variables_initializer())

    def evaluate_once():
      start = time.perf_counter()
      tasks = sampling.evaluation_tasks(settings, settings.K, BENCHMARK_EVAL_TASKS, seed=0)
      predictions = evaluation.adapted_predictions(sess, model, tasks, settings.alpha,
                                                   ('query', 'grid'))
      for losses in evaluation.losses_of(tasks, predictions).values():
        statistics.loss_statistics(losses)
      return time.perf_counter() - start
    return repeated(evaluate_once, repeats)


def benchmark_key(method: str, group_size: int) -> str:
  return f'grouped_{method}_{group_size}_models_x{scheduler.WORKERS}_model_iterations_per_second'


def run(settings: Settings, repeats: int, seconds: float, logdir: str) -> dict:
  """`make benchmark`: times the paper setting and variants one model at a
  time, evaluation, and grouped training of the paper's MAML and the
  pretrained baseline (scheduler.WORKERS groups at once, for each of
  BENCHMARK_GROUP_SIZES); prints each and writes results_file()."""
  results = {'repeats': repeats, 'cpu_count': os.cpu_count(), 'settings': settings.to_json()}

  def record(name, values, unit_format):
    results[name], results[name + '_repeats'] = float(np.median(values)), values
    print(f'{name}: {results[name]:{unit_format}} (repeats '
          f'{", ".join(f"{v:{unit_format}}" for v in values)})', flush=True)

  with interrupts.at_once('measuring'):    # nothing is written before the end
    for name, changes in SOLO_CASES.items():
      record(name, training_speed(dataclasses.replace(settings, **changes), repeats, seconds),
             '.0f')
    record(EVAL_CASE, evaluation_time(settings, repeats), '.3f')
    for method in ('maml', 'pretrain'):
      for size in BENCHMARK_GROUP_SIZES:
        record(benchmark_key(method, size), grouped_training_speed(
            dataclasses.replace(settings, method=method), size, scheduler.WORKERS, repeats,
            seconds), '.0f')
  checkpoints.make_experiment_dir(logdir)
  with checkpoints.folder_lock(logdir, '--logdir'):    # the published results' lock
    fileio.write_json(results_file(logdir, settings, repeats, seconds), results)
  print(json.dumps({k: v for k, v in results.items() if k != 'settings'}))
  return results


def results_file(logdir: str, settings: Settings, repeats: int = PUBLISHED_REPEATS,
                 seconds: float = PUBLISHED_SECONDS) -> str:
  """<logdir>/RESULTS_FILE, the README's table, for the paper's settings and
  the published protocol; a file named by what differs otherwise
  (benchmark_K5.json, benchmark_repeats1_seconds0.05.json), so a benchmark of
  other settings or a shorter measurement never replaces the published one."""
  changes = '_'.join(filter(None, [
      run_settings.changes(settings),
      f'repeats{repeats}' if repeats != PUBLISHED_REPEATS else '',
      f'seconds{seconds:g}' if seconds != PUBLISHED_SECONDS else '']))
  return os.path.join(logdir, RESULTS_FILE if not changes else f'benchmark_{changes}.json')


# ------------------------------------------------ the records, as README text --

def published_table(results: dict, path: str) -> str:
  """benchmark_table of the published record: refused if it was measured with
  other settings than the paper's."""
  if Settings.from_json(results['settings']) != Settings():   # read as config.json is
    raise utils.CommandError(f'{path} was measured with other model settings than the '
                             "paper's; rewrite it with make benchmark (no model flags)")
  return benchmark_table(results)


def benchmark_table(results: dict) -> str:
  rows = [('meta-training, paper setting (K=10, 25 tasks, 1 step, second order)',
           'meta_iterations_per_second', '{:.0f} it/s'),
          ('meta-training, 5 inner steps', 'meta_iterations_per_second_5_steps', '{:.0f} it/s'),
          ('meta-training, first order', 'meta_iterations_per_second_first_order', '{:.0f} it/s'),
          ('meta-training, one session.run per iteration (feed_dict every step)',
           'meta_iterations_per_second_one_run_per_iteration', '{:.0f} it/s'),
          ('evaluation, 600 tasks x 11 step counts', EVAL_CASE, '{:.3f} s')]
  for method, what in (('maml', 'MAML'), ('pretrain', 'pretrained baseline')):
    for size in BENCHMARK_GROUP_SIZES:
      key = benchmark_key(method, size)
      if key in results:
        models = f'{size} model' + ('s' if size > 1 else '')
        rows.append((f'grouped meta-training, {what}: {scheduler.WORKERS} groups of {models} '
                     'at once', key, '{:.0f} model-it/s'))
  lines = [f"| what | median of {results['repeats']} repeats | repeats |", '|---|---|---|']
  lines += [f"| {label} | {value.format(results[key])} | "
            f"{', '.join(value.format(r) for r in results[key + '_repeats'])} |"
            for label, key, value in rows]
  return '\n'.join(lines)


