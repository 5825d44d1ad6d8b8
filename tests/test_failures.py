"""Every failure a user can cause or meet ends in one line and a non-zero exit,
and leaves the last good checkpoint and results as they were."""
import dataclasses
import os
import resource
import shutil
import signal
import subprocess

import pytest

import checkpoints
import evaluation
import helpers
from helpers import TINY, assert_one_line_error
import training
import utils
tf = utils.quiet_tensorflow()


@pytest.fixture(scope='module')
def model(tmp_path_factory):
  """A tiny trained and evaluated model; tests work on copies of its folder."""
  path = str(tmp_path_factory.mktemp('logs') / 'm')
  training.train(TINY, path, print_interval=1000, save_interval=20)
  evaluation.evaluate(TINY, path, 5, 20, 1, TINY.alpha)
  return path


@pytest.fixture
def copy(model, tmp_path):
  target = str(tmp_path / 'm')
  shutil.copytree(model, target)
  return target


def snapshot(path):
  """{file: bytes} of a folder, to prove a failure changed nothing."""
  files = {}
  for name in sorted(os.listdir(path)):
    if name != '.lock':
      with open(os.path.join(path, name), 'rb') as f:
        files[name] = f.read()
  return files


def folder_flags(path):
  return [f'--logdir={os.path.dirname(path)}', f'--exp_name={os.path.basename(path)}']


def main(path, *args, preexec_fn=None):
  return helpers.run_main(*folder_flags(path), *args, preexec_fn=preexec_fn)


def data_file(path):
  return tf_checkpoint(path) + '.data-00000-of-00001'


def tf_checkpoint(path):
  return tf.train.latest_checkpoint(path)


@pytest.mark.parametrize('damage', ['truncate data', 'truncate index', 'delete data'])
def test_a_broken_checkpoint_is_one_line_and_nothing_changes(copy, damage):
  target = data_file(copy) if 'data' in damage else tf_checkpoint(copy) + '.index'
  if damage.startswith('truncate'):
    with open(target, 'r+b') as f:
      f.truncate(os.path.getsize(target) // 2)
  else:
    os.remove(target)
  before = snapshot(copy)
  with pytest.raises(utils.CommandError, match='model.ckpt-40 cannot be read'):
    evaluation.evaluate(TINY, copy, 5, 20, 1, TINY.alpha)
  with pytest.raises(utils.CommandError, match='model.ckpt-40 cannot be read'):
    training.train(dataclasses.replace(TINY, meta_iterations=60), copy, resume=True)
  assert snapshot(copy) == before


def test_broken_checkpoint_on_the_command_line(copy):
  with open(data_file(copy), 'r+b') as f:
    f.truncate(10)
  assert_one_line_error(main(copy, '--mode=eval'), 'cannot be read', 'retrain', code=1)


@pytest.mark.parametrize('config', ['{"settings": {"method": "ma', '{"versions": {}}',
                                    '{"settings": {"colour": 1}}'])
def test_a_broken_config_is_one_line(copy, config):
  with open(os.path.join(copy, 'config.json'), 'w') as f:
    f.write(config)
  with pytest.raises(utils.CommandError, match='config.json is unreadable'):
    checkpoints.load_settings(copy)


def file_size_limit(limit):
  """In the child: writes beyond `limit` bytes fail with EFBIG (no signal)."""
  def apply():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
  return apply


def test_a_failed_result_write_keeps_the_old_file(copy):
  before = snapshot(copy)
  result = main(copy, '--mode=eval', '--num_eval_tasks=20', '--eval_seed=1',
                preexec_fn=file_size_limit(1000))
  assert_one_line_error(result, 'eval_K5.json: File too large', code=1)
  assert snapshot(copy) == before          # no eval file replaced, no .tmp left


def test_a_failed_checkpoint_save_keeps_the_last_good_one(copy):
  before = snapshot(copy)
  result = main(copy, '--mode=train', '--resume',
                *helpers.flags_of(TINY, 'K', 'meta_batch_size', 'hidden', 'iterations_per_run'),
                '--meta_iterations=60', preexec_fn=file_size_limit(600))
  assert_one_line_error(result, 'cannot save a checkpoint', 'model.ckpt-40', '--resume', code=1)
  after = snapshot(copy)
  assert {n: after[n] for n in before if not n.startswith('events')} == {
      n: before[n] for n in before if not n.startswith('events')}
  assert not [n for n in after if 'tempstate' in n or '.tmp' in n]


def test_an_interrupted_evaluation_exits_130_and_keeps_the_results(copy):
  before = snapshot(copy)
  command = helpers.main_command(*folder_flags(copy), '--mode=eval', '--eval_k=5',
                                 '--num_eval_tasks=400000')
  process = subprocess.Popen(command, cwd=helpers.ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True)
  assert 'evaluated' in process.stdout.readline()     # the progress line of the first batch
  process.send_signal(signal.SIGINT)
  _, stderr = process.communicate(timeout=120)
  assert process.returncode == 130
  assert stderr.strip().splitlines() == [
      'error: SIGINT: stopped; files already written are complete (each is written to a '
      'temporary name, then renamed)']
  assert snapshot(copy) == before


def test_leftovers_of_a_killed_save_are_removed_by_the_next_run(copy):
  for leftover in ('model.ckpt-60.data-00000-of-00001.tempstate123', 'config.json.tmp999',
                   'checkpoint.tmp3f2a'):
    open(os.path.join(copy, leftover), 'w').close()
  training.train(dataclasses.replace(TINY, meta_iterations=60), copy, resume=True)
  files = os.listdir(copy)
  assert not [f for f in files if 'tempstate' in f or '.tmp' in f], files
  assert sorted(f for f in files if f.endswith('.index')) == [
      'model.ckpt-40.index', 'model.ckpt-60.index']


def test_a_kill_between_checkpoint_and_config_loses_nothing(copy):
  """The config of a step is written before its checkpoint and renamed after:
  killed in between, the pending config is the one that describes the checkpoint;
  a pending config of a step never saved is dropped."""
  config = os.path.join(copy, 'config.json')
  os.replace(config, checkpoints.pending_config(copy, 40))
  shutil.copy(checkpoints.pending_config(copy, 40), checkpoints.pending_config(copy, 60))
  assert checkpoints.load_settings(copy) == TINY
  training.train(dataclasses.replace(TINY, meta_iterations=80), copy, resume=True)
  assert not [f for f in os.listdir(copy) if f.startswith('config.json.step')]
  assert checkpoints.read_config(copy)[1][-1] == {'start': 40, 'end': 80, 'beta': TINY.beta}
