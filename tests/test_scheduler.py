"""Grouped training (scheduler.py) against the same models trained alone."""
import dataclasses
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from run import checkpoints
from run import evaluation
from run import scheduler
import helpers
from common import fileio
from run import settings as run_settings
from run import training
import utils
tf = utils.quiet_tensorflow()
import maml  # pylint: disable=wrong-import-position

TINY = dataclasses.replace(helpers.TINY, meta_iterations=200, iterations_per_run=50)
# Same graph, different seeds and task families: one group.
MODELS = {'maml_seed1': TINY,
          'maml_seed2_linear': dataclasses.replace(TINY, seed=2, family='linear'),
          'pretrain_seed3': dataclasses.replace(TINY, method='pretrain', seed=3),
          'fo_seed4': dataclasses.replace(TINY, first_order=True, seed=4)}
INTERVALS = {'print_interval': 100, 'save_interval': 100}


def jobs(logdir, models=MODELS):
  return [run_settings.Job(settings, os.path.join(logdir, name)) for name, settings in models.items()]


def checkpoint_tensors(path):
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(path))
  return {name: reader.get_tensor(name) for name, _ in tf.train.list_variables(
      tf.train.latest_checkpoint(path))}


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """(grouped logdir, solo logdir): MODELS trained in groups and one at a time."""
  together, alone = (str(tmp_path_factory.mktemp(name)) for name in ('grouped', 'solo'))
  # Two more MAML models so that the MAML group has three and workers overlap.
  extra = {f'maml_seed{seed}_extra': dataclasses.replace(TINY, seed=seed) for seed in (5, 6)}
  scheduler.train_models(jobs(together, {**MODELS, **extra}), workers=2, **INTERVALS)
  for job in jobs(alone):
    training.train(job.settings, job.path, **INTERVALS)
  return together, alone


def test_plan_groups_by_graph_and_splits_large_groups(tmp_path):
  models = {f'm{seed}': dataclasses.replace(TINY, seed=seed) for seed in range(5)}
  models['pretrain'] = dataclasses.replace(TINY, method='pretrain')
  models['K10'] = dataclasses.replace(TINY, K=10)
  groups = scheduler.plan(jobs(str(tmp_path), models), group_size=3)
  names = sorted(sorted(os.path.basename(j.path) for j in g) for g in groups)
  assert names == [['K10'], ['m0', 'm1', 'm2'], ['m3', 'm4'], ['pretrain']]


def test_initial_theta_is_the_solo_models(tmp_path):
  config = run_settings.model_config(dataclasses.replace(TINY, seed=7))
  tf.reset_default_graph()
  model = maml.MAML(config)
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    alone = sess.run(model.theta)
  together = training.initial_theta(config)
  assert sorted(alone) == sorted(together)
  for name in alone:
    np.testing.assert_array_equal(together[name], alone[name])


def test_scheduler_checkpoints_match_the_models_trained_alone(trained):
  """Same variables (names, shapes, dtypes), same step, and theta and Adam's
  slots equal to float32 tolerance after 200 iterations."""
  together, alone = trained
  for name in MODELS:
    a = checkpoint_tensors(os.path.join(together, name))
    b = checkpoint_tensors(os.path.join(alone, name))
    assert {n: (v.shape, v.dtype) for n, v in a.items()} == {
        n: (v.shape, v.dtype) for n, v in b.items()}, name
    assert a['global_step'] == b['global_step'] == TINY.meta_iterations
    for variable in a:
      np.testing.assert_allclose(a[variable], b[variable], rtol=1e-5, atol=1e-7,
                                 err_msg=f'{name} {variable}')


def test_scheduler_folders_hold_what_a_solo_run_writes(trained):
  together, alone = trained
  for name, settings in MODELS.items():
    path = os.path.join(together, name)
    saved, history = checkpoints.read_config(path)
    assert saved == settings
    assert history == checkpoints.read_config(os.path.join(alone, name))[1]
    assert len(tf.train.get_checkpoint_state(path).all_model_checkpoint_paths) == 2
    record = fileio.read_json(os.path.join(path, 'training_seconds.json'))
    [session] = record['sessions']
    assert (session['start'], session['end']) == (0, settings.meta_iterations)
    assert session['models_in_group'] == record['models_in_group'] >= 1
    assert session['seconds'] == record['seconds'] > 0 and len(session['load_average']) == 2
    assert [p for p in os.listdir(path) if p.startswith('events.')]
    assert checkpoints.checkpoint_step(path) == settings.meta_iterations
    with evaluation.restored(settings, path) as (sess, model):   # evaluation reads it
      assert np.all(np.isfinite(sess.run(model.theta)['w2']))


