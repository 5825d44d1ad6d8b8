"""Runs of one experiment: settings, task data, training, evaluation, benchmark.

No flags here: every function takes the settings dict that Main.py builds from
its flags and that config.json stores, so tests and paper.py call them directly.
"""
import contextlib
import dataclasses
import json
import math
import os
import signal
import time
from typing import Dict, List

import numpy as np

import utils
tf = utils.quiet_tensorflow()
import FunGenerator  # pylint: disable=wrong-import-position
import maml  # pylint: disable=wrong-import-position
import plots  # pylint: disable=wrong-import-position

DEFAULT_RANGES = FunGenerator.TaskRanges()
GRID_POINTS = 100        # evenly spaced x for the whole-curve MSE
PLOT_STEPS = (0, 1, 10)
NUM_PLOT_TASKS = 3
WARMUP_RUNS = 2
BENCHMARK_EVAL_TASKS = 600
# Settings that change the graph or the task distribution: a checkpoint can
# only be evaluated or resumed with the same values. The meta step size beta
# and the iteration count may change on resume (a learning-rate schedule).
MODEL_KEYS = ('method', 'hidden', 'family', 'ranges')
RESUME_KEYS = MODEL_KEYS + ('first_order', 'K', 'meta_batch_size', 'alpha',
                            'num_updates', 'seed', 'iterations_per_run')


class CommandError(Exception):
  """A problem with the user's request: reported in one line, no traceback."""


# ----------------------------------------------------------------- settings --

def experiment_name(settings: dict) -> str:
  """A folder name that spells out the hyperparameters (non-default ranges too)."""
  s = settings
  parts = [s['method'] + ('_fo' if s['first_order'] else ''), s['family'],
           f"K{s['K']}", f"mb{s['meta_batch_size']}", f"a{s['alpha']:g}",
           f"b{s['beta']:g}", f"s{s['num_updates']}",
           'h' + 'x'.join(map(str, s['hidden'])), f"it{s['meta_iterations']}"]
  defaults = dataclasses.asdict(DEFAULT_RANGES)
  for key, value in sorted(s['ranges'].items()):
    if value != utils.jsonable(defaults[key]):
      parts.append(key + '-'.join(f'{v:g}' for v in np.atleast_1d(value)))
  return '_'.join(parts + [f"seed{s['seed']}"])


def task_ranges(settings: dict) -> FunGenerator.TaskRanges:
  return FunGenerator.TaskRanges(**{
      k: tuple(v) if isinstance(v, list) else v for k, v in settings['ranges'].items()})


def model_config(settings: dict) -> maml.MAMLConfig:
  family = FunGenerator.FAMILIES[settings['family']]
  extra_inputs = len(family.oracle_params) if settings['method'] == 'oracle' else 0
  return maml.MAMLConfig(
      dim_input=1 + extra_inputs, dim_hidden=tuple(settings['hidden']),
      alpha=settings['alpha'], beta=settings['beta'],
      num_updates=settings['num_updates'],
      test_num_updates=settings['test_num_updates'],
      first_order=settings['first_order'], seed=settings['seed'])


def build_model(settings: dict) -> maml.MAML:
  tf.reset_default_graph()
  objective = 'maml' if settings['method'] == 'maml' else 'joint'
  return maml.MAML(model_config(settings), objective,
                   meta_batch_size=settings['meta_batch_size'],
                   num_support=settings['K'], num_query=settings['K'])


def check_same(saved: dict, requested: dict, keys, action: str, path: str):
  for key in keys:
    if saved.get(key) != requested.get(key):
      raise CommandError(
          f'cannot {action} {path}: it was trained with {key}={saved.get(key)}, '
          f'the flags ask for {key}={requested.get(key)}')


# -------------------------------------------------------------------- data --

def with_oracle_inputs(settings, generator, x, params):
  """Appends the task parameters to x for the oracle; identity otherwise."""
  if settings['method'] != 'oracle':
    return x
  return FunGenerator.with_features(x, generator.oracle_features(params))


def training_chunk(settings: dict, ranges, start: int, size: int):
  """Meta-batches of iterations start..start+size-1, as [T, B, K, dim] arrays.

  The generator is seeded by (seed, start), so a resumed run sees exactly the
  tasks an uninterrupted run would have seen.
  """
  b, k = settings['meta_batch_size'], settings['K']
  generator = FunGenerator.TaskGenerator(settings['family'], ranges,
                                         seed=[settings['seed'], start])
  x, y, params = generator.sample(size * b, 2 * k)
  x = with_oracle_inputs(settings, generator, x, params)
  x = x.reshape(size, b, 2 * k, -1)
  y = y.reshape(size, b, 2 * k, -1)
  return x[:, :, :k], y[:, :, :k], x[:, :, k:], y[:, :, k:]


