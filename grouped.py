"""Trains many models at once: the paper's and the study's models in groups.

Models whose training graphs differ only in their seed and task family (same
network shape, objective, K, meta-batch, alpha, beta, inner steps and
iterations, and at the same step) form groups of up to GROUP_SIZE, each
meta-trained by one maml.GroupedMAML: every model gets the initial theta and
the meta-batches it would get alone (experiment.training_chunk with its own
seed). `workers` groups train at once, each in its own thread with a
one-thread session: session.run releases the GIL, so two threads keep the
two cores busy. Measured on 2 cores (`make benchmark`): two workers of
grouped models train about twice the model-iterations per second of one
model at a time.

Each model keeps its own folder with config.json, event files and
checkpoints holding the variable names and shapes a model trained alone
(experiment.train) holds, so evaluation, the report and --resume read them
unchanged. A partly trained model (an interrupted run) resumes exactly.
"""
import concurrent.futures
import contextlib
import dataclasses
import math
import os
import signal
import threading
import time
from typing import Dict, List

import numpy as np

import experiment
from experiment import CommandError, Settings, tf
import maml
import utils

# Models per graph. Groups of up to 6 train every model to the same bits as
# training it alone (measured on 2 cores at the paper's sizes); groups of 8
# differ in the last float bits, and were no faster (benchmark).
GROUP_SIZE = 6
WORKERS = utils.WORKERS   # groups trained at once
# Seconds per model-iteration relative to the joint objective (benchmark), to
# start the longest groups first.
RELATIVE_COST = {'maml': 2.5, 'joint': 1.0}
TIME_FILE = 'training_seconds.json'
RERUN = 'run the same command again to continue (finished models are skipped)'


class Interrupted(Exception):
  """A group stopped by SIGINT/SIGTERM after saving its models at `step`."""

  def __init__(self, step: int):
    super().__init__(step)
    self.step = step


@dataclasses.dataclass(frozen=True)
class Job:
  """One model to train: its settings and its checkpoint folder."""
  settings: Settings
  path: str


def start_step(path: str) -> int:
  return experiment.checkpoint_step(path) if experiment.has_checkpoint(path) else 0


def group_key(job: Job, start: int) -> tuple:
  """What models must share to train in one graph (start: the iteration reached)."""
  s = job.settings
  config = dataclasses.replace(experiment.model_config(s), seed=0, test_num_updates=0)
  return (config, experiment.objective_of(s), s.K, s.meta_batch_size, s.iterations_per_run,
          s.meta_iterations, start)


def plan(jobs: List[Job], group_size: int = GROUP_SIZE) -> List[List[Job]]:
  """The groups that train the unfinished jobs, costliest first."""
  by_key = {}
  for job in jobs:
    start = start_step(job.path)
    if start < job.settings.meta_iterations:
      by_key.setdefault(group_key(job, start), []).append(job)
  groups = [(key, members[i:i + group_size]) for key, members in by_key.items()
            for i in range(0, len(members), group_size)]

  def cost(key_and_group):
    (_, objective, *_, iterations, start), group = key_and_group
    return len(group) * (iterations - start) * RELATIVE_COST[objective]
  return [group for _, group in sorted(groups, key=cost, reverse=True)]


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
  thetas = [initial_theta(experiment.model_config(s)) for s in settings]
  for name, variable in model.theta.items():
    variable.load(np.stack([theta[name] for theta in thetas]), sess)


def group_chunk(settings: List[Settings], start: int, size: int) -> List[np.ndarray]:
  """Each model's experiment.training_chunk, stacked: (xa, ya, xb, yb) [T, M, B, K, dim]."""
  parts = [experiment.training_chunk(s, start, size) for s in settings]
  return [np.stack(arrays, axis=1) for arrays in zip(*parts)]


def build(settings: List[Settings]) -> maml.GroupedMAML:
  """The graph that trains these models (one group_key) together."""
  first = settings[0]
  return maml.GroupedMAML(experiment.model_config(first), len(settings),
                          experiment.objective_of(first), first.meta_batch_size, first.K,
                          first.K)


def solo_name(grouped_name: str) -> str:
  """A grouped variable's name in a model trained alone: group/w1/Adam -> model/w1/Adam."""
  prefix = maml.GroupedMAML.SCOPE + '/'
  if grouped_name.startswith(prefix):
    return maml.MODEL_SCOPE + '/' + grouped_name[len(prefix):]
  return grouped_name     # Adam's beta powers and the global step, shared by the group


