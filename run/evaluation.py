"""Evaluation of trained checkpoints: test graphs (kept per worker thread and
restored into), adapted predictions and per-task losses in batches of tasks,
the eval_K<k> results files, and the one rule that chooses a test-time step
size on validation tasks."""
import contextlib
import math
import os
from typing import Dict, Iterable, Iterator, List

import numpy as np

from common import fileio
from common import plots
from common import statistics
import utils
tf = utils.quiet_tensorflow()
from common import interrupts  # pylint: disable=wrong-import-position
import maml  # pylint: disable=wrong-import-position
from run import checkpoints  # pylint: disable=wrong-import-position
from run import sampling  # pylint: disable=wrong-import-position
from run import settings as run_settings  # pylint: disable=wrong-import-position
from run.settings import Settings  # pylint: disable=wrong-import-position

# Test-time step sizes tried on validation tasks (0 = no fine-tuning, which a
# baseline told the task, like the oracle, may prefer).
STEP_SIZES = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
VALIDATION_SEED = 999    # validation tasks: a stream disjoint from every eval seed
SUMMARY_STEPS = (0, 1, 10)   # the steps of the one-line summary
# The report's protocol (the authors' task count); other protocols' files say
# what differs in their names (results_name).
STANDARD_TASKS = 600
STANDARD_SEED = 12345
CHOSEN_ALPHA_FILE = 'alpha_selection_K{}.json'   # a baseline's step size, chosen by the report


# ------------------------------------------------------------ test graphs --

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
    with interrupts.at_once('building the test graph'):
      model = run_settings.new_model(settings)
    theta = list(model.theta.values())
    saver = tf.train.Saver(var_list=theta)
    with tf.Session(config=utils.session_config()) as sess:
      yield sess, model, lambda path: checkpoints.restore_checkpoint(saver, sess, path, theta)


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
    key = (tuple(maml.layer_sizes(run_settings.model_config(settings))),
           settings.test_num_updates)
    if key not in self._graphs:
      self._graphs[key] = self._stack.enter_context(test_session(settings))
    sess, model, restore = self._graphs[key]
    if self._holds.get(key) != path:
      restore(path)
      self._holds[key] = path
    return sess, model


# ------------------------------------------------- predictions and losses --

def adapted_predictions(sess, model, tasks, alpha, names, steps=None):
  """f after 0..S steps (or only `steps`) on the support set, at the inputs of
  each set in `names`.

  Returns {name: [S + 1 (or len(steps)), B, N, 1]}.
  """
  interrupts.check()    # every test-time session.run comes here: a signal stops between them
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


def batched_losses(sess, model, settings: Settings, tasks: dict, alpha: float,
                   names) -> Dict[str, np.ndarray]:
  """losses_of(adapted_predictions(...)) a batch of tasks at a time, {name: [S + 1, B]}."""
  num_tasks = len(next(iter(tasks['params'].values())))
  size, parts = run_settings.eval_batch_size(settings), []
  for start in range(0, num_tasks, size):
    batch = sampling.task_slice(tasks, start, start + size)
    parts.append(losses_of(batch, adapted_predictions(sess, model, batch, alpha, names)))
    if num_tasks > size:
      print(f'evaluated {min(start + size, num_tasks)} of {num_tasks} tasks', flush=True)
  return {name: np.concatenate([p[name] for p in parts], axis=1) for name in names}


# ------------------------------------------------------- the results files --

def report_alpha(settings: Settings, path: str, k: int) -> float:
  """The step size the report evaluates a model with at K=k: the one it chose
  on validation tasks (a baseline's CHOSEN_ALPHA_FILE), else the training alpha."""
  chosen = os.path.join(path, CHOSEN_ALPHA_FILE.format(k))
  if not os.path.exists(chosen):
    return settings.alpha
  try:
    return float(fileio.read_json(chosen)['chosen'])
  except (ValueError, KeyError, TypeError) as e:
    raise utils.CommandError(f'{chosen} is unreadable ({type(e).__name__}: {e}); rewrite it '
                             'with make figures (--mode=report)')


def results_name(trained: Settings, path: str, k: int, num_tasks: int, seed: int,
                 alpha: float, steps: int) -> str:
  """The stem of an evaluation's files: eval_K<k> for the report's protocol
  (STANDARD_TASKS tasks of STANDARD_SEED, the report's step size, the trained
  number of test steps), else followed by what differs, e.g.
  eval_K5_5tasks_alpha1e+300: another protocol never replaces the report's files."""
  parts = [f'eval_K{k}']
  if num_tasks != STANDARD_TASKS:
    parts.append(f'{num_tasks}tasks')
  if seed != STANDARD_SEED:
    parts.append(f'seed{seed}')
  if alpha != report_alpha(trained, path, k):
    parts.append(f'alpha{alpha!r}')
  if steps != trained.test_num_updates:
    parts.append(f'{steps}steps')
  return '_'.join(parts)


# The keys of every eval_K<k>.json: evaluate writes them, publish.checks reads them.
RESULT_KEYS = ('settings', 'K', 'num_tasks', 'eval_seed', 'alpha', 'query', 'grid', 'sources',
               'code')
STEP_KEYS = ('mean_all_tasks', 'median_all_tasks', 'n_diverged', 'n_worse', 'n_tasks')


