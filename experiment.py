"""Runs of one experiment: settings, task data, training, evaluation, benchmark.

No flags here: every function takes the `Settings` that Main.py builds from its
flags and that config.json stores, so tests, paper.py and the study call them
directly.
"""
import contextlib
import dataclasses
import fcntl
import functools
import glob
import hashlib
import json
import math
import os
import signal
import subprocess
import time
from typing import Dict, List, Tuple

import numpy as np

import utils
tf = utils.quiet_tensorflow()
import FunGenerator  # pylint: disable=wrong-import-position
import maml  # pylint: disable=wrong-import-position
import plots  # pylint: disable=wrong-import-position

GRID_POINTS = 100        # evenly spaced x for the whole-curve MSE
EVAL_BATCH = 10000       # at most this many tasks per session.run, so any
EVAL_BATCH_BYTES = 2 ** 28   # --num_eval_tasks fits in memory: also <= this many bytes of fast weights
FLOAT_BYTES = 8          # numpy task arrays are float64
TF_FLOAT_BYTES = 4       # the graph is float32
PLOT_STEPS = (0, 1, 10)
NUM_PLOT_TASKS = 3
WARMUP_RUNS = 2
BENCHMARK_EVAL_TASKS = 600
CHECKPOINTS_KEPT = 2
LONG_GRAPH_STEPS = 50    # unrolled inner steps beyond which building the graph is slow
# Test-time step sizes tried on validation tasks (0 = no fine-tuning, which a
# baseline told the task, like the oracle, may prefer).
STEP_SIZES = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
VALIDATION_SEED = 999    # validation tasks: a stream disjoint from every eval seed
ROOT = os.path.dirname(os.path.abspath(__file__))


class CommandError(Exception):
  """A problem with the user's request or its files: reported in one line, no
  traceback, with `exit_code` (128 + the signal number for an interrupt)."""

  def __init__(self, message: str, exit_code: int = 1):
    super().__init__(message)
    self.exit_code = exit_code


# ----------------------------------------------------------------- settings --

@dataclasses.dataclass(frozen=True)
class Settings:
  """Every setting of one run; the defaults are the paper's (sec. 5.1, app. B).

  config.json and every result file store `to_json()`; nothing else turns
  settings into JSON.
  """
  method: str = 'maml'             # maml, pretrain or oracle
  first_order: bool = False
  K: int = 10                      # points in the support set a and in the query set b
  meta_batch_size: int = 25
  meta_iterations: int = 70000
  alpha: float = 0.01              # inner step size
  beta: float = 0.001              # meta step size (Adam)
  num_updates: int = 1             # inner steps at meta-training
  test_num_updates: int = 10       # inner steps at meta-test
  hidden: Tuple[int, ...] = (40, 40)
  family: str = 'sinusoid'
  ranges: FunGenerator.TaskRanges = FunGenerator.TaskRanges()
  seed: int = 1
  iterations_per_run: int = 100    # meta-iterations per session.run

  def to_json(self) -> dict:
    return utils.jsonable(dataclasses.asdict(self))

  @classmethod
  def from_json(cls, data: dict) -> 'Settings':
    ranges = FunGenerator.TaskRanges(**{
        k: tuple(v) if isinstance(v, list) else v for k, v in data['ranges'].items()})
    return cls(**{**data, 'hidden': tuple(data['hidden']), 'ranges': ranges})


DEFAULT_RANGES = FunGenerator.TaskRanges()
# Settings that change the graph or the task distribution: a checkpoint can
# only be evaluated or resumed with the same values. The meta step size beta
# and the iteration count may change on resume (a learning-rate schedule).
MODEL_KEYS = ('method', 'hidden', 'family', 'ranges')
RESUME_KEYS = MODEL_KEYS + ('first_order', 'K', 'meta_batch_size', 'alpha',
                            'num_updates', 'seed', 'iterations_per_run')


def experiment_name(settings: Settings) -> str:
  """A folder name that spells out the hyperparameters (non-default ranges too)."""
  s = settings
  parts = [s.method + ('_fo' if s.first_order else ''), s.family, f'K{s.K}',
           f'mb{s.meta_batch_size}', f'a{s.alpha:g}', f'b{s.beta:g}', f's{s.num_updates}',
           'h' + 'x'.join(map(str, s.hidden)), f'it{s.meta_iterations}']
  for field in dataclasses.fields(FunGenerator.TaskRanges):
    value = getattr(s.ranges, field.name)
    if value != getattr(DEFAULT_RANGES, field.name):
      parts.append(field.name + '-'.join(f'{v:g}' for v in np.atleast_1d(value)))
  return '_'.join(parts + [f'seed{s.seed}'])