class Checkpoints:
  """Per-model checkpoints of a group, in a graph of its own that holds one
  model's variables under their solo names (model/w1, model/w1/Adam, ...,
  beta1_power, global_step): model m's rows are loaded there, then saved."""

  def __init__(self, model: maml.GroupedMAML, jobs: List[Job]):
    self.jobs = jobs
    self.grouped = {solo_name(v.op.name): v for v in tf.global_variables()}
    self.stacked = {name for name in self.grouped if name.startswith(maml.MODEL_SCOPE + '/')}
    self.theta_names = {name: maml.MODEL_SCOPE + '/' + name for name in model.theta}
    self.graph = tf.Graph()
    with self.graph.as_default():
      self.variables = {
          name: tf.get_variable(name, v.shape[1:] if name in self.stacked else v.shape,
                                v.dtype.base_dtype, use_resource=True)
          for name, v in self.grouped.items()}
      first = tf.train.Saver(self.variables, max_to_keep=experiment.CHECKPOINTS_KEPT,
                             save_relative_paths=True)
      # One Saver per model (each keeps its own last checkpoints), sharing the ops.
      self.savers = [first] + [tf.train.Saver(saver_def=first.as_saver_def())
                               for _ in jobs[1:]]
    self.sess = tf.Session(graph=self.graph, config=utils.session_config(1, 1))

  def restore(self, sess) -> None:
    """Loads every model's latest checkpoint into the group's variables."""
    values = {name: [] for name in self.grouped}
    for job, saver in zip(self.jobs, self.savers):
      checkpoint = tf.train.latest_checkpoint(job.path)
      try:
        reader = tf.train.load_checkpoint(checkpoint)
        for name in values:
          values[name].append(reader.get_tensor(name))
      except (tf.errors.OpError, ValueError) as e:
        raise experiment.unreadable_checkpoint(checkpoint, e)
      saver.recover_last_checkpoints(
          tf.train.get_checkpoint_state(job.path).all_model_checkpoint_paths)
    for name, variable in self.grouped.items():
      # Shared values (the step, Adam's beta powers) are equal in every model
      # at the same step; stacked ones get one row per model.
      variable.load(np.stack(values[name]) if name in self.stacked else values[name][0], sess)

  def save(self, values: Dict[str, np.ndarray], index: int, history: List[dict], step: int):
    """Saves model `index` of the group as experiment.train would, from the
    group's variable `values` (by solo name)."""
    job = self.jobs[index]
    for name, variable in self.variables.items():
      variable.load(values[name][index] if name in self.stacked else values[name], self.sess)
    theta = {name: values[solo][index] for name, solo in self.theta_names.items()}
    experiment.save_checkpoint(self.savers[index], self.sess, job.path, job.settings, history,
                               step, theta)

  def close(self):
    self.sess.close()


def train_group(jobs: List[Job], label: str, stop: dict, print_interval: int,
                save_interval: int):
  """Trains one group to its settings' meta_iterations; returns the seconds
  taken, or None if it stopped before.

  stop: {'signal': SIGINT/SIGTERM caught, or None; 'failed': another group
  failed}; either makes this group save every model and return at the end of
  the current chunk (raising for a signal), or not start.
  """
  if stop['signal'] or stop['failed']:
    return None
  start_time = time.time()
  settings = [job.settings for job in jobs]
  first = settings[0]
  total, chunk = first.meta_iterations, first.iterations_per_run
  with contextlib.ExitStack() as stack:
    for job in jobs:
      experiment.make_experiment_dir(job.path)
      stack.enter_context(experiment.folder_lock(job.path))
    resume = experiment.has_checkpoint(jobs[0].path)
    histories = [experiment.checked_history(job.settings, job.path, resume) for job in jobs]
    with tf.Graph().as_default():
      model = build(settings)
      checkpoints = Checkpoints(model, jobs)
      stack.callback(checkpoints.close)
      sess = stack.enter_context(tf.Session(config=utils.session_config(1, 1)))
      sess.run(tf.global_variables_initializer())
      if resume:
        checkpoints.restore(sess)
      else:
        load_initial_theta(model, settings, sess)
      step = int(sess.run(model.global_step))
      histories = [h + [{'start': step, 'end': step, 'beta': first.beta}] for h in histories]
      utils.say(f'{label}training {len(jobs)} models from iteration {step} to {total}: '
                + ', '.join(os.path.basename(job.path) for job in jobs))
      progress = experiment.Progress(label, [job.path for job in jobs], total, step,
                                     print_interval)
      stack.callback(progress.close)

      def save_all(models):
        values = sess.run(checkpoints.grouped)    # once for all the models saved
        for index in models:
          checkpoints.save(values, index, histories[index], step)

      while step < total:
        size = min(chunk, total - step)
        pre, post, finite_prefix = sess.run(model.train_op, dict(zip(
            model.train_feeds, group_chunk(settings, step, size))))
        step += size
        failed = [m for m in range(len(jobs)) if not math.isfinite(post[m])]
        if failed:
          save_all(m for m in range(len(jobs)) if m not in failed)
          raise experiment.non_finite_error(jobs[failed[0]].path,
                                            step - size + finite_prefix[failed[0]])
        progress.record(step, size, pre, post)
        halt = stop['signal'] or stop['failed']
        if experiment.crossed(step, size, save_interval) or step == total or halt:
          save_all(range(len(jobs)))
        if stop['signal']:
          raise Interrupted(step)
        if stop['failed']:
          return None
  return time.time() - start_time


