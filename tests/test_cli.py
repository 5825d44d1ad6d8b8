"""Main.py end to end on tiny runs: config, checkpoints, resume, evaluation files."""
import csv
import dataclasses
import json
import os

import numpy as np
import pytest

import helpers

RUN = dataclasses.replace(helpers.TINY, meta_iterations=200, iterations_per_run=50,
                          hidden=(10, 10))
# The model's flags (meta_iterations first: a test drops it), then the intervals.
TINY = (helpers.flags_of(RUN, 'meta_iterations', 'iterations_per_run', 'hidden')
        + ['--save_interval=100', '--print_interval=100'])
EVAL = ['--num_eval_tasks=40']
RESULTS = 'eval_K{}_40tasks'   # another task count than the report's: its files say so


def main(*args):
  result = helpers.run_main(*args)
  assert result.returncode == 0, result.stderr
  return result


def read(path):
  with open(path) as f:
    return f.read()


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """One uninterrupted 200-iteration run, trained and evaluated."""
  logdir = str(tmp_path_factory.mktemp('logs'))
  main('--mode=train', f'--logdir={logdir}', '--exp_name=full', *TINY)
  main('--mode=eval', f'--logdir={logdir}', '--exp_name=full', '--eval_k=5,10', *EVAL)
  return os.path.join(logdir, 'full')


def test_training_writes_config_and_checkpoint(trained):
  config = json.loads(read(os.path.join(trained, 'config.json')))
  assert config['settings']['seed'] == 1
  assert config['settings']['alpha'] == 0.01
  assert config['settings']['hidden'] == [10, 10]
  files = os.listdir(trained)
  assert 'model.ckpt-200.index' in files and 'checkpoint' in files
  assert not any(f.endswith('.meta') for f in files)


def test_evaluation_files(trained):
  for k in (5, 10):
    stats = json.loads(read(os.path.join(trained, RESULTS.format(k) + '.json')))
    assert stats['K'] == k and stats['num_tasks'] == 40
    for name in ('query', 'grid'):
      rows = stats[name]
      assert [r['step'] for r in rows] == list(range(11))
      for field in ('mean_all_tasks', 'ci95_all_tasks', 'median_all_tasks', 'n_diverged',
                    'mean_not_diverged', 'ci95_not_diverged', 'n_worse', 'n_nonfinite'):
        assert field in rows[0]
    header = read(os.path.join(trained, RESULTS.format(k) + '.csv')).splitlines()[0]
    assert header == ('set,step,mean_all_tasks,ci95_all_tasks,median_all_tasks,n_diverged,'
                      'mean_not_diverged,ci95_not_diverged,n_worse,n_nonfinite')
    task_rows = read(os.path.join(trained, RESULTS.format(k) + '_tasks.csv')).splitlines()
    assert len(task_rows) == 41
    # The statistics are those of the per-task losses the CSV holds.
    tasks = list(csv.DictReader(task_rows))
    for name in ('query', 'grid'):
      losses = np.array([[float(t[f'{name}_step{s}']) for t in tasks] for s in range(11)])
      np.testing.assert_allclose([r['mean_all_tasks'] for r in stats[name]], losses.mean(axis=1))
      np.testing.assert_allclose([r['median_all_tasks'] for r in stats[name]],
                                 np.median(losses, axis=1))
      assert [r['n_worse'] for r in stats[name]] == list(np.sum(losses > losses[0], axis=1))


def test_resume_continues_exactly(trained, tmp_path):
  logdir = str(tmp_path)
  args = ['--mode=train', f'--logdir={logdir}', '--exp_name=resumed']
  main(*args, *TINY[1:], '--meta_iterations=100')
  result = main(*args, *TINY, '--resume')
  assert 'training from iteration 100 to 200' in result.stdout
  main('--mode=eval', f'--logdir={logdir}', '--exp_name=resumed', '--eval_k=5,10', *EVAL)
  # Adam slots, the step and the task stream all continue: same numbers as one run.
  resumed = json.loads(read(os.path.join(logdir, 'resumed', RESULTS.format(5) + '.json')))
  full = json.loads(read(os.path.join(trained, RESULTS.format(5) + '.json')))
  assert resumed['query'] == full['query']