def model_config(settings: Settings) -> maml.MAMLConfig:
  family = FunGenerator.FAMILIES[settings.family]
  extra_inputs = len(family.oracle_params) if settings.method == 'oracle' else 0
  return maml.MAMLConfig(
      dim_input=1 + extra_inputs, dim_hidden=settings.hidden, alpha=settings.alpha,
      beta=settings.beta, num_updates=settings.num_updates,
      test_num_updates=settings.test_num_updates, first_order=settings.first_order,
      seed=settings.seed)


def objective_of(settings: Settings) -> str:
  """The training objective (maml.training_objective) of a method."""
  return 'maml' if settings.method == 'maml' else 'joint'


def build_model(settings: Settings) -> maml.MAML:
  """maml.MAML for these settings in a fresh default graph."""
  tf.reset_default_graph()
  return new_model(settings)


def new_model(settings: Settings) -> maml.MAML:
  """maml.MAML for these settings in the current default graph."""
  steps = max(settings.num_updates, settings.test_num_updates)
  if steps > LONG_GRAPH_STEPS:
    print(f'building the graph: {steps} unrolled inner steps take a while '
          '(about a second per 10 steps)', flush=True)
  return maml.MAML(model_config(settings), objective_of(settings),
                   meta_batch_size=settings.meta_batch_size,
                   num_support=settings.K, num_query=settings.K)


def check_same(saved: Settings, requested: Settings, keys, action: str, path: str):
  for key in keys:
    if getattr(saved, key) != getattr(requested, key):
      raise CommandError(
          f'cannot {action} {path}: it was trained with {key}={getattr(saved, key)}, '
          f'the flags ask for {key}={getattr(requested, key)}')


# -------------------------------------------------------------------- data --

def training_chunk(settings: Settings, start: int, size: int):
  """Meta-batches of iterations start..start+size-1, as [T, B, K, dim] arrays.

  The generator is seeded by (seed, start), so a resumed run sees exactly the
  tasks an uninterrupted run would have seen.
  """
  b, k = settings.meta_batch_size, settings.K
  generator = FunGenerator.TaskGenerator(settings.family, settings.ranges,
                                         seed=[settings.seed, start])
  x, y, params = generator.sample(size * b, 2 * k)
  if settings.method == 'oracle':
    x = FunGenerator.with_features(x, generator.oracle_features(params))
  x = x.reshape(size, b, 2 * k, -1)
  y = y.reshape(size, b, 2 * k, -1)
  return x[:, :, :k], y[:, :, :k], x[:, :, k:], y[:, :, k:]


def held_out_tasks(family: str, ranges: FunGenerator.TaskRanges, num_tasks: int, seed: int,
                   sampled: Dict[str, Tuple[int, FunGenerator.Range]],
                   grids: Dict[str, FunGenerator.Range]) -> dict:
  """The one sampler of held-out tasks, for evaluation, validation and the study.

  Task parameters are drawn first, so every K sees the same tasks; then, per
  set of `sampled` ({name: (points per task, x range or None for the whole
  range)}), x ~ U[range] and y = f(x) + noise; then the noise-free dense grids
  ({name: x range or None}).

  Returns {'params': {name: [B]}, name: (x, y) for every set, [B, N, 1]}.
  """
  generator = FunGenerator.TaskGenerator(family, ranges, seed=seed)
  tasks = {'params': generator.sample_params(num_tasks)}
  for name, (num_points, x_range) in sampled.items():
    x = generator.sample_x(num_tasks, num_points, x_range)
    tasks[name] = (x, generator.targets(x, tasks['params']))
  for name, x_range in grids.items():
    x = generator.grid_x(num_tasks, GRID_POINTS, x_range)
    tasks[name] = (x, generator.targets(x, tasks['params'], noisy=False))
  return tasks


def network_inputs(settings: Settings, family: str, x: np.ndarray, params) -> np.ndarray:
  """The network's inputs at x: x itself, or x and the task parameters for the oracle."""
  if settings.method != 'oracle':
    return x
  features = FunGenerator.TaskGenerator(family).oracle_features(params)
  return FunGenerator.with_features(x, features)