def evaluation_tasks(settings: dict, k: int, num_tasks: int, seed: int,
                     support_range: FunGenerator.Range = None):
  """Held-out tasks: K support points, K query points, a dense grid (noise-free).

  Task parameters are drawn first, so every K sees the same tasks.
  support_range: draw the support points from this part of the x range only.
  """
  ranges = task_ranges(settings)
  generator = FunGenerator.TaskGenerator(settings['family'], ranges, seed=seed)
  params = generator.sample_params(num_tasks)
  support_x = generator.sample_x(num_tasks, k, support_range)
  query_x = generator.sample_x(num_tasks, k)
  grid_x = generator.grid_x(num_tasks, GRID_POINTS)
  tasks = {'params': params}
  for name, x, noisy in (('support', support_x, True), ('query', query_x, True),
                         ('grid', grid_x, False)):
    tasks[name] = (x, generator.targets(x, params, noisy))
    tasks[name + '_inputs'] = with_oracle_inputs(settings, generator, x, params)
  return tasks


# ---------------------------------------------------------------- training --

@contextlib.contextmanager
def signals_as_flag():
  """Within the block SIGINT and SIGTERM only set `caught['signal']`, which the
  training loop checks between session runs; the old handlers come back after."""
  caught = {'signal': None}
  previous = {sig: signal.signal(sig, lambda signum, _: caught.update(signal=signum))
              for sig in (signal.SIGINT, signal.SIGTERM)}
  try:
    yield caught
  finally:
    for sig, handler in previous.items():
      signal.signal(sig, handler)


def crossed(step: int, size: int, interval: int) -> bool:
  """True if the chunk (step - size, step] passed a multiple of `interval`."""
  return step // interval > (step - size) // interval


def make_experiment_dir(path: str):
  try:
    os.makedirs(path, exist_ok=True)
    probe = os.path.join(path, '.write_test')
    with open(probe, 'w'):
      pass
    os.remove(probe)
  except OSError as e:
    raise CommandError(f'--logdir: cannot write {path} ({e.strerror})')


def has_checkpoint(path: str) -> bool:
  return os.path.isdir(path) and tf.train.latest_checkpoint(path) is not None


def load_settings(path: str) -> dict:
  config_path = os.path.join(path, 'config.json')
  if not os.path.exists(config_path) or not has_checkpoint(path):
    raise CommandError(f'--logdir/--exp_name: no trained checkpoint in {path}; '
                       'train it first (--mode=train) or point there a trained run')
  return utils.read_json(config_path)['settings']


def train(settings: dict, path: str, resume: bool = False, print_interval: int = 5000,
          save_interval: int = 10000) -> int:
  """Meta-trains (or pretrains) and checkpoints to `path`; returns the final step.

  Checkpoints hold theta, Adam's slots and the global step. A non-finite
  meta-loss stops training before anything is saved, so the last checkpoint
  stays the last good one; SIGINT/SIGTERM save and stop.
  """
  make_experiment_dir(path)
  if resume and not has_checkpoint(path):
    raise CommandError(f'--resume: no checkpoint in {path} to resume from')
  if has_checkpoint(path) and not resume:
    raise CommandError(f'{path} already holds a checkpoint: pass --resume to continue '
                       'it, or choose another --exp_name/--logdir')
  if resume:
    check_same(load_settings(path), settings, RESUME_KEYS, 'resume', path)
  model = build_model(settings)
  saver = tf.train.Saver(max_to_keep=2, save_relative_paths=True)
  ranges = task_ranges(settings)
  total, chunk = settings['meta_iterations'], settings['iterations_per_run']
  writer = tf.summary.FileWriter(path)
  with signals_as_flag() as caught, tf.Session(config=utils.session_config()) as sess:
    sess.run(tf.global_variables_initializer())
    if resume:
      saver.restore(sess, tf.train.latest_checkpoint(path))
    utils.write_json(os.path.join(path, 'config.json'), {
        'settings': settings, 'versions': {'tensorflow': tf.__version__,
                                           'numpy': np.__version__}})
    step = int(sess.run(model.global_step))
    print(f'{path}: training from iteration {step} to {total}', flush=True)
    start_time, start_step, window = time.time(), step, []

    def save():
      saver.save(sess, os.path.join(path, 'model.ckpt'), global_step=step,
                 write_meta_graph=False)

    while step < total:
      size = min(chunk, total - step)
      data = training_chunk(settings, ranges, step, size)
      pre, post, finite_prefix = sess.run(model.train_op,
                                          dict(zip(model.train_feeds, data)))
      if not math.isfinite(post):
        last = tf.train.latest_checkpoint(path) or 'none saved yet'
        raise CommandError(
            f'the meta-loss became non-finite at iteration {step + finite_prefix}; '
            f'stopped, the last good checkpoint ({last}) is kept. '
            'Try a smaller --alpha or --beta.')
      step += size
      window.append((pre, post))
      writer.add_summary(tf.Summary(value=[
          tf.Summary.Value(tag='loss/pre_update', simple_value=pre),
          tf.Summary.Value(tag='loss/post_update', simple_value=post)]), step)
      if crossed(step, size, print_interval) or step == total:
        rate = (step - start_step) / (time.time() - start_time)
        pre_mean, post_mean = np.mean(window, axis=0)
        print(f'it {step:6d}/{total}  pre-update {pre_mean:.4f}  post-update '
              f'{post_mean:.4f}  {rate:6.0f} it/s  {(total - step) / rate:5.0f} s left',
              flush=True)
        window = []
      if crossed(step, size, save_interval) or step == total or caught['signal']:
        save()
      if caught['signal']:
        writer.close()
        raise CommandError(f"{signal.Signals(caught['signal']).name} at iteration {step}: "
                           'checkpoint saved; continue with the same flags and --resume')
  writer.close()
  return step