def missing_steps(data: dict, settings: Settings) -> List[str]:
  """What an eval_K<k>.json lacks of its per-step rows: 'query' and 'grid' each
  hold a row of statistics (STEP_KEYS) for steps 0..test_num_updates."""
  steps = settings.test_num_updates + 1
  missing = []
  for part in ('query', 'grid'):
    rows = data.get(part)
    if not (isinstance(rows, list) and len(rows) == steps and all(
        isinstance(row, dict) and all(key in row for key in STEP_KEYS) for row in rows)):
      missing.append(f'{part}: {steps} steps of statistics')
  return missing


def evaluate(settings: Settings, path: str, k: int, num_tasks: int, seed: int, alpha: float,
             graphs: TestGraphs = None, name: str = None, keep_same: bool = False):
  """Writes <name>.json/.csv (per-step statistics) and <name>_tasks.csv, all
  three or none (name: eval_K<k>, the report's, unless given). With
  keep_same, files that already hold these results (same checkpoint, protocol
  and numbers) are kept as they are, code stamp included, so evaluating a
  published model does not make it look computed by other code. In a
  read-only folder the statistics are returned and not saved."""
  tasks = sampling.evaluation_tasks(settings, k, num_tasks, seed)
  with checkpoints.folder_lock(path), restored(settings, path, graphs) as (sess, model):
    losses = batched_losses(sess, model, settings, tasks, alpha, ('query', 'grid'))
    stats = {n: statistics.loss_statistics(l) for n, l in losses.items()}
    if not fileio.can_write(path):
      print(f'{path} is read-only: these results are not saved (evaluate a copy to keep them)')
      return stats
    stem = os.path.join(path, name or f'eval_K{k}')
    fields = ('mean_all_tasks', 'ci95_all_tasks', 'median_all_tasks', 'n_diverged',
              'mean_not_diverged', 'ci95_not_diverged', 'n_worse', 'n_nonfinite')
    steps = range(losses['query'].shape[0])
    tables = {
        stem + '_tasks.csv': fileio.csv_text(
            ['task'] + sorted(tasks['params']) + [f'{n}_step{s}' for n in losses for s in steps],
            checked([b] + [tasks['params'][p][b] for p in sorted(tasks['params'])]
                    + [l[s, b] for l in losses.values() for s in steps]
                    for b in range(num_tasks))),
        stem + '.csv': fileio.csv_text(('set', 'step') + fields, [
            (n, row['step']) + tuple(row[f] for f in fields)
            for n in stats for row in stats[n]])}
    record = {'settings': settings.to_json(), 'K': k, 'num_tasks': num_tasks, 'eval_seed': seed,
              'alpha': alpha, 'query': stats['query'], 'grid': stats['grid'],
              'sources': [checkpoints.checkpoint_source(path)]}
    if keep_same and holds(stem + '.json', record, tables):
      print(f'{stem}.* already hold these results (same checkpoint, protocol and numbers): kept')
      return stats
    # The JSON, which names the protocol and sources, is renamed last.
    with fileio.replaced_together():
      for file, text in tables.items():
        fileio.atomic_write(file, text)
      fileio.write_record(stem + '.json', {**record, 'code': utils.code_version()}, RESULT_KEYS)
  return stats


def checked(rows: Iterable) -> Iterator:
  """The rows, checking for a signal before each: the per-task table of
  millions of tasks takes minutes to format, and nothing is written before."""
  for row in rows:
    interrupts.check()
    yield row


def holds(json_path: str, record: dict, tables: Dict[str, str]) -> bool:
  """Whether the files already hold `record` (apart from its code stamp) and
  the texts of `tables` exactly."""
  try:
    written = fileio.read_json(json_path)
    written.pop('code', None)
    same = fileio.json_text(written) == fileio.json_text(record)
    return same and all(fileio.read_text(file) == text for file, text in tables.items())
  except (OSError, ValueError, AttributeError):
    return False     # missing or unreadable: rewritten


def print_summary(stats, k, steps=SUMMARY_STEPS):
  """One line per K: the query MSE before and after a few step counts, diverged
  tasks counted apart (statistics.summary_text)."""
  rows = stats['query']
  cells = '; '.join(f"{s} step{'' if s == 1 else 's'} {statistics.summary_text(rows[s])}"
                    for s in steps if s < len(rows))
  print(f"K={k}, {rows[0]['n_tasks']} tasks, query MSE: {cells}")


# ----------------------------------------------------- the step-size rule --

def lowest_mean_step_size(errors: Dict[float, np.ndarray]) -> float:
  """The paper section's rule for a baseline's test-time step size chosen on
  validation tasks, on the statistic its table reads (the mean query MSE); the
  study has its own rule on its own statistic (study.protocols.most_fit_step_size).

  Args:
    errors: {alpha: per-task validation query MSE [B] after the evaluation's
      last step}, for each alpha in STEP_SIZES.
  Returns:
    the alpha that leaves the fewest tasks non-finite, then has the lowest
    mean error over the others.
  """
  def rank(alpha):
    finite = errors[alpha][np.isfinite(errors[alpha])]
    return errors[alpha].size - finite.size, np.mean(finite) if finite.size else math.inf
  return min(errors, key=rank)


PLOT_STEPS = (0, 1, 10)   # the steps an adaptation figure shows


def grid_predictions(settings: Settings, path: str, tasks, alpha: float,
                     graphs: TestGraphs = None) -> np.ndarray:
  """Predictions on the dense grid after 0..S steps, [S + 1, B, GRID_POINTS]."""
  with restored(settings, path, graphs) as (sess, model):
    return plots.as_2d(adapted_predictions(sess, model, tasks, alpha,
                                                      ('grid',))['grid'])