def evaluation_tasks(settings: Settings, k: int, num_tasks: int, seed: int,
                     support_range: FunGenerator.Range = None) -> dict:
  """Held-out tasks of the model's distribution: K support points (from
  `support_range` if given), K query points, a noise-free grid; each set also
  as the network's inputs (`<set>_inputs`)."""
  tasks = held_out_tasks(settings.family, settings.ranges, num_tasks, seed,
                         {'support': (k, support_range), 'query': (k, None)}, {'grid': None})
  for name in ('support', 'query', 'grid'):
    tasks[name + '_inputs'] = network_inputs(settings, settings.family, tasks[name][0],
                                             tasks['params'])
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


@contextlib.contextmanager
def folder_lock(path: str, instead: str = '--exp_name/--logdir'):
  """One run at a time per experiment folder: an exclusive flock on <path>/.lock,
  which the OS releases when the process ends, however it ends. `instead`: the
  flags that choose another folder."""
  with open(os.path.join(path, '.lock'), 'a+') as lock:
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      lock.seek(0)
      raise CommandError(f'{path} is in use by another run (pid {lock.read().strip() or "?"}); '
                         f'wait for it to end or choose another {instead}')
    lock.truncate(0)
    lock.write(str(os.getpid()))
    lock.flush()
    yield


def first_line(error: Exception) -> str:
  """TF errors carry pages of context; the first line says what went wrong."""
  text = getattr(error, 'message', None) or str(error)
  return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def unreadable_checkpoint(checkpoint: str, error: Exception) -> CommandError:
  return CommandError(
      f'{checkpoint} cannot be read ({type(error).__name__}: {first_line(error)}); restore its '
      'files (e.g. git checkout) or retrain into another folder')


def restore_checkpoint(saver, sess, path: str):
  """Restores the latest checkpoint in `path`, or one line on what is broken."""
  checkpoint = tf.train.latest_checkpoint(path)
  try:
    saver.restore(sess, checkpoint)
  except (tf.errors.OpError, ValueError) as e:
    raise unreadable_checkpoint(checkpoint, e)


def remove_partial_files(path: str):
  """Temporary files a killed or failed save leaves behind (TF's .tempstate
  shards and checkpoint.tmp<id>, this code's .tmp<pid> files); called with
  the folder locked, so no other writer owns them."""
  for pattern in ('*.tempstate*', '*.tmp*'):
    for leftover in glob.glob(os.path.join(path, pattern)):
      with contextlib.suppress(OSError):
        os.remove(leftover)


def has_checkpoint(path: str) -> bool:
  return os.path.isdir(path) and tf.train.latest_checkpoint(path) is not None


def checkpoint_step(path: str) -> int:
  return int(tf.train.latest_checkpoint(path).rsplit('-', 1)[1])


def read_config(path: str) -> Tuple[Settings, List[dict]]:
  """(settings, history) of the trained run in `path`.

  history: one segment per training session, {'start', 'end', 'beta'}, where
  `end` is the last iteration saved with that meta step size.
  """
  config_path = config_file(path)
  if not os.path.exists(config_path) or not has_checkpoint(path):
    raise CommandError(f'--logdir/--exp_name: no trained checkpoint in {path}; '
                       'train it first (--mode=train) or point there a trained run')
  try:
    config = utils.read_json(config_path)
    settings = Settings.from_json(config['settings'])
  except (ValueError, KeyError, TypeError) as e:
    raise CommandError(f'{config_path} is unreadable ({type(e).__name__}: {e}); '
                       'restore it (e.g. git checkout) or retrain into another folder')
  history = config.get('history') or [{'start': 0, 'end': checkpoint_step(path),
                                       'beta': settings.beta}]
  return settings, history


def pending_config(path: str, step: int) -> str:
  """The config written just before the checkpoint of `step`; it becomes config.json
  once that checkpoint is saved, so config.json never describes an unsaved step."""
  return os.path.join(path, f'config.json.step{step}')


def config_file(path: str) -> str:
  """The config that describes the latest checkpoint: config.json, or the pending
  one of that step if the process stopped between the save and the rename."""
  if has_checkpoint(path) and os.path.exists(pending_config(path, checkpoint_step(path))):
    return pending_config(path, checkpoint_step(path))
  return os.path.join(path, 'config.json')


def settle_config(path: str):
  """With the folder locked: make a pending config that matches the latest
  checkpoint config.json, and drop pending configs of steps never saved."""
  current = config_file(path)
  for pending in glob.glob(os.path.join(path, 'config.json.step*')):
    if pending == current:
      os.replace(pending, os.path.join(path, 'config.json'))
    else:
      os.remove(pending)


def load_settings(path: str) -> Settings:
  return read_config(path)[0]


