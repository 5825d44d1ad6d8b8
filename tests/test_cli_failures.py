"""Bad input, interruption, divergence and determinism: never lose work, always say why.

Flag checks run in this process (Main.run raises the CommandError that Main.main
prints as one line); the end-to-end tests below them run Main.py as a user would.
"""
import json
import os
import resource
import signal
import subprocess
import time

import pytest

from run import checkpoints
import helpers
from helpers import assert_one_line_error
import utils
from utils import CommandError

TINY = helpers.flags_of(helpers.TINY, 'hidden', 'iterations_per_run')
TRAIN = ['--mode=train', '--print_interval=100', *TINY]
EVAL = ['--mode=eval', '--num_eval_tasks=20']


def run(logdir, *args):
  return helpers.run_main(f'--logdir={logdir}', *args)


def latest_step(path):
  """The step the `checkpoint` state file points to (TF updates it atomically)."""
  with open(os.path.join(path, 'checkpoint')) as f:
    first = f.readline()
  return int(first.split('-')[-1].strip().strip('"'))


def checkpoint_steps(path):
  return sorted(int(f.split('-')[1].split('.')[0]) for f in os.listdir(path)
                if f.startswith('model.ckpt-') and f.endswith('.index'))


@pytest.mark.parametrize('flag, allowed', [
    ('--K=0', '>= 1'), ('--meta_batch_size=0', '>= 1'), ('--num_updates=0', '>= 1'),
    ('--test_num_updates=-1', '>= 1'), ('--alpha=0', '> 0'), ('--alpha=nan', '> 0'),
    ('--beta=-0.1', '> 0'), ('--beta=inf', '> 0'), ('--amplitude=5,0.1', 'min <= max'),
    ('--x_range=3,-3', 'min <= max'), ('--x_range=0,0', 'min < max'),
    ('--family=circle', 'sinusoid'),
    ('--mode=fly', 'train'), ('--method=magic', 'pretrain'), ('--hidden=40,x', 'integers'),
    ('--mix=2,1', 'min <= max'), ('--noise_std=-1', '>= 0'), ('--hidden=', 'at least one'),
    ('--seed=-1', '[0, 4294967295]'), ('--seed=4294967296', '[0, 4294967295]'),
    ('--K=100000000', 'exceeds what a TF shape holds'),
    ('--hidden=100000,100000', 'would need about'), ('--num_updates=1001', 'at most 1000'),
    ('--test_num_updates=100000', 'at most 1000'), ('--exp_name=../../x', 'one folder name'),
])
def test_bad_flag_is_refused_before_anything_is_written(main, tmp_path, flag, allowed):
  mode = ['--mode=train'] if flag.startswith('--mode') is False else []
  with pytest.raises(CommandError) as error:
    main(f'--logdir={tmp_path}', *mode, flag)
  assert flag.split('=')[0] in str(error.value) and allowed in str(error.value)
  assert os.listdir(str(tmp_path)) == []


def test_the_memory_check_counts_an_address_space_limit(monkeypatch):
  """Finding 10: under ulimit -v the memory a run may have is the limit less
  what the process maps already, not the machine's free memory."""
  limit = 2 ** 30 + utils.proc_kilobytes('/proc/self/status', 'VmSize')
  monkeypatch.setattr(resource, 'getrlimit', lambda _: (limit, resource.RLIM_INFINITY))
  assert 0 < utils.available_bytes() <= 2 ** 30


def test_a_refusal_is_one_line_on_the_command_line(tmp_path):
  assert_one_line_error(run(tmp_path, '--mode=point', '--point=Fig9'), '--point=Fig9',
                        'Fig1', 'amplitude_10')
  assert os.listdir(str(tmp_path)) == []


def test_eval_without_checkpoint(main, tmp_path):
  with pytest.raises(CommandError, match='no trained checkpoint'):
    main(f'--logdir={tmp_path}', *EVAL, '--exp_name=none')


def test_unwritable_logdir(main, tmp_path):
  blocker = tmp_path / 'file'
  blocker.write_text('not a folder')
  with pytest.raises(CommandError, match='--logdir'):
    main(f'--logdir={blocker}', *TRAIN, '--meta_iterations=20')