def test_a_finished_group_is_skipped_and_a_longer_one_resumes_exactly(trained, tmp_path):
  """Training to 100 then asking for 200 gives the 200-iteration checkpoints exactly."""
  together, _ = trained
  assert scheduler.train_models(jobs(together), **INTERVALS) == {}
  half = {name: dataclasses.replace(s, meta_iterations=100) for name, s in MODELS.items()}
  scheduler.train_models(jobs(str(tmp_path), half), **INTERVALS)
  records = scheduler.train_models(jobs(str(tmp_path)), **INTERVALS)
  assert len(records) == len(MODELS)
  for name in MODELS:
    resumed = checkpoint_tensors(os.path.join(str(tmp_path), name))
    straight = checkpoint_tensors(os.path.join(together, name))
    for variable in straight:
      np.testing.assert_array_equal(resumed[variable], straight[variable],
                                    err_msg=f'{name} {variable}')


INTERRUPTED = """
import sys
sys.path.insert(0, 'tests')    # where this file and its helpers are
from run import scheduler
import utils
from test_scheduler import jobs, LONG
try:
  scheduler.train_models(jobs(sys.argv[1], LONG), print_interval=10, save_interval=10 ** 6)
except utils.CommandError as e:
  print(f'error: {e}', file=sys.stderr)
  sys.exit(e.exit_code)
"""
# Long enough to be interrupted; chunks of 10 iterations. Two groups (the MAML
# pair and the baseline), so both workers are training when the signal comes.
LONG = {name: dataclasses.replace(MODELS[name], meta_iterations=10 ** 6, iterations_per_run=10)
        for name in ('maml_seed1', 'maml_seed2_linear', 'pretrain_seed3')}


def test_sigint_saves_every_model_and_a_rerun_resumes_exactly(tmp_path):
  """Ctrl-C during grouped training: exit 130, one line, every model saved (a
  group's models at the same iteration); continuing from there to a common
  count equals training straight to it."""
  logdir = str(tmp_path / 'interrupted')
  process = subprocess.Popen([sys.executable, '-c', INTERRUPTED, logdir], cwd=helpers.ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True)
  started = set()
  while len(started) < 2:    # both groups have printed a progress line
    line = process.stdout.readline()
    if ' it ' in line:
      started.add(line.split(']')[0])
  process.send_signal(signal.SIGINT)
  _, stderr = process.communicate(timeout=120)
  assert process.returncode == 130
  lines = stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(
      'error: SIGINT: stopped; the running groups saved their models at iteration'), stderr
  steps = {name: checkpoints.checkpoint_step(os.path.join(logdir, name)) for name in LONG}
  assert steps['maml_seed1'] == steps['maml_seed2_linear']
  assert all(0 < step < 10 ** 6 for step in steps.values())
  total = max(steps.values()) + 30
  more = {name: dataclasses.replace(s, meta_iterations=total) for name, s in LONG.items()}
  scheduler.train_models(jobs(logdir, more), print_interval=10, save_interval=10 ** 6)
  straight = str(tmp_path / 'straight')
  scheduler.train_models(jobs(straight, more), print_interval=10, save_interval=10 ** 6)
  for name in LONG:
    resumed = checkpoint_tensors(os.path.join(logdir, name))
    for variable, value in checkpoint_tensors(os.path.join(straight, name)).items():
      np.testing.assert_array_equal(resumed[variable], value, err_msg=f'{name} {variable}')
    history = checkpoints.read_config(os.path.join(logdir, name))[1]
    assert [(h['start'], h['end']) for h in history] == [(0, steps[name]),
                                                         (steps[name], total)]
    # Both sessions counted in the training time, the interrupted one too.
    record = fileio.read_json(os.path.join(logdir, name, 'training_seconds.json'))
    assert [(s['start'], s['end']) for s in record['sessions']] == [(0, steps[name]),
                                                                    (steps[name], total)]
    assert record['seconds'] == pytest.approx(sum(s['seconds'] for s in record['sessions']))


def test_the_grouped_op_reports_each_models_own_losses():
  """The chunk's mean pre-update loss, meta-loss and finite count of each model
  equal what MAML.train_op reports for that model alone (float64)."""
  config = maml.MAMLConfig(dim_hidden=(6, 5), dtype='float64', alpha=0.1)
  rng = np.random.RandomState(3)
  data = [[rng.uniform(-2, 2, (4, 3, 5, 1)) for _ in range(4)] for _ in range(2)]
  thetas, alone = [], []
  for m, chunk in enumerate(data):
    tf.reset_default_graph()
    model = maml.MAML(dataclasses.replace(config, seed=m), meta_batch_size=3, num_support=5,
                      num_query=5)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      thetas.append(sess.run(model.theta))
      alone.append(sess.run(model.train_op, dict(zip(model.train_feeds, chunk))))
  tf.reset_default_graph()
  model = maml.GroupedMAML(config, 2, meta_batch_size=3, num_support=5, num_query=5)
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for name, variable in model.theta.items():
      variable.load(np.stack([theta[name] for theta in thetas]), sess)
    together = sess.run(model.train_op, dict(zip(
        model.train_feeds, [np.stack(arrays, 1) for arrays in zip(*data)])))
  for m in range(2):
    np.testing.assert_allclose([value[m] for value in together], alone[m], rtol=1e-12)