def write_config(config_path: str, settings: Settings, history: List[dict]):
  utils.write_json(config_path, {
      'settings': settings.to_json(), 'history': history,
      'versions': {'tensorflow': tf.__version__, 'numpy': np.__version__}})


def find_run(logdir: str, settings: Settings) -> str:
  """The run in `logdir` that a resume with these settings continues: the one
  trained with the same RESUME_KEYS, whatever its beta and iteration count."""
  matches = []
  for config_path in sorted(glob.glob(os.path.join(logdir, '*', 'config.json'))):
    path = os.path.dirname(config_path)
    try:
      saved = load_settings(path)
    except CommandError:
      continue
    if all(getattr(saved, key) == getattr(settings, key) for key in RESUME_KEYS):
      matches.append(path)
  if not matches:
    raise CommandError(f'--resume: no run in {logdir} was trained with these settings; '
                       'name the folder with --exp_name')
  if len(matches) > 1:
    raise CommandError(f'--resume: {len(matches)} runs in {logdir} match these settings '
                       f'({", ".join(os.path.basename(m) for m in matches)}); '
                       'choose one with --exp_name')
  return matches[0]


def train(settings: Settings, path: str, resume: bool = False, print_interval: int = 5000,
          save_interval: int = 10000) -> int:
  """Meta-trains (or pretrains) and checkpoints to `path`; returns the final step.

  Checkpoints hold theta, Adam's slots and the global step; config.json is
  rewritten after each checkpoint, so it never describes a step that was not
  saved. A non-finite meta-loss stops training before anything is saved, so
  the last checkpoint stays the last good one; SIGINT/SIGTERM save and stop.
  """
  if resume:
    read_config(path)   # refuses before anything is created
  make_experiment_dir(path)
  with folder_lock(path):
    history = checked_history(settings, path, resume)
    return run_training(settings, path, resume, history, print_interval, save_interval)


def checked_history(settings: Settings, path: str, resume: bool) -> List[dict]:
  """With `path` locked: clears a failed save's leftovers, refuses a request the
  folder cannot satisfy, and returns the training history so far ([] if new)."""
  remove_partial_files(path)
  settle_config(path)
  if not resume:
    if has_checkpoint(path):
      raise CommandError(f'{path} already holds a checkpoint: pass --resume to continue '
                         'it, or choose another --exp_name/--logdir')
    return []
  saved, history = read_config(path)
  check_same(saved, settings, RESUME_KEYS, 'resume', path)
  if settings.meta_iterations <= checkpoint_step(path):
    raise CommandError(
        f'--meta_iterations={settings.meta_iterations}: {path} is already at iteration '
        f'{checkpoint_step(path)}; a resume must ask for more iterations')
  return history


def save_checkpoint(saver, sess, path: str, settings: Settings, history: List[dict],
                    step: int, theta: Dict[str, np.ndarray]):
  """Saves what `saver` holds in `sess` as <path>/model.ckpt-<step> with its
  config, after checking theta (the values being saved) is finite."""
  # The loss of a chunk's last iteration is computed before its update, so a
  # finite loss does not prove finite weights: check what would be saved.
  if not all(np.all(np.isfinite(v)) for v in theta.values()):
    raise CommandError(
        f'{path}: theta became non-finite by iteration {step}; stopped without saving, the '
        f'last good checkpoint ({tf.train.latest_checkpoint(path) or "none saved yet"}) is '
        'kept. Try a smaller --beta or --alpha.')
  try:
    history[-1]['end'] = step
    write_config(pending_config(path, step), settings, history)
    saver.save(sess, os.path.join(path, 'model.ckpt'), global_step=step, write_meta_graph=False)
    os.replace(pending_config(path, step), os.path.join(path, 'config.json'))
  except (tf.errors.OpError, OSError) as e:
    remove_partial_files(path)
    settle_config(path)
    raise CommandError(
        f'cannot save a checkpoint in {path} at iteration {step} ({first_line(e)}); '
        f'the last good checkpoint ({tf.train.latest_checkpoint(path) or "none yet"}) is '
        'kept; free some space or make the folder writable, then continue with --resume')


def non_finite_error(path: str, iteration: int) -> CommandError:
  last = tf.train.latest_checkpoint(path) or 'none saved yet'
  return CommandError(f'{path}: the meta-loss became non-finite at iteration {iteration}; '
                      f'stopped, the last good checkpoint ({last}) is kept. '
                      'Try a smaller --alpha or --beta.')


