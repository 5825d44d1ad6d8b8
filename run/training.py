"""The training loop: meta-training (or pretraining) in chunks of
iterations_per_run meta-iterations per session.run, with progress lines,
checkpoints every save_interval iterations, and a clean stop on a non-finite
meta-loss or SIGINT/SIGTERM. A chunk's tasks are drawn at once, seeded by its
first iteration; the graph runs them in as many session runs as keep each
about RUN_SECONDS long, so a signal is seen within seconds however wide the
network, and the weights are those of one run of the whole chunk.

One loop driver (`run_chunks`) serves both graphs: `train` runs one model in
a maml.MAML graph; `train_group` runs the models of one group in a
maml.GroupedMAML graph, each model getting the initial theta and the
meta-batches it would get alone, and saves each model's checkpoints as if it
had trained alone (scheduler.py plans the groups and runs them).
"""
import contextlib
import math
import os
import signal
import time
from typing import Callable, Dict, List, Optional

import numpy as np

from common import interrupts
from run import checkpoints
from run import sampling
from run import training_time
from run import settings as run_settings
from run.settings import Settings
import utils
from utils import CommandError
tf = utils.quiet_tensorflow()
import maml  # pylint: disable=wrong-import-position


class Interrupted(Exception):
  """Training stopped by SIGINT/SIGTERM after saving its models at `step`."""

  def __init__(self, step: int):
    super().__init__(step)
    self.step = step


# Seconds of one session.run at most (about): a signal is seen between runs.
RUN_SECONDS = 1.0


def crossed(step: int, size: int, interval: int) -> bool:
  """True if the chunk (step - size, step] passed a multiple of `interval`."""
  return step // interval > (step - size) // interval


def non_finite_error(path: str, iteration: int) -> CommandError:
  last = checkpoints.latest_checkpoint(path) or 'none saved yet'
  return CommandError(f'{path}: the meta-loss became non-finite at iteration {iteration}; '
                      f'stopped, the last good checkpoint ({last}) is kept. '
                      'Try a smaller --alpha or --beta.')


def interrupted_error(step: int, total: int) -> CommandError:
  """The line of a signal that stopped training at `step` of `total` (saved there)."""
  signum = interrupts.caught()
  if step >= total:     # came during the last run or save: there is nothing to resume
    return CommandError(f'{signal.Signals(signum).name} at iteration {step}: training had '
                        'finished and its checkpoint is saved', 128 + signum)
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


class RunSize:
  """Meta-iterations per session.run: as many as the last run's pace fits in
  RUN_SECONDS (the first run, which also warms the graph up, is one)."""

  def __init__(self):
    self.size = 1

  def measured(self, iterations: int, seconds: float):
    self.size = max(1, int(iterations * RUN_SECONDS / max(seconds, 1e-9)))


def run_chunks(sess, model, chunk_data: Callable[[int, int], list], step: int,
               settings: Settings, paths: List[str], save: Callable[[List[int], int], None],
               progress: Progress, stop: dict, save_interval: int) -> Optional[int]:
  """The loop that trains one graph (one model, or the models of a group) from
  `step` to settings.meta_iterations; returns the step reached, or None if it
  stopped because another group failed (stop['failed']).

  chunk_data(start, size): the train_feeds' arrays of iterations start..start+size-1.
  save(models, step): checkpoints those models (indices into `paths`).
  Chunks start at multiples of iterations_per_run, so a run stopped inside a
  chunk continues on the tasks it would have seen. A model whose meta-loss
  became non-finite stops the loop with one line naming it, after the others
  are saved; a caught signal saves every model and raises Interrupted.
  """
  total, chunk = settings.meta_iterations, settings.iterations_per_run
  runs, unsaved = RunSize(), False
  while step < total:
    start = step - step % chunk
    end = min(start + chunk, total)
    data, first, losses = chunk_data(start, end - start), step, []
    while step < end and not (interrupts.caught() or stop['failed']):
      size = min(runs.size, end - step)
      began = time.perf_counter()
      pre, post, finite_prefix = sess.run(model.train_op, dict(zip(
          model.train_feeds, [array[step - start:step - start + size] for array in data])))
      runs.measured(size, time.perf_counter() - began)
      step += size
      failed = [m for m, loss in enumerate(np.atleast_1d(post)) if not math.isfinite(loss)]
      if failed:
        kept = [m for m in range(len(paths)) if m not in failed]
        if kept:
          save(kept, step)
        raise non_finite_error(paths[failed[0]],
                               step - size + np.atleast_1d(finite_prefix)[failed[0]])
      losses.append((size, pre, post))
      unsaved = True
    if losses:    # the chunk's mean losses, as one run of it reports them
      sizes, pres, posts = zip(*losses)
      progress.record(step, step - first, np.average(pres, axis=0, weights=sizes),
                      np.average(posts, axis=0, weights=sizes))
    halt = interrupts.caught() or stop['failed']
    if unsaved and (crossed(step, step - first, save_interval) or step == total or halt):
      save(list(range(len(paths))), step)
      unsaved = False
    if interrupts.caught():
      raise Interrupted(step)
    if stop['failed']:
      return None
  return step