def test_checkpoint_mismatch_names_both_settings(main, tmp_path):
  main(f'--logdir={tmp_path}', *TRAIN, '--exp_name=m', '--meta_iterations=20')
  with pytest.raises(CommandError, match=r'--hidden=\(16, 16\).*hidden=\(8, 8\)'):
    main(f'--logdir={tmp_path}', *EVAL, '--exp_name=m', '--hidden=16,16')
  with pytest.raises(CommandError, match='method=maml.*method=oracle'):
    main(f'--logdir={tmp_path}', *TRAIN, '--exp_name=m', '--meta_iterations=40', '--resume',
         '--method=oracle')
  with pytest.raises(CommandError, match='already holds a checkpoint.*--resume'):
    main(f'--logdir={tmp_path}', *TRAIN, '--exp_name=m', '--meta_iterations=40')
  assert checkpoint_steps(str(tmp_path / 'm')) == [20]


def test_divergence_stops_and_keeps_last_good_checkpoint(main, tmp_path):
  main(f'--logdir={tmp_path}', *TRAIN, '--exp_name=d', '--meta_iterations=40',
       '--save_interval=20')
  # A huge meta step size makes the meta-loss overflow within a few iterations.
  with pytest.raises(CommandError, match='non-finite at iteration.*model.ckpt-40'):
    main(f'--logdir={tmp_path}', *TRAIN, '--exp_name=d', '--meta_iterations=400', '--resume',
         '--beta=1e30')
  assert checkpoint_steps(str(tmp_path / 'd')) == [20, 40]


def test_non_finite_weights_are_never_saved(main, tmp_path):
  """An infinite Adam step (beta overflows float32) makes theta non-finite in
  the last iteration of a chunk, whose loss was computed before the update and
  is finite: the save refuses the weights."""
  train = [*TRAIN, '--exp_name=w', '--iterations_per_run=1', '--save_interval=20']
  main(f'--logdir={tmp_path}', *train, '--meta_iterations=20')
  with pytest.raises(CommandError, match='theta became non-finite.*model.ckpt-20'):
    main(f'--logdir={tmp_path}', *train, '--meta_iterations=21', '--resume', '--beta=1e39')
  assert checkpoint_steps(str(tmp_path / 'w')) == [20]


def test_diverging_tasks_are_counted_in_evaluation(main, tmp_path):
  main(f'--logdir={tmp_path}', *TRAIN, '--exp_name=e', '--meta_iterations=20')
  main(f'--logdir={tmp_path}', *EVAL, '--exp_name=e', '--eval_alpha=1e6')
  with open(tmp_path / 'e' / 'eval_K10_20tasks_alpha1000000.0.json') as f:
    stats = json.loads(f.read())['query']
  assert stats[0]['n_worse'] == 0 and stats[0]['n_nonfinite'] == 0
  assert stats[-1]['n_worse'] + stats[-1]['n_nonfinite'] == stats[-1]['n_tasks'] == 20


def wait_for(predicate, timeout=120):
  deadline = time.time() + timeout
  while not predicate():
    assert time.time() < deadline, 'timed out'
    time.sleep(0.05)


@pytest.mark.parametrize('sig', [signal.SIGKILL, signal.SIGTERM])
def test_interrupted_training_resumes(tmp_path, sig):
  path = str(tmp_path / 'k')
  args = [*TRAIN, '--exp_name=k', '--save_interval=200']
  process = subprocess.Popen(helpers.main_command(f'--logdir={tmp_path}', *args,
                                                  '--meta_iterations=100000'), cwd=helpers.ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True)
  wait_for(lambda: os.path.exists(os.path.join(path, 'checkpoint')))
  process.send_signal(sig)
  _, stderr = process.communicate(timeout=120)
  assert process.returncode == (143 if sig == signal.SIGTERM else -signal.SIGKILL)
  if sig == signal.SIGTERM:
    assert_one_line_error(subprocess.CompletedProcess([], 143, '', stderr),
                          'SIGTERM at iteration', 'checkpoint saved')
  saved = latest_step(path)
  assert saved > 0
  # A kill between the save and the rename of its config leaves the pending one.
  assert checkpoints.read_config(path)[1][-1]['end'] == saved
  total = saved + 200
  result = run(tmp_path, *args, f'--meta_iterations={total}', '--resume')
  assert result.returncode == 0, result.stderr
  assert f'training from iteration {saved} to {total}' in result.stdout
  assert latest_step(path) == total


def test_same_seed_same_bytes_other_seed_other_bytes(main, tmp_path):
  outputs = {}
  for name, seed in (('a', 1), ('b', 1), ('c', 2)):
    main(f'--logdir={tmp_path}', *TRAIN, f'--exp_name={name}', f'--seed={seed}',
         '--meta_iterations=40')
    main(f'--logdir={tmp_path}', *EVAL, f'--exp_name={name}')
    with open(tmp_path / name / 'eval_K10_20tasks_tasks.csv', 'rb') as f:
      outputs[name] = f.read()
  assert outputs['a'] == outputs['b']
  assert outputs['a'] != outputs['c']