def interrupted_error(signum: int, step: int) -> CommandError:
  return CommandError(f'{signal.Signals(signum).name} at iteration {step}: checkpoint saved; '
                      'continue with the same flags and --resume', 128 + signum)


class Progress:
  """Per-chunk loss summaries for TensorBoard (and the dashboard) in each
  model's folder, and a console line every `print_interval` iterations."""

  def __init__(self, label: str, paths: List[str], total: int, step: int,
               print_interval: int):
    self.label, self.total, self.print_interval = label, total, print_interval
    self.writers = [tf.summary.FileWriter(path) for path in paths]
    self.start_time, self.start_step, self.window = time.time(), step, []

  def record(self, step: int, size: int, pre, post):
    """pre, post: the chunk's mean losses, one per model."""
    for writer, pre_m, post_m in zip(self.writers, np.atleast_1d(pre), np.atleast_1d(post)):
      writer.add_summary(tf.Summary(value=[
          tf.Summary.Value(tag='loss/pre_update', simple_value=pre_m),
          tf.Summary.Value(tag='loss/post_update', simple_value=post_m)]), step)
    self.window.append((np.mean(pre), np.mean(post)))
    if crossed(step, size, self.print_interval) or step == self.total:
      rate = (step - self.start_step) / (time.time() - self.start_time)
      pre_mean, post_mean = np.mean(self.window, axis=0)
      utils.say(f'{self.label}it {step:6d}/{self.total}  pre-update {pre_mean:.4f}  '
                f'post-update {post_mean:.4f}  {rate:6.0f} it/s  '
                f'{(self.total - step) / rate:5.0f} s left')
      self.window = []

  def close(self):
    for writer in self.writers:
      writer.close()


def run_training(settings: Settings, path: str, resume: bool, history: List[dict],
                 print_interval: int, save_interval: int) -> int:
  """The training loop of `train`, once the folder is locked and the request checked."""
  model = build_model(settings)
  saver = tf.train.Saver(max_to_keep=CHECKPOINTS_KEPT, save_relative_paths=True)
  total, chunk = settings.meta_iterations, settings.iterations_per_run
  with signals_as_flag() as caught, tf.Session(config=utils.session_config()) as sess:
    sess.run(tf.global_variables_initializer())
    if resume:
      restore_checkpoint(saver, sess, path)
      # Earlier sessions' checkpoints count towards max_to_keep too.
      saver.recover_last_checkpoints(
          tf.train.get_checkpoint_state(path).all_model_checkpoint_paths)
    step = int(sess.run(model.global_step))
    history = history + [{'start': step, 'end': step, 'beta': settings.beta}]
    print(f'{path}: training from iteration {step} to {total}', flush=True)
    progress = Progress('', [path], total, step, print_interval)
    while step < total:
      size = min(chunk, total - step)
      data = training_chunk(settings, step, size)
      pre, post, finite_prefix = sess.run(model.train_op,
                                          dict(zip(model.train_feeds, data)))
      if not math.isfinite(post):
        raise non_finite_error(path, step + finite_prefix)
      step += size
      progress.record(step, size, pre, post)
      if crossed(step, size, save_interval) or step == total or caught['signal']:
        save_checkpoint(saver, sess, path, settings, history, step, sess.run(model.theta))
      if caught['signal']:
        progress.close()
        raise interrupted_error(caught['signal'], step)
  progress.close()
  return step


# -------------------------------------------------------------- evaluation --

@contextlib.contextmanager
def restored(settings: Settings, path: str, graphs: 'TestGraphs' = None):
  """(session, model) with theta restored from the latest checkpoint in `path`,
  in a graph of `graphs` (a worker's, kept for the next checkpoint) or in a
  graph of its own."""
  if graphs is not None:
    yield graphs.restored(settings, path)
    return
  with test_session(settings) as (sess, model, restore):
    restore(path)
    yield sess, model


@contextlib.contextmanager
def test_session(settings: Settings):
  """(session, model, restore): restore(path) loads theta from the latest
  checkpoint in `path`, so one graph evaluates every checkpoint of the same
  network shape (building the unrolled test graph costs more than a restore).
  The graph is this thread's own, so threads evaluate in parallel
  (utils.thread_map)."""
  with tf.Graph().as_default():
    model = new_model(settings)
    saver = tf.train.Saver(var_list=list(model.theta.values()))
    with tf.Session(config=utils.session_config()) as sess:
      yield sess, model, lambda path: restore_checkpoint(saver, sess, path)