# ------------------------------------------------------- one model alone --

def train(settings: Settings, path: str, resume: bool = False, print_interval: int = 5000,
          save_interval: int = 10000) -> int:
  """Meta-trains (or pretrains) one model and checkpoints to `path`; returns the final step.

  Checkpoints hold theta, Adam's slots and the global step; config.json is
  rewritten after each checkpoint, so it never describes a step that was not
  saved. A non-finite meta-loss stops training before anything is saved, so
  the last checkpoint stays the last good one; SIGINT/SIGTERM save and stop.
  """
  if resume and not os.path.isdir(path):   # refuses before anything is created
    raise checkpoints.missing_checkpoint(path)
  checkpoints.make_experiment_dir(path)
  with checkpoints.folder_lock(path), interrupts.recording():
    history = checkpoints.checked_history(settings, path, resume)
    with interrupts.at_once('building the graph'):
      model = run_settings.build_model(settings)
      saver = tf.train.Saver(max_to_keep=checkpoints.CHECKPOINTS_KEPT, save_relative_paths=True)
    with tf.Session(config=utils.session_config()) as sess:
      with interrupts.at_once('starting the session'):
        sess.run(tf.global_variables_initializer())
        if history:
          checkpoints.restore_checkpoint(saver, sess, path, tf.global_variables())
          # Earlier sessions' checkpoints count towards max_to_keep too.
          saver.recover_last_checkpoints(
              checkpoints.checkpoint_state(path).all_model_checkpoint_paths)
      interrupts.check()     # a signal in between: nothing trained, nothing to save
      step = int(sess.run(model.global_step))
      history = history + [{'start': step, 'end': step, 'beta': settings.beta}]
      print(f'{path}: training from iteration {step} to {settings.meta_iterations}', flush=True)

      def save(_, at_step):
        checkpoints.save_checkpoint(saver, sess, path, settings, history, at_step,
                                    sess.run(model.theta))

      with contextlib.closing(Progress('', [path], settings.meta_iterations, step,
                                       print_interval)) as progress:
        try:
          step = run_chunks(sess, model, lambda start, size: sampling.training_chunk(
              settings, start, size), step, settings, [path], save, progress,
                            {'failed': False}, save_interval)
        except Interrupted as e:
          raise interrupted_error(e.step, settings.meta_iterations) from None
  # Said before the slow exit (TF's teardown, about a second), where a Ctrl-C
  # ends the process with no word of its own.
  print(f'{path}: training finished at iteration {step}; its checkpoint is saved', flush=True)
  return step


# ---------------------------------------------------- models of a group --

def initial_theta(config: maml.MAMLConfig) -> Dict[str, np.ndarray]:
  """The theta maml.MAML(config) starts from: built first in a fresh graph with
  the same graph seed, the initialisers get the same op seeds."""
  with tf.Graph().as_default():
    tf.set_random_seed(config.seed)
    theta = maml.init_weights(config)
    with tf.Session(config=utils.session_config(1, 1)) as sess:
      sess.run(tf.global_variables_initializer())
      return sess.run(theta)


