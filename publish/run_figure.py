"""One run's dashboard (--mode=plot): its training curve from the event files
training wrote, its K-shot query MSE against test steps, and a few held-out
tasks adapted from its checkpoint; and the grid predictions every adaptation
figure draws."""
import glob
import os

import numpy as np

from common import fileio
from common import plots
from run import checkpoints
from run import evaluation
from run import sampling
from run.settings import Settings
import utils
tf = utils.quiet_tensorflow()

NUM_PLOT_TASKS = 3


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


def checked_results(results: str, settings: Settings, path: str) -> dict:
  """The evaluation file a dashboard draws, whole and of the checkpoint the
  folder holds now (a resumed training has a newer one), or one line."""
  rewrite = 'rewrite it with --mode=eval and the same flags'
  try:
    data = fileio.read_json(results)
    lacking = evaluation.missing_steps(data, settings)
    source = data['sources'][0]
  except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
    raise utils.CommandError(f'{results} is unreadable ({type(e).__name__}: {e}); {rewrite}')
  if lacking:
    raise utils.CommandError(f'{results} is incomplete (no {", ".join(lacking)}); {rewrite}')
  now = checkpoints.checkpoint_source(path)
  if (source.get('step'), source.get('sha256')) != (now['step'], now['sha256']):
    raise utils.CommandError(f'{results} is of {source.get("checkpoint")} (sha256 '
                             f'{source.get("sha256")}), not of the checkpoint {path} holds now '
                             f'({now["checkpoint"]}, sha256 {now["sha256"]}); {rewrite}')
  return data


def plot(settings: Settings, path: str, k: int, seed: int, alpha: float, figure: str,
         results_name: str):
  """The run's dashboard: its training curve, its K-shot query MSE against test
  steps (if evaluated with this protocol: <results_name>.json) and a few
  held-out tasks before and after 1 and 10 steps."""
  tasks = sampling.evaluation_tasks(settings, k, NUM_PLOT_TASKS, seed)
  predictions = evaluation.grid_predictions(settings, path, tasks, alpha)
  panels = [plots.Panel(tasks, b, predictions[:, b], f'{settings.method}, K={k}')
            for b in range(NUM_PLOT_TASKS)]
  results = os.path.join(path, results_name + '.json')
  stats = checked_results(results, settings, path)['query'] if os.path.exists(results) else None
  plots.dashboard(figure, f'{os.path.basename(path)}, tested with K={k}', training_curve(path),
                  stats, panels, evaluation.PLOT_STEPS)
  print(f'wrote {figure}')
