"""Shipped checkpoints against shipped numbers: a change that moves any README
number fails here and must be made on purpose.

After an intended change, regenerate the small golden file with
`.venv/bin/python tests/test_golden.py` (and `make figures` for the rest).
"""
import os
import shutil

import numpy as np

from helpers import ROOT   # first: run as a script, this file needs ROOT on sys.path
from common import fileio
from run import checkpoints
from run import evaluation
from run import sampling
from study import points
from study import protocols

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'golden.json')
GOLDEN_MODELS = ('paper/maml_K10_seed1', 'paper/maml_fo_K10_seed1', 'paper/oracle_K10_seed1',
                 'paper/pretrain_K10_seed1',
                 'robustness/models/maml_shapes_K10_mb25_a0.01_b0.001_s1_h40x40_it70000_seed1')
GOLDEN_TASKS, GOLDEN_SEED, GOLDEN_K = 10, 7, 5
STEPS = (0, 1, 10)


def golden_numbers() -> dict:
  """{model: {step: per-task query MSE}} of a few shipped checkpoints on 10 fixed tasks."""
  numbers = {}
  for model in GOLDEN_MODELS:
    path = os.path.join(ROOT, 'logs', model)
    settings = checkpoints.load_settings(path)
    tasks = sampling.evaluation_tasks(settings, GOLDEN_K, GOLDEN_TASKS, GOLDEN_SEED)
    with evaluation.restored(settings, path) as (sess, model_graph):
      losses = evaluation.losses_of(tasks, evaluation.adapted_predictions(
          sess, model_graph, tasks, settings.alpha, ('query',)))['query']
    numbers[model] = {str(s): losses[s].tolist() for s in STEPS}
  return numbers


def test_a_few_checkpoints_give_their_golden_numbers():
  golden = fileio.read_json(GOLDEN)
  for model, by_step in golden_numbers().items():
    for step, losses in by_step.items():
      np.testing.assert_allclose(losses, golden[model][step], rtol=1e-6, err_msg=model)


def copy_checkpoint(source: str, target: str):
  os.makedirs(target)
  for name in os.listdir(source):
    if name.startswith(('model.ckpt', 'checkpoint', 'config')):
      shutil.copy(os.path.join(source, name), target)


def test_a_shipped_paper_evaluation_is_reproduced_exactly(tmp_path):
  """maml_K5_seed2 at K=5 (it has a diverging task): the same statistics and
  per-task losses, to the last digit."""
  shipped = os.path.join(ROOT, 'logs', 'paper', 'maml_K5_seed2')
  copy = str(tmp_path / 'maml_K5_seed2')
  copy_checkpoint(shipped, copy)
  before = fileio.read_json(os.path.join(shipped, 'eval_K5.json'))
  settings = checkpoints.load_settings(copy)
  evaluation.evaluate(settings, copy, 5, before['num_tasks'], before['eval_seed'],
                      before['alpha'])
  after = fileio.read_json(os.path.join(copy, 'eval_K5.json'))
  assert after['query'] == before['query'] and after['grid'] == before['grid']
  for name in ('eval_K5_tasks.csv', 'eval_K5.csv'):
    with open(os.path.join(shipped, name)) as f, open(os.path.join(copy, name)) as g:
      assert f.read() == g.read(), name


def test_a_shipped_study_point_is_reproduced_exactly():
  """The lines point: its three models, both K, every protocol, the baseline's
  validated step size and the sign test, as in logs/robustness/points/linear.json."""
  shipped = fileio.read_json(os.path.join(ROOT, 'logs', 'robustness', 'points', 'linear.json'))
  evaluations = protocols.evaluate_points([points.POINTS['linear']], os.path.join(ROOT, 'logs'),
                                          shipped['num_tasks'], shipped['eval_seed'])
  assert fileio.jsonable(protocols.summary(evaluations['linear'])) == shipped['results']


if __name__ == '__main__':
  fileio.write_json(GOLDEN, golden_numbers())
  print(f'wrote {GOLDEN}')