def load_initial_theta(model: maml.GroupedMAML, settings: List[Settings], sess):
  thetas = [initial_theta(run_settings.model_config(s)) for s in settings]
  for name, variable in model.theta.items():
    variable.load(np.stack([theta[name] for theta in thetas]), sess)


def group_chunk(settings: List[Settings], start: int, size: int) -> List[np.ndarray]:
  """Each model's sampling.training_chunk, stacked: (xa, ya, xb, yb) [T, M, B, K, dim]."""
  parts = [sampling.training_chunk(s, start, size) for s in settings]
  return [np.stack(arrays, axis=1) for arrays in zip(*parts)]


def build_group(settings: List[Settings]) -> maml.GroupedMAML:
  """The graph that trains these models (one scheduler.group_key) together."""
  first = settings[0]
  return maml.GroupedMAML(run_settings.model_config(first), len(settings),
                          run_settings.objective_of(first), first.meta_batch_size, first.K,
                          first.K)


def train_group(settings: List[Settings], paths: List[str], label: str, stop: dict,
                print_interval: int, save_interval: int, workers: int = 1) -> Optional[float]:
  """Trains the models of one group (settings[m] into paths[m]) to their
  meta_iterations; returns the seconds taken, or None if it stopped before.
  Each session that saves adds itself to every model's training-time record
  (`workers`: groups training at once, for that record).

  stop: {'failed': another group failed}; that or a signal (interrupts.caught)
  makes this group save every model and return after the current run
  (raising Interrupted for a signal), or not start.
  """
  if interrupts.caught() or stop['failed']:
    return None
  start_time = time.time()
  first = settings[0]
  with contextlib.ExitStack() as stack:
    for path in paths:
      checkpoints.make_experiment_dir(path)
      stack.enter_context(checkpoints.folder_lock(path))
    # Rerunning the command continues each model (scheduler.plan put models of
    # the same step together); a killed save's leftovers are cleared.
    histories = [checkpoints.checked_history(s, path, resume=True)
                 for s, path in zip(settings, paths)]
    resume = checkpoints.has_checkpoint(paths[0])
    with tf.Graph().as_default():
      model = build_group(settings)
      group_checkpoints = checkpoints.GroupCheckpoints(model, paths, settings)
      stack.callback(group_checkpoints.close)
      sess = stack.enter_context(tf.Session(config=utils.session_config(1, 1)))
      sess.run(tf.global_variables_initializer())
      if resume:
        group_checkpoints.restore(sess)
      else:
        load_initial_theta(model, settings, sess)
      step = int(sess.run(model.global_step))
      histories = [h + [{'start': step, 'end': step, 'beta': first.beta}] for h in histories]
      utils.say(f'{label}training {len(paths)} models from iteration {step} to '
                f'{first.meta_iterations}: ' + ', '.join(os.path.basename(p) for p in paths))
      progress = stack.enter_context(contextlib.closing(Progress(
          label, paths, first.meta_iterations, step, print_interval)))

      def save(models, at_step):
        values = sess.run(group_checkpoints.grouped)    # once for all the models saved
        for index in models:
          group_checkpoints.save(values, index, histories[index], at_step)

      if interrupts.caught():     # came while the graph was built: nothing new to save
        return None
      load_at_start = os.getloadavg()[0]

      def record(end: int):
        for path in paths:
          training_time.add_session(path, step, end, (time.time() - start_time) / len(paths),
                                    len(paths), workers, [load_at_start, os.getloadavg()[0]])

      try:
        reached = run_chunks(sess, model, lambda start, size: group_chunk(settings, start, size),
                             step, first, paths, save, progress, stop, save_interval)
      except Interrupted as e:
        record(e.step)
        raise
      if reached is None:
        return None
      record(reached)
  return time.time() - start_time