def train_models(jobs: List[Job], print_interval: int, save_interval: int,
                 workers: int = WORKERS, group_size: int = GROUP_SIZE) -> Dict[str, dict]:
  """Trains every job not trained yet (resuming partly trained ones), grouped.

  Writes <path>/training_seconds.json for each model trained: `seconds` is
  its share of its group's wall time (the group's seconds / its models).
  Returns {path: that record}. The first failure stops the other groups
  (they save first) and is raised.
  """
  groups = plan(jobs, group_size)
  records = {}
  if not groups:
    print(f'all {len(jobs)} models are trained already', flush=True)
    return records
  print(f'training {sum(map(len, groups))} models in {len(groups)} groups, '
        f'{min(workers, len(groups))} at a time', flush=True)
  with experiment.signals_as_flag() as stop, \
      concurrent.futures.ThreadPoolExecutor(workers) as pool:
    stop['failed'] = False
    futures = {pool.submit(train_group, group, f'[group {i}/{len(groups)}] ', stop,
                           print_interval, save_interval): group
               for i, group in enumerate(groups, start=1)}
    errors, interrupted_at = [], []
    for future in concurrent.futures.as_completed(futures):
      try:
        seconds = future.result()
      except Interrupted as e:
        interrupted_at.append(e.step)
        continue
      except Exception as e:  # pylint: disable=broad-except; raised below, once the others stopped
        stop['failed'] = True
        errors.append(e)
        continue
      if seconds is None:
        continue
      group = futures[future]
      for job in group:
        records[job.path] = {'seconds': seconds / len(group), 'group_seconds': seconds,
                             'models_in_group': len(group), 'workers': workers}
        utils.write_json(os.path.join(job.path, TIME_FILE), records[job.path])
  if errors:
    raise errors[0]
  if stop['signal']:
    saved = (f"the running groups saved their models at iteration "
             f"{' and '.join(map(str, sorted(interrupted_at)))}" if interrupted_at
             else 'every model trained so far is saved')
    raise CommandError(f"{signal.Signals(stop['signal']).name}: stopped; {saved}; {RERUN}",
                       128 + stop['signal'])
  return records


def training_time_text(paths: List[str], what: str) -> str:
  """One README sentence on how long the models in `paths` took to train."""
  records = [utils.read_json(os.path.join(path, TIME_FILE)) for path in paths]
  seconds = [r['seconds'] for r in records]
  largest = max(r.get('models_in_group', 1) for r in records)
  how = ('one model per graph' if largest == 1 else
         f'up to {largest} models per graph, each counting its share of its group\'s time')
  return (f'Training {what} took {sum(seconds) / 60:.1f} minutes in all on a 2-core CPU '
          f'({min(seconds):.0f} to {max(seconds):.0f} s per model, {how}), from the '
          f'`{TIME_FILE}` files.')


# --------------------------------------------------------------- benchmark --

BENCHMARK_GROUP_SIZES = (1, 4, GROUP_SIZE, 8, 16)


def training_speed(settings: Settings, group_size: int, workers: int, repeats: int,
                   seconds: float) -> List[float]:
  """Model-iterations per second of `workers` groups of `group_size` models
  (seeds 1..group_size) training at once, data generation included."""
  members = [dataclasses.replace(settings, seed=seed) for seed in range(1, group_size + 1)]
  chunk = settings.iterations_per_run
  barrier = threading.Barrier(workers)

  def worker(_):
    rates = []
    with tf.Graph().as_default():
      model = build(members)
      with tf.Session(config=utils.session_config(1, 1)) as sess:
        sess.run(tf.global_variables_initializer())
        load_initial_theta(model, members, sess)
        step = 0
        for repeat in range(experiment.WARMUP_RUNS + repeats):
          barrier.wait()     # the workers' windows overlap
          start, start_step = time.perf_counter(), step
          while step == start_step or time.perf_counter() - start < seconds:
            sess.run(model.train_op, dict(zip(model.train_feeds,
                                              group_chunk(members, step, chunk))))
            step += chunk
          if repeat >= experiment.WARMUP_RUNS:
            rates.append(group_size * (step - start_step) / (time.perf_counter() - start))
    return rates

  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    per_worker = list(pool.map(worker, range(workers)))
  return [sum(rates) for rates in zip(*per_worker)]


def benchmark_key(method: str, group_size: int) -> str:
  return f'grouped_{method}_{group_size}_models_x{WORKERS}_model_iterations_per_second'


def benchmark(settings: Settings, repeats: int, seconds: float) -> Dict[str, object]:
  """Grouped training speed for the paper's MAML and the pretrained baseline,
  WORKERS groups at once, for each of BENCHMARK_GROUP_SIZES."""
  results = {}
  for method in ('maml', 'pretrain'):
    for size in BENCHMARK_GROUP_SIZES:
      name = benchmark_key(method, size)
      rates = training_speed(dataclasses.replace(settings, method=method), size, WORKERS,
                             repeats, seconds)
      results[name], results[name + '_repeats'] = float(np.median(rates)), rates
      print(f'{name}: {results[name]:.0f} (repeats {", ".join(f"{r:.0f}" for r in rates)})',
            flush=True)
  return results
