"""The per-task regression ceiling: how well a network of the study's shape can
fit a task at all, beside how well MAML fits it from K points.

For the first CEILING_TASKS held-out tasks of a point (all of them when the
evaluation has fewer; the evaluation's tasks, so the errors pair up task by task), one 1-40-40-1 ReLU network per task is
trained with Adam on TRAIN_POINTS noise-free points of the region it may see,
then scored with the protocols' normalised MSE:
  in_range     trained on the whole x range, scored on it;
  time_series  trained on the first 80% of the x range, scored on the last 20%.
If MAML's error after 20 steps is far above the ceiling, the few-shot
adaptation is what fails; if the ceiling itself is poor, the network is.
"""
import os
from typing import Dict, List

import numpy as np

from common import fileio
from common import interrupts
import FunGenerator
from run import evaluation
from study import points as study_points
from study import protocols
import utils

tf = utils.quiet_tensorflow()
import maml  # pylint: disable=wrong-import-position

CEILING_TASKS = 100
TRAIN_POINTS = 200
TRAIN_STEPS = 3000
LEARNING_RATE = 3e-3
FINAL_LEARNING_RATE = 3e-4    # the rate decays geometrically to this
INIT_SEED = 0
# protocol -> (region trained on, region scored on)
FITS = {'in_range': ('in_range', 'in_range'), 'time_series': ('in_sample', 'out_of_sample')}
PAPER_HIDDEN = (40, 40)
# Wider and deeper networks on the points where MAML fails and the paper's
# network fits few tasks: does capacity limit the network?
# (A 100x100 fit costs about ten times a 40x40 one: the wider ones fit the
# first WIDER_TASKS tasks, in range only, of the points where MAML is also
# meta-trained wider (study.points.WIDE_POINTS).)
WIDER_HIDDEN = ((100, 100), (40, 40, 40))
WIDTH_POINTS = ('Fig6', 'double_frequency')
WIDER_TASKS = 20
WIDER_FITS = ('in_range',)


def ceiling_key(name: str, hidden=PAPER_HIDDEN) -> str:
  """The ceiling's name: the point's, with the hidden sizes if not the paper's (Fig6_h100x100)."""
  return name if tuple(hidden) == PAPER_HIDDEN else f"{name}_h{'x'.join(map(str, hidden))}"


# ceiling name -> (point, hidden layer sizes)
CEILINGS = {**{ceiling_key(n): (n, PAPER_HIDDEN) for n in study_points.CEILING_POINTS},
            **{ceiling_key(n, h): (n, h) for h in WIDER_HIDDEN for n in WIDTH_POINTS}}


def init_weights(sizes, num_tasks: int, rng: np.random.RandomState) -> Dict[str, np.ndarray]:
  """He-uniform weights and zero biases per task: w_i [B, in, out], b_i [B, 1, out]."""
  weights = {}
  for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
    bound = np.sqrt(6.0 / fan_in)
    weights[f'w{i}'] = rng.uniform(-bound, bound, (num_tasks, fan_in, fan_out))
    weights[f'b{i}'] = np.zeros((num_tasks, 1, fan_out))
  return weights


def fit(x_train, y_train, x_test, hidden=PAPER_HIDDEN, steps=TRAIN_STEPS) -> np.ndarray:
  """Trains one network per task on (x_train, y_train) [B, N, 1]; its
  predictions at x_test [B, M, 1], float64."""
  sizes = [1] + list(hidden) + [1]
  initial = init_weights(sizes, x_train.shape[0], np.random.RandomState(INIT_SEED))
  with tf.Graph().as_default():   # this thread's own (fits run in parallel)
    weights = {n: tf.Variable(v, dtype=tf.float64) for n, v in initial.items()}
    loss = tf.reduce_sum(maml.task_mse(maml.forward(tf.constant(x_train), weights),
                                       tf.constant(y_train)))
    step = tf.Variable(0, trainable=False)
    rate = tf.train.exponential_decay(LEARNING_RATE, step, steps,
                                      FINAL_LEARNING_RATE / LEARNING_RATE)
    train = tf.train.AdamOptimizer(rate).minimize(loss, global_step=step)
    prediction = maml.forward(tf.constant(x_test), weights)
    with tf.Session(config=utils.session_config()) as sess:
      sess.run(tf.global_variables_initializer())
      for _ in range(steps):
        interrupts.check()    # the fits are long: a signal stops every worker's within a step
        sess.run(train)
      return sess.run(prediction)