class TestGraphs:
  """One worker thread's test graphs, one per network shape and number of test
  steps: a checkpoint is restored into the graph it fits (milliseconds) instead
  of building one (about a second). Use as utils.thread_map's per_worker."""

  def __enter__(self) -> 'TestGraphs':
    self._stack, self._graphs, self._holds = contextlib.ExitStack(), {}, {}
    return self

  def __exit__(self, *error):
    return self._stack.__exit__(*error)

  def restored(self, settings: Settings, path: str):
    """(session, model) with theta from the latest checkpoint in `path` (not
    read again if the graph holds it already); test alpha is fed at each run,
    so the graph's own settings do not matter."""
    key = (tuple(maml.layer_sizes(model_config(settings))), settings.test_num_updates)
    if key not in self._graphs:
      self._graphs[key] = self._stack.enter_context(test_session(settings))
    sess, model, restore = self._graphs[key]
    if self._holds.get(key) != path:
      restore(path)
      self._holds[key] = path
    return sess, model


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


def choose_step_size(errors: Dict[float, np.ndarray]) -> float:
  """The one rule for a test-time step size chosen on validation tasks, used by
  the paper's baselines and by the study.

  Args:
    errors: {alpha: per-task validation error [B] after the evaluation's last
      step}, for each alpha in STEP_SIZES. Each part passes the error it
      reports (the paper: query MSE; the study: normalised MSE), so a baseline
      is tuned for the number it is judged by.
  Returns:
    the alpha that leaves the fewest tasks non-finite, then has the lowest
    mean error over the others.
  """
  def rank(alpha):
    finite = errors[alpha][np.isfinite(errors[alpha])]
    return errors[alpha].size - finite.size, np.mean(finite) if finite.size else math.inf
  return min(errors, key=rank)


def checkpoint_source(path: str) -> dict:
  """What a result was computed from: the checkpoint, its step and a digest of its data."""
  checkpoint = tf.train.latest_checkpoint(path)
  digest = hashlib.sha256()
  for data in sorted(glob.glob(checkpoint + '.data-*')):
    with open(data, 'rb') as f:
      digest.update(f.read())
  return {'checkpoint': checkpoint, 'step': int(checkpoint.rsplit('-', 1)[1]),
          'sha256': digest.hexdigest()[:16]}


@functools.lru_cache(maxsize=1)   # one record per process, even if files change meanwhile
def code_version() -> dict:
  """A digest of the project's Python sources and, if they are as committed,
  the last commit that changed them (so results regenerated at a later commit
  with the same code keep the same record)."""
  files = sorted(os.path.relpath(f, ROOT) for f in glob.glob(os.path.join(ROOT, '*.py'))
                 + glob.glob(os.path.join(ROOT, 'study', '*.py')))
  digest = hashlib.sha256()
  for name in files:
    with open(os.path.join(ROOT, name), 'rb') as f:
      digest.update(name.encode() + b'\0' + f.read())
  commit = None
  try:
    git = lambda *args: subprocess.run(['git', *args, '--', *files], cwd=ROOT,
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                       universal_newlines=True, check=True).stdout.strip()
    if not git('status', '--porcelain'):
      commit = git('log', '-1', '--format=%H') or None
  except (OSError, subprocess.CalledProcessError):
    pass    # not a git checkout: the digest alone names the code
  return {'sources_sha256': digest.hexdigest()[:16], 'git_commit': commit}


def warn_if_mixed(results: List[dict]):
  """Says so when the result files behind one report come from different code
  versions, evaluation seeds or task counts."""
  kinds = {(json.dumps(r.get('code'), sort_keys=True), r.get('eval_seed'), r.get('num_tasks'))
           for r in results}
  if len(kinds) > 1:
    print(f'warning: these results come from {len(kinds)} different (code version, eval seed, '
          'number of tasks) combinations; rerun --mode=report to make them one', flush=True)


def task_slice(tasks: dict, start: int, stop: int) -> dict:
  """Tasks start..stop-1 of a task dict (parameters, every set and its inputs)."""
  return {name: ({p: v[start:stop] for p, v in value.items()} if name == 'params'
                 else tuple(a[start:stop] for a in value) if isinstance(value, tuple)
                 else value[start:stop])
          for name, value in tasks.items()}


def num_parameters(settings: Settings) -> int:
  sizes = maml.layer_sizes(model_config(settings))
  return sum(fan_in * fan_out + fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))


