"""Bad input, interruption, divergence and determinism: never lose work, always say why."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ['--hidden=8,8', '--iterations_per_run=20']
TRAIN = ['--print_interval=100']
EVAL = ['--num_eval_tasks=20']


def command(logdir, *args):
  """Main.py with tiny settings; the flags of the mode in `args` (train by default)."""
  mode = next((a for a in args if a.startswith('--mode=')), '--mode=train')
  extra = EVAL if mode == '--mode=eval' else TRAIN if mode == '--mode=train' else []
  return [sys.executable, os.path.join(ROOT, 'Main.py'), f'--logdir={logdir}', *TINY, *extra,
          *args]


def run(logdir, *args):
  return subprocess.run(command(logdir, *args), cwd=ROOT, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, universal_newlines=True, timeout=300)


def assert_one_line_error(result, *fragments):
  assert result.returncode != 0
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr
  assert 'Traceback' not in result.stderr
  for fragment in fragments:
    assert fragment in lines[0], lines[0]


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
    ('--x_range=3,-3', 'min <= max'), ('--family=circle', 'sinusoid'),
    ('--mode=fly', 'train'), ('--method=magic', 'pretrain'), ('--hidden=40,x', 'integers'),
    ('--mix=2,1', 'min <= max'), ('--noise_std=-1', '>= 0'),
])
def test_bad_flag_is_one_line(tmp_path, flag, allowed):
  result = run(tmp_path, flag)
  assert_one_line_error(result, flag.split('=')[0], allowed)
  assert os.listdir(str(tmp_path)) == []


def test_unknown_study_point(tmp_path):
  result = subprocess.run([sys.executable, os.path.join(ROOT, 'Main.py'), '--mode=point',
                           '--point=Fig9', f'--logdir={tmp_path}'], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300)
  assert_one_line_error(result, '--point=Fig9', 'Fig1', 'amplitude_10')
  assert os.listdir(str(tmp_path)) == []


def test_eval_without_checkpoint(tmp_path):
  assert_one_line_error(run(tmp_path, '--mode=eval', '--exp_name=none'), 'no trained checkpoint')


def test_unwritable_logdir(tmp_path):
  blocker = tmp_path / 'file'
  blocker.write_text('not a folder')
  assert_one_line_error(run(blocker, '--mode=train', '--meta_iterations=20'),
                        '--logdir', 'cannot write')


def test_checkpoint_mismatch_names_both_settings(tmp_path):
  assert run(tmp_path, '--mode=train', '--exp_name=m', '--meta_iterations=20').returncode == 0
  result = run(tmp_path, '--mode=eval', '--exp_name=m', '--hidden=16,16')
  assert_one_line_error(result, '--hidden=(16, 16)', 'hidden=(8, 8)')
  result = run(tmp_path, '--mode=train', '--exp_name=m', '--meta_iterations=40', '--resume',
               '--method=oracle')
  assert_one_line_error(result, 'method=maml', 'method=oracle')
  result = run(tmp_path, '--mode=train', '--exp_name=m', '--meta_iterations=40')
  assert_one_line_error(result, 'already holds a checkpoint', '--resume')
  assert checkpoint_steps(str(tmp_path / 'm')) == [20]


def test_divergence_stops_and_keeps_last_good_checkpoint(tmp_path):
  assert run(tmp_path, '--mode=train', '--exp_name=d', '--meta_iterations=40',
             '--save_interval=20').returncode == 0
  # A huge meta step size makes the meta-loss overflow within a few iterations.
  result = run(tmp_path, '--mode=train', '--exp_name=d', '--meta_iterations=400',
               '--resume', '--beta=1e30')
  assert_one_line_error(result, 'non-finite at iteration', 'model.ckpt-40')
  assert checkpoint_steps(str(tmp_path / 'd')) == [20, 40]


def test_diverging_tasks_are_counted_in_evaluation(tmp_path):
  assert run(tmp_path, '--mode=train', '--exp_name=e', '--meta_iterations=20').returncode == 0
  assert run(tmp_path, '--mode=eval', '--exp_name=e', '--eval_alpha=1e6').returncode == 0
  with open(tmp_path / 'e' / 'eval_K10.json') as f:
    stats = json.loads(f.read())['query']
  assert stats[-1]['n_worse'] + stats[-1]['n_nonfinite'] > 0


def wait_for(predicate, timeout=120):
  deadline = time.time() + timeout
  while not predicate():
    assert time.time() < deadline, 'timed out'
    time.sleep(0.05)


@pytest.mark.parametrize('sig', [signal.SIGKILL, signal.SIGTERM])
def test_interrupted_training_resumes(tmp_path, sig):
  path = str(tmp_path / 'k')
  args = ['--mode=train', '--exp_name=k', '--meta_iterations=100000', '--save_interval=200']
  process = subprocess.Popen(command(tmp_path, *args), cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True)
  wait_for(lambda: os.path.exists(os.path.join(path, 'checkpoint')))
  process.send_signal(sig)
  _, stderr = process.communicate(timeout=120)
  assert process.returncode != 0
  if sig == signal.SIGTERM:
    assert 'SIGTERM at iteration' in stderr and 'Traceback' not in stderr
  saved = latest_step(path)
  assert saved > 0
  with open(os.path.join(path, 'config.json')) as f:
    json.load(f)
  total = saved + 200
  result = run(tmp_path, *args[:3], f'--meta_iterations={total}', '--save_interval=200',
               '--resume')
  assert result.returncode == 0, result.stderr
  assert f'training from iteration {saved} to {total}' in result.stdout
  assert latest_step(path) == total


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
  outputs = {}
  for name, seed in (('a', 1), ('b', 1), ('c', 2)):
    assert run(tmp_path, f'--exp_name={name}', f'--seed={seed}', '--mode=train',
               '--meta_iterations=40').returncode == 0
    assert run(tmp_path, f'--exp_name={name}', f'--seed={seed}', '--mode=eval').returncode == 0
    with open(tmp_path / name / 'eval_K10_tasks.csv', 'rb') as f:
      outputs[name] = f.read()
  assert outputs['a'] == outputs['b']
  assert outputs['a'] != outputs['c']