def train_if_needed(settings: dict, path: str, print_interval: int, save_interval: int):
  """Trains unless `path` already holds a checkpoint; the seconds taken, or None if skipped."""
  if has_checkpoint(path):
    print(f'{path}: already trained, skipped')
    return None
  start = time.time()
  train(settings, path, print_interval=print_interval, save_interval=save_interval)
  return time.time() - start


# -------------------------------------------------------------- evaluation --

@contextlib.contextmanager
def restored(settings: dict, path: str):
  """(session, model) with theta restored from the latest checkpoint in `path`."""
  with test_session(settings) as (sess, model, restore):
    restore(path)
    yield sess, model


@contextlib.contextmanager
def test_session(settings: dict):
  """(session, model, restore): restore(path) loads theta from the latest
  checkpoint in `path`, so one graph evaluates every checkpoint of the same
  network shape (building the unrolled test graph costs more than a restore)."""
  model = build_model(settings)
  saver = tf.train.Saver(var_list=list(model.theta.values()))
  with tf.Session(config=utils.session_config()) as sess:
    yield sess, model, lambda path: saver.restore(sess, tf.train.latest_checkpoint(path))


def adapted_predictions(sess, model, tasks, alpha, names, steps=None):
  """f after 0..S steps (or only `steps`) on the support set, at the inputs of
  each set in `names`.

  Returns {name: [S + 1 (or len(steps)), B, N, 1]}.
  """
  sizes = [tasks[n + '_inputs'].shape[1] for n in names]
  feed = {model.test_feeds[0]: tasks['support_inputs'],
          model.test_feeds[1]: tasks['support'][1],
          model.test_feeds[2]: np.concatenate([tasks[n + '_inputs'] for n in names], 1),
          model.test_alpha: alpha}
  if steps is None:
    predictions = sess.run(model.test_predictions, feed)
  else:
    predictions = np.stack(sess.run([model.test_step_predictions[s] for s in steps], feed))
  return dict(zip(names, np.split(predictions, np.cumsum(sizes)[:-1], axis=2)))


def losses_of(tasks, predictions) -> Dict[str, np.ndarray]:
  """Per-task MSE of every set, {name: [S + 1, B]}."""
  return {n: np.mean((p - tasks[n][1][None]) ** 2, axis=(2, 3))
          for n, p in predictions.items()}


def task_losses(settings: dict, path: str, tasks, alphas) -> Dict[float, Dict[str, np.ndarray]]:
  """Query and grid losses [S + 1, B] after adapting with each step size alpha."""
  with restored(settings, path) as (sess, model):
    return {alpha: losses_of(tasks, adapted_predictions(sess, model, tasks, alpha,
                                                         ('query', 'grid')))
            for alpha in alphas}


def evaluate(settings: dict, path: str, k: int, num_tasks: int, seed: int, alpha: float):
  """Writes eval_K<k>.json/.csv (per-step statistics) and eval_K<k>_tasks.csv."""
  tasks = evaluation_tasks(settings, k, num_tasks, seed)
  losses = task_losses(settings, path, tasks, [alpha])[alpha]
  stats = {n: utils.loss_statistics(l) for n, l in losses.items()}
  stem = os.path.join(path, f'eval_K{k}')
  utils.write_json(stem + '.json', {
      'settings': settings, 'K': k, 'num_tasks': num_tasks, 'eval_seed': seed,
      'alpha': alpha, 'query': stats['query'], 'grid': stats['grid']})
  fields = ('mean', 'std', 'ci95', 'median', 'n_worse', 'n_nonfinite')
  utils.write_csv(stem + '.csv', ('set', 'step') + fields, [
      (n, row['step']) + tuple(row[f] for f in fields)
      for n in stats for row in stats[n]])
  steps = range(losses['query'].shape[0])
  utils.write_csv(
      stem + '_tasks.csv',
      ['task'] + sorted(tasks['params']) + [f'{n}_step{s}' for n in losses for s in steps],
      [[b] + [tasks['params'][p][b] for p in sorted(tasks['params'])]
       + [l[s, b] for l in losses.values() for s in steps] for b in range(num_tasks)])
  return stats