def ceiling_fit(point: study_points.Point, protocol: str, num_eval_tasks: int, seed: int,
                num_tasks: int = CEILING_TASKS, hidden=PAPER_HIDDEN) -> np.ndarray:
  """The per-task normalised MSE [num_tasks] of the best-fit networks (hidden
  layer sizes `hidden`) for one protocol on the first num_tasks of the
  point's num_eval_tasks evaluation tasks."""
  tasks = protocols.protocol_tasks(point, protocols.FIGURE_K, num_eval_tasks, seed)
  params = {name: values[:num_tasks] for name, values in tasks['params'].items()}
  family = FunGenerator.FAMILIES[point.family]
  trained_on, scored_on = FITS[protocol]
  region = protocols.regions(point.task_ranges)[trained_on]
  x = np.tile(np.linspace(*region, TRAIN_POINTS)[None, :, None], (num_tasks, 1, 1))
  x_test, y_test = (a[:num_tasks] for a in tasks[scored_on])
  predictions = fit(x, family.evaluate(x, params), x_test, hidden)
  return np.mean((predictions - y_test) ** 2, axis=(1, 2)) / tasks['variance'][:num_tasks]


# The keys of every <point>_ceiling.json the report reads: write_ceilings writes
# them, publish.checks reads them.
CEILING_KEYS = ('num_tasks', 'of_eval_tasks', 'eval_seed', 'statistics', 'train_points', 'code')


def ceiling_file(logdir: str, name: str, num_eval_tasks: int, seed: int) -> str:
  """<point>_ceiling.json, the published file, for the report's protocol
  (evaluation.STANDARD_TASKS tasks of STANDARD_SEED); else named by what
  differs (<point>_ceiling_3tasks_seed7.json), so a ceiling of another
  protocol never replaces the published one, and a report of that protocol
  finds its own."""
  parts = [name + '_ceiling']
  if num_eval_tasks != evaluation.STANDARD_TASKS:
    parts.append(f'{num_eval_tasks}tasks')
  if seed != evaluation.STANDARD_SEED:
    parts.append(f'seed{seed}')
  return os.path.join(protocols.points_dir(logdir), '_'.join(parts) + '.json')


def write_ceilings(logdir: str, num_eval_tasks: int, seed: int,
                   names: List[str] = tuple(CEILINGS), workers: int = utils.WORKERS):
  """Computes each named ceiling (of CEILINGS), `workers` fits at once; writes
  <name>_ceiling.json."""
  os.makedirs(protocols.points_dir(logdir), exist_ok=True)
  wider = lambda name: tuple(CEILINGS[name][1]) != PAPER_HIDDEN
  tasks = {name: min(WIDER_TASKS if wider(name) else CEILING_TASKS, num_eval_tasks)
           for name in names}
  print(f'ceiling of {", ".join(names)}: up to {max(tasks.values())} tasks, fits of '
        f'{TRAIN_STEPS} Adam steps each', flush=True)
  fits = [(name, protocol) for name in names
          for protocol in (WIDER_FITS if wider(name) else FITS)]
  fitted = utils.thread_map(
      lambda fit_: ceiling_fit(study_points.POINTS[CEILINGS[fit_[0]][0]], fit_[1],
                               num_eval_tasks, seed, tasks[fit_[0]], CEILINGS[fit_[0]][1]),
      fits, workers)
  for name in names:
    errors = {protocol: e for (n, protocol), e in zip(fits, fitted) if n == name}
    fileio.write_record(ceiling_file(logdir, name, num_eval_tasks, seed), {
        'point': CEILINGS[name][0], 'hidden': list(CEILINGS[name][1]),
        'num_tasks': tasks[name], 'of_eval_tasks': num_eval_tasks,
        'eval_seed': seed, 'train_points': TRAIN_POINTS, 'train_steps': TRAIN_STEPS,
        'learning_rate': [LEARNING_RATE, FINAL_LEARNING_RATE],
        'fits': {p: FITS[p] for p in errors},
        'statistics': {p: protocols.nmse_statistics(e) for p, e in errors.items()},
        'errors': {p: e.tolist() for p, e in errors.items()},
        'code': utils.code_version()}, CEILING_KEYS)