def eval_batch_size(settings: Settings) -> int:
  """Tasks per session.run at test time: every task holds its own fast weights."""
  per_task = 3 * num_parameters(settings) * TF_FLOAT_BYTES
  return max(1, min(EVAL_BATCH, EVAL_BATCH_BYTES // per_task))


def batched_losses(sess, model, settings: Settings, tasks: dict, alpha: float,
                   names) -> Dict[str, np.ndarray]:
  """losses_of(adapted_predictions(...)) a batch of tasks at a time, {name: [S + 1, B]}."""
  num_tasks = len(next(iter(tasks['params'].values())))
  size, parts = eval_batch_size(settings), []
  for start in range(0, num_tasks, size):
    batch = task_slice(tasks, start, start + size)
    parts.append(losses_of(batch, adapted_predictions(sess, model, batch, alpha, names)))
    if num_tasks > size:
      print(f'evaluated {min(start + size, num_tasks)} of {num_tasks} tasks', flush=True)
  return {name: np.concatenate([p[name] for p in parts], axis=1) for name in names}


def evaluation_bytes(settings: Settings, k: int, num_tasks: int) -> int:
  """About the memory an evaluation of num_tasks tasks at K=k needs: the task
  arrays (x, y and inputs of support, query and grid), per-task losses, and
  one batch of fast weights and predictions."""
  points = 2 * k + GRID_POINTS
  steps = settings.test_num_updates + 1
  tasks = num_tasks * points * 3 * FLOAT_BYTES
  losses = num_tasks * 2 * steps * FLOAT_BYTES
  batch = eval_batch_size(settings) * (points * steps * 4 + 3 * num_parameters(settings))
  return tasks + losses + batch * TF_FLOAT_BYTES


def training_bytes(settings: Settings) -> int:
  """About the memory meta-training needs: one chunk of task data, theta with
  Adam's slots and gradients, every task's fast weights and the activations of
  each unrolled inner step."""
  points = settings.meta_batch_size * 2 * settings.K
  dim = model_config(settings).dim_input + 1
  data = settings.iterations_per_run * points * dim * FLOAT_BYTES * 3
  weights = num_parameters(settings) * (4 + 2 * settings.meta_batch_size
                                        * (settings.num_updates + 1))
  activations = points * sum(settings.hidden) * 6 * (settings.num_updates + 1)
  return data + (weights + activations) * TF_FLOAT_BYTES


def evaluate(settings: Settings, path: str, k: int, num_tasks: int, seed: int, alpha: float,
             graphs: TestGraphs = None):
  """Writes eval_K<k>.json/.csv (per-step statistics) and eval_K<k>_tasks.csv."""
  tasks = evaluation_tasks(settings, k, num_tasks, seed)
  with folder_lock(path), restored(settings, path, graphs) as (sess, model):
    losses = batched_losses(sess, model, settings, tasks, alpha, ('query', 'grid'))
    stats = {n: utils.loss_statistics(l) for n, l in losses.items()}
    stem = os.path.join(path, f'eval_K{k}')
    utils.write_json(stem + '.json', {
        'settings': settings.to_json(), 'K': k, 'num_tasks': num_tasks, 'eval_seed': seed,
        'alpha': alpha, 'query': stats['query'], 'grid': stats['grid'],
        'sources': [checkpoint_source(path)], 'code': code_version()})
    fields = ('mean_all_tasks', 'ci95_all_tasks', 'median_all_tasks', 'n_diverged',
              'mean_not_diverged', 'ci95_not_diverged', 'n_worse', 'n_nonfinite')
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
  """One line per K: the query MSE before and after a few step counts, diverged
  tasks counted apart (utils.summary_text)."""
  rows = stats['query']
  cells = '; '.join(f"{s} step{'' if s == 1 else 's'} {utils.summary_text(rows[s])}"
                    for s in steps if s < len(rows))
  print(f"K={k}, {rows[0]['n_tasks']} tasks, query MSE: {cells}")


def grid_predictions(settings: Settings, path: str, tasks, alpha: float,
                     graphs: TestGraphs = None) -> np.ndarray:
  """Predictions on the dense grid after 0..S steps, [S + 1, B, GRID_POINTS]."""
  with restored(settings, path, graphs) as (sess, model):
    return plots.as_2d(adapted_predictions(sess, model, tasks, alpha, ('grid',))['grid'])


def training_curve(path: str):
  """(iterations, pre-update loss, post-update loss) from the summaries training
  wrote to `path`, or None if there are none."""
  values = {}
  for events in sorted(glob.glob(os.path.join(path, 'events.out.tfevents.*'))):
    try:
      for event in tf.train.summary_iterator(events):
        for value in event.summary.value:
          values.setdefault(value.tag, {})[event.step] = value.simple_value
    except tf.errors.DataLossError:
      pass    # the last record of a killed run may be cut short; the rest is good
  pre, post = values.get('loss/pre_update', {}), values.get('loss/post_update', {})
  if not pre:
    return None
  iterations = sorted(pre)
  return (np.array(iterations), np.array([pre[i] for i in iterations]),
          np.array([post[i] for i in iterations]))


def plot(settings: Settings, path: str, k: int, seed: int, alpha: float, figure: str):
  """The run's dashboard: its training curve, its K-shot query MSE against test
  steps (if evaluated) and a few held-out tasks before and after 1 and 10 steps."""
  tasks = evaluation_tasks(settings, k, NUM_PLOT_TASKS, seed)
  predictions = grid_predictions(settings, path, tasks, alpha)
  panels = [plots.Panel(tasks, b, predictions[:, b], f'{settings.method}, K={k}')
            for b in range(NUM_PLOT_TASKS)]
  results = os.path.join(path, f'eval_K{k}.json')
  stats = utils.read_json(results)['query'] if os.path.exists(results) else None
  plots.dashboard(figure, f'{os.path.basename(path)}, tested with K={k}', training_curve(path),
                  stats, panels, PLOT_STEPS)
  print(f'wrote {figure}')


# --------------------------------------------------------------- benchmark --

def training_speed(settings: Settings, repeats: int, seconds: float) -> List[float]:
  """Meta-iterations per second of the training loop, data generation included."""
  model = build_model(settings)
  chunk = settings.iterations_per_run
  rates = []
  with tf.Session(config=utils.session_config()) as sess:
    sess.run(tf.global_variables_initializer())
    step = 0

    def run_chunk():
      nonlocal step
      data = training_chunk(settings, step, chunk)
      sess.run(model.train_op, dict(zip(model.train_feeds, data)))
      step += chunk

    for _ in range(WARMUP_RUNS):
      run_chunk()
    for _ in range(repeats):
      start, start_step = time.perf_counter(), step
      run_chunk()    # at least one chunk, however short the window
      while time.perf_counter() - start < seconds:
        run_chunk()
      rates.append((step - start_step) / (time.perf_counter() - start))
  return rates


def evaluation_time(settings: Settings, repeats: int) -> List[float]:
  """Seconds to evaluate 600 K-shot tasks at 0..10 steps on query and grid points."""
  model = build_model(settings)
  times = []
  with tf.Session(config=utils.session_config()) as sess:
    sess.run(tf.global_variables_initializer())
    for _ in range(WARMUP_RUNS + repeats):
      start = time.perf_counter()
      tasks = evaluation_tasks(settings, settings.K, BENCHMARK_EVAL_TASKS, seed=0)
      predictions = adapted_predictions(sess, model, tasks, settings.alpha,
                                        ('query', 'grid'))
      for losses in losses_of(tasks, predictions).values():
        utils.loss_statistics(losses)
      times.append(time.perf_counter() - start)
  return times[WARMUP_RUNS:]


def benchmark(settings: Settings, repeats: int, seconds: float) -> dict:
  """Times the paper setting and variants, one model at a time; prints each."""
  cases = {
      'meta_iterations_per_second': {},
      'meta_iterations_per_second_5_steps': {'num_updates': 5},
      'meta_iterations_per_second_first_order': {'first_order': True},
      'meta_iterations_per_second_one_run_per_iteration': {'iterations_per_run': 1},
  }
  results = {'repeats': repeats, 'cpu_count': os.cpu_count(),
             'settings': settings.to_json()}
  for name, changes in cases.items():
    rates = training_speed(dataclasses.replace(settings, **changes), repeats, seconds)
    results[name], results[name + '_repeats'] = float(np.median(rates)), rates
    print(f'{name}: {results[name]:.0f} (repeats {", ".join(f"{r:.0f}" for r in rates)})',
          flush=True)
  times = evaluation_time(settings, repeats)
  name = 'eval_seconds_600_tasks'
  results[name], results[name + '_repeats'] = float(np.median(times)), times
  print(f'{name}: {results[name]:.3f} (repeats {", ".join(f"{t:.3f}" for t in times)})')
  return results


def write_benchmark(path: str, results: dict):
  make_experiment_dir(os.path.dirname(path))
  utils.write_json(path, results)
  print(json.dumps({k: v for k, v in results.items() if k != 'settings'}))