def print_summary(stats, k, steps=(0, 1, 10)):
  """Mean, CI and median of each set after a few step counts, one line per set."""
  for name, rows in stats.items():
    cells = '  '.join(f"{s} steps {rows[s]['mean']:.3f} +- {rows[s]['ci95']:.3f} "
                      f"(median {rows[s]['median']:.3f})" for s in steps if s < len(rows))
    print(f'K={k} {name:5s} MSE: {cells}')


def grid_predictions(settings: dict, path: str, tasks, alpha: float) -> np.ndarray:
  """Predictions on the dense grid after 0..S steps, [S + 1, B, GRID_POINTS]."""
  with restored(settings, path) as (sess, model):
    return plots.as_2d(adapted_predictions(sess, model, tasks, alpha, ('grid',))['grid'])


def plot(settings: dict, path: str, k: int, seed: int, alpha: float, figure: str):
  """Draws a few held-out tasks before and after 1 and 10 steps."""
  tasks = evaluation_tasks(settings, k, NUM_PLOT_TASKS, seed)
  predictions = grid_predictions(settings, path, tasks, alpha)
  panels = [plots.Panel(tasks, b, predictions[:, b], f"{settings['method']}, K={k}")
            for b in range(NUM_PLOT_TASKS)]
  plots.adaptation_figure(figure, [panels], PLOT_STEPS)
  print(f'wrote {figure}')


# --------------------------------------------------------------- benchmark --

def training_speed(settings: dict, repeats: int, seconds: float) -> List[float]:
  """Meta-iterations per second of the training loop, data generation included."""
  model = build_model(settings)
  ranges = task_ranges(settings)
  chunk = settings['iterations_per_run']
  rates = []
  with tf.Session(config=utils.session_config()) as sess:
    sess.run(tf.global_variables_initializer())
    step = 0

    def run_chunk():
      nonlocal step
      data = training_chunk(settings, ranges, step, chunk)
      sess.run(model.train_op, dict(zip(model.train_feeds, data)))
      step += chunk

    for _ in range(WARMUP_RUNS):
      run_chunk()
    for _ in range(repeats):
      start, start_step = time.perf_counter(), step
      while time.perf_counter() - start < seconds:
        run_chunk()
      rates.append((step - start_step) / (time.perf_counter() - start))
  return rates


def evaluation_time(settings: dict, repeats: int) -> List[float]:
  """Seconds to evaluate 600 K-shot tasks at 0..10 steps on query and grid points."""
  model = build_model(settings)
  times = []
  with tf.Session(config=utils.session_config()) as sess:
    sess.run(tf.global_variables_initializer())
    for _ in range(WARMUP_RUNS + repeats):
      start = time.perf_counter()
      tasks = evaluation_tasks(settings, settings['K'], BENCHMARK_EVAL_TASKS, seed=0)
      predictions = adapted_predictions(sess, model, tasks, settings['alpha'],
                                        ('query', 'grid'))
      for losses in losses_of(tasks, predictions).values():
        utils.loss_statistics(losses)
      times.append(time.perf_counter() - start)
  return times[WARMUP_RUNS:]


def benchmark(settings: dict, path: str, repeats: int, seconds: float):
  """Times the paper setting and variants; prints and saves one JSON object."""
  cases = {
      'meta_iterations_per_second': {},
      'meta_iterations_per_second_5_steps': {'num_updates': 5},
      'meta_iterations_per_second_first_order': {'first_order': True},
      'meta_iterations_per_second_one_run_per_iteration': {'iterations_per_run': 1},
  }
  results = {'repeats': repeats, 'cpu_count': os.cpu_count(),
             'settings': settings}
  for name, changes in cases.items():
    rates = training_speed({**settings, **changes}, repeats, seconds)
    results[name], results[name + '_repeats'] = float(np.median(rates)), rates
    print(f'{name}: {results[name]:.0f} (repeats {", ".join(f"{r:.0f}" for r in rates)})',
          flush=True)
  times = evaluation_time(settings, repeats)
  name = 'eval_seconds_600_tasks'
  results[name], results[name + '_repeats'] = float(np.median(times)), times
  print(f'{name}: {results[name]:.3f} (repeats {", ".join(f"{t:.3f}" for t in times)})')
  make_experiment_dir(os.path.dirname(path))
  utils.write_json(path, results)
  print(json.dumps({k: v for k, v in results.items() if k != 'settings'}))


