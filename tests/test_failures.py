"""Every failure a user can cause or meet ends in one line and a non-zero exit,
and leaves the last good checkpoint and results as they were."""
import dataclasses
import errno
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from run import checkpoints
from run import evaluation
import FunGenerator
import helpers
from helpers import TINY, assert_one_line_error
from common import interrupts
from run import sampling
from run import settings as run_settings
from run import training
from study import ceiling as study_ceiling
from study import family_fit
import utils
tf = utils.quiet_tensorflow()


@pytest.fixture(scope='module')
def model(tmp_path_factory):
  """A tiny trained and evaluated model; tests work on copies of its folder."""
  path = str(tmp_path_factory.mktemp('logs') / 'm')
  training.train(TINY, path, print_interval=1000, save_interval=20)
  evaluation.evaluate(TINY, path, 5, evaluation.STANDARD_TASKS, evaluation.STANDARD_SEED,
                      TINY.alpha)    # the report's protocol: eval_K5.*
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


def signalled(args, first_line, sig, after=0):
  """Main.py started with `args`, sent `sig` `after` seconds past its first
  stdout line (which must hold `first_line`): (stdout, the completed process
  with its stderr, seconds from the signal to the exit)."""
  process = subprocess.Popen(helpers.main_command(*args), cwd=helpers.ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True)
  assert first_line in process.stdout.readline()
  time.sleep(after)
  sent = time.time()
  process.send_signal(sig)
  stdout, stderr = process.communicate(timeout=120)
  return (stdout, subprocess.CompletedProcess(args, process.returncode, '', stderr),
          time.time() - sent)


@pytest.mark.parametrize('damage, unreadable', [
    ('truncate data', 'model.ckpt-40'), ('truncate index', 'model.ckpt-40'),
    ('delete data', 'model.ckpt-40'), ('delete index', 'model.ckpt-40'),
    ('empty state', 'checkpoint')])
def test_a_broken_checkpoint_is_one_line_and_nothing_changes(copy, damage, unreadable):
  """Finding 6 and 7: a missing newest index (TF would quietly fall back to no
  checkpoint at all) or an empty state file is refused like any broken file;
  training without --resume never replaces what is there."""
  target = {'data': data_file(copy), 'index': tf_checkpoint(copy) + '.index',
            'state': os.path.join(copy, 'checkpoint')}[damage.split()[1]]
  if damage.startswith(('truncate', 'empty')):
    with open(target, 'r+b') as f:
      f.truncate(0 if damage.startswith('empty') else os.path.getsize(target) // 2)
  else:
    os.remove(target)
  before = snapshot(copy)
  broken = f'{os.path.join(copy, unreadable)} cannot be read'
  with pytest.raises(utils.CommandError, match=broken):
    evaluation.evaluate(TINY, copy, 5, 20, 1, TINY.alpha)
  with pytest.raises(utils.CommandError, match=broken):
    training.train(dataclasses.replace(TINY, meta_iterations=60), copy, resume=True)
  with pytest.raises(utils.CommandError, match='already holds a checkpoint .*--resume'):
    training.train(TINY, copy)
  assert snapshot(copy) == before


def test_a_folder_holding_only_parts_of_a_checkpoint_needs_resume(copy, tmp_path):
  """A save killed before its first checkpoint leaves parts: a new run without
  --resume refuses them; --resume clears them and starts from iteration 0, as
  it does in a folder a Ctrl-C left with only its lock (finding 10)."""
  for name in os.listdir(copy):
    if name != '.lock':
      os.remove(os.path.join(copy, name))
  leftover = os.path.join(copy, 'model.ckpt-20.data-00000-of-00001.tempstate123')
  open(leftover, 'w').close()
  with pytest.raises(utils.CommandError, match='already holds a checkpoint .*tempstate123.*'
                     '--resume'):
    training.train(TINY, copy)
  assert os.path.exists(leftover)
  assert training.train(TINY, copy, resume=True) == TINY.meta_iterations
  assert not os.path.exists(leftover)
  only_lock = str(tmp_path / 'stopped')
  os.makedirs(only_lock)
  open(os.path.join(only_lock, '.lock'), 'w').close()
  assert training.train(TINY, only_lock, resume=True) == TINY.meta_iterations


def test_broken_checkpoint_on_the_command_line(copy):
  with open(data_file(copy), 'r+b') as f:
    f.truncate(10)
  assert_one_line_error(main(copy, '--mode=eval'), 'cannot be read', 'retrain', code=1)
  open(os.path.join(copy, 'checkpoint'), 'w').close()
  assert_one_line_error(main(copy, '--mode=eval'), 'checkpoint cannot be read', code=1)


def changed_config(**changes):
  """TINY's config.json text with settings changed (None: the key removed)."""
  settings = {**TINY.to_json(), **changes}
  return json.dumps({'settings': {k: v for k, v in settings.items() if v is not None}})


@pytest.mark.parametrize('config, why', [
    ('{"settings": {"method": "ma', 'JSONDecodeError'), ('{"versions": {}}', 'settings'),
    ('{"settings": {"colour": 1}}', 'missing'), (changed_config(K=None), 'missing K'),
    (changed_config(K='5'), "K='5': an integer >= 1"), (changed_config(K=-1), 'K=-1'),
    (changed_config(alpha=float('nan')), 'alpha=nan: a finite number > 0'),
    (changed_config(family='circle'), "family='circle': one of harmonic, linear"),
    (changed_config(hidden=[]), 'hidden=[]')])
def test_a_broken_config_is_one_line(copy, config, why):
  """Finding 7: every key present, of its type and range, a known family."""
  with open(os.path.join(copy, 'config.json'), 'w') as f:
    f.write(config)
  with pytest.raises(utils.CommandError, match=f'config.json is unreadable .*{re.escape(why)}'):
    checkpoints.load_settings(copy)


def file_size_limit(limit):
  """In the child: writes beyond `limit` bytes fail with EFBIG (no signal)."""
  def apply():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
  return apply


def test_a_failed_result_write_keeps_the_old_file(copy):
  before = snapshot(copy)
  result = main(copy, '--mode=eval', preexec_fn=file_size_limit(1000))
  assert_one_line_error(result, 'eval_K5_tasks.csv: File too large', code=1)
  assert snapshot(copy) == before          # no eval file replaced, no .tmp left


def test_an_evaluations_files_are_replaced_together_or_not_at_all(copy, monkeypatch):
  """The JSON fails after both CSVs were written: none of the three is replaced."""
  before = snapshot(copy)
  def full_disk(_):
    raise OSError(errno.ENOSPC, 'No space left on device')
  monkeypatch.setattr(checkpoints, 'checkpoint_source', full_disk)
  with pytest.raises(OSError, match='No space left'):
    evaluation.evaluate(TINY, copy, 5, evaluation.STANDARD_TASKS, 7, TINY.alpha)
  assert snapshot(copy) == before


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
  _, result, _ = signalled([*folder_flags(copy), '--mode=eval', '--eval_k=5',
                            '--num_eval_tasks=400000'],
                           'evaluated', signal.SIGINT)   # the progress line of the first batch
  assert result.returncode == 130
  assert result.stderr.strip().splitlines() == [
      'error: SIGINT: stopped; files already written are complete (each is written to a '
      'temporary name, then renamed)']
  assert snapshot(copy) == before


def test_leftovers_of_a_killed_save_are_removed_by_the_next_run(copy):
  """TF's and this code's temporary names go; the user's files that look alike stay."""
  leftovers = ('model.ckpt-60.data-00000-of-00001.tempstate123', 'config.json.tmp999-1234',
               'eval_K10.json.old999-1234', 'checkpoint.tmp' + '3f2a' * 8)
  users = ('analysis.tmpl', 'my notes.tmp', 'draft.tmp2', 'checkpoint.tmp3f2a')
  for name in leftovers + users:
    open(os.path.join(copy, name), 'w').close()
  training.train(dataclasses.replace(TINY, meta_iterations=60), copy, resume=True)
  files = os.listdir(copy)
  assert not set(leftovers) & set(files), files
  assert set(users) <= set(files), files
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


def test_a_wide_network_stops_within_seconds(tmp_path):
  """A chunk of 100 iterations of this network takes most of a minute: SIGTERM
  stops it within seconds, saved where it stopped."""
  stdout, result, seconds = signalled(
      ['--mode=train', f'--logdir={tmp_path}', '--exp_name=w', '--hidden=1000,1000',
       '--meta_iterations=1000', '--save_interval=100', '--print_interval=100'],
      'training from iteration 0', signal.SIGTERM, WIDE_TRAINING_SECONDS)
  assert seconds < STOP_SECONDS
  assert 'SIGTERM: stopping after the current step' in stdout
  assert_one_line_error(result, 'SIGTERM at iteration', 'checkpoint saved', code=143)
  assert 0 < checkpoints.checkpoint_step(str(tmp_path / 'w')) < 100    # inside the first chunk


SECOND_SIGNAL = """
import os, signal, sys, threading, time
sys.path.insert(0, '.')
from common import interrupts
with interrupts.recording():
  for after in map(float, sys.argv[1:]):
    threading.Timer(after, os.kill, (os.getpid(), signal.SIGINT)).start()
  time.sleep(60)    # the main thread busy, as inside a long TF call
"""


def test_a_second_signal_stops_at_once_whatever_the_main_thread_does():
  """The first signal is recorded (and said so), the second ends the process
  at once though the main thread never returns to a check."""
  start = time.time()
  second = FIRST_SIGNAL_AFTER + SECOND_SIGNAL_AFTER
  result = subprocess.run([sys.executable, '-c', SECOND_SIGNAL, str(FIRST_SIGNAL_AFTER),
                           str(second)], cwd=helpers.ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
  assert time.time() - start < second + AT_ONCE_SECONDS
  assert 'SIGINT: stopping after the current step' in result.stdout
  assert_one_line_error(result, 'SIGINT again: stopped at once', code=130)


WIDE_TRAINING_SECONDS = 3   # the wide network trains this long before the signal
STOP_SECONDS = 10           # what "within seconds" allows, on a busy 2-core machine
FIRST_SIGNAL_AFTER = 0.5    # seconds after the start of the script
SECOND_SIGNAL_AFTER = 0.2   # as a hand presses Ctrl-C again (at once, two signals are one)
AT_ONCE_SECONDS = 2


def test_a_signal_while_a_long_graph_is_built_stops_at_once(tmp_path):
  """Building 300 unrolled steps takes minutes and no check can cut it short;
  nothing is being written, so the first signal ends the process."""
  _, result, seconds = signalled(
      ['--mode=train', f'--logdir={tmp_path}', '--exp_name=g', '--num_updates=300',
       *helpers.flags_of(TINY, 'hidden', 'meta_batch_size')],
      'building the graph', signal.SIGINT, WIDE_TRAINING_SECONDS)
  assert seconds < AT_ONCE_SECONDS
  assert_one_line_error(result, 'SIGINT while building the graph: stopped at once', code=130)
  assert os.listdir(str(tmp_path / 'g')) == ['.lock']


def test_a_run_stopped_inside_a_chunk_resumes_exactly(tmp_path, monkeypatch):
  """With one iteration per session.run, SIGINT after the 7th stops at 7 (inside
  the first chunk of 20), saved there; resuming to 40 gives, bit for bit, the
  checkpoint of one run in whole chunks."""
  straight = str(tmp_path / 'straight')
  training.train(TINY, straight, save_interval=20)
  monkeypatch.setattr(training, 'RUN_SECONDS', 0.0)     # every run one iteration
  runs = []

  def measured(run_size, iterations, seconds):
    runs.append(iterations)
    if len(runs) == 7:
      os.kill(os.getpid(), signal.SIGINT)   # recorded, seen after this run
    original(run_size, iterations, seconds)
  original = training.RunSize.measured
  monkeypatch.setattr(training.RunSize, 'measured', measured)
  stopped = str(tmp_path / 'stopped')
  with pytest.raises(utils.CommandError, match='SIGINT at iteration 7: checkpoint saved') as e:
    training.train(TINY, stopped, save_interval=20)
  assert e.value.exit_code == 130 and set(runs) == {1}
  monkeypatch.undo()
  training.train(TINY, stopped, resume=True, save_interval=20)
  for name, value in checkpoint_tensors(straight).items():
    np.testing.assert_array_equal(checkpoint_tensors(stopped)[name], value, err_msg=name)
  assert [(h['start'], h['end']) for h in checkpoints.read_config(stopped)[1]] == [
      (0, 7), (7, 40)]


def checkpoint_tensors(path):
  reader = tf.train.load_checkpoint(checkpoints.latest_checkpoint(path))
  return {name: reader.get_tensor(name)
          for name, _ in tf.train.list_variables(checkpoints.latest_checkpoint(path))}


def test_ceiling_fits_stop_their_workers_at_a_signal(tmp_path):
  """Both workers are fitting when SIGINT comes: each stops within a step, and
  no ceiling file is written."""
  timer = threading.Timer(CEILING_RUN_SECONDS, os.kill, (os.getpid(), signal.SIGINT))
  start = time.time()
  with interrupts.recording():
    timer.start()
    try:
      with pytest.raises(interrupts.Stopped, match='SIGINT: stopped'):
        study_ceiling.write_ceilings(str(tmp_path), study_ceiling.CEILING_TASKS, 1,
                                     names=['Fig1', 'square'], workers=2)
    finally:
      timer.cancel()
      timer.join()      # no signal after the block, when pytest would take it
  assert time.time() - start < CEILING_RUN_SECONDS + STOP_SECONDS
  assert not [f for f in os.listdir(str(tmp_path / 'robustness' / 'points'))]


CEILING_RUN_SECONDS = 2     # the fits run this long before the signal (all of them: minutes)


def test_task_generation_stops_within_a_piece_at_a_signal(monkeypatch):
  """Issue 29, finding 16: the held-out tasks of a large evaluation took most
  of a minute to generate (the grids' targets: 9 s at 2,000,000 tasks) with no
  check; a signal now stops it at the next piece of tasks, before the graph is
  built or anything is written."""
  monkeypatch.setattr(sampling, 'PIECE_POINTS', SMALL_PIECE_POINTS)
  made = []

  def targets(generator, x, params, noisy=True):
    made.append(len(x))
    if len(made) == SIGNAL_AT_PIECE:
      os.kill(os.getpid(), signal.SIGINT)    # recorded, seen before the next piece
    return original(generator, x, params, noisy)
  original = FunGenerator.TaskGenerator.targets
  monkeypatch.setattr(FunGenerator.TaskGenerator, 'targets', targets)
  with interrupts.recording():
    with pytest.raises(interrupts.Stopped, match='SIGINT: stopped'):
      sampling.evaluation_tasks(TINY, TINY.K, PIECED_TASKS, 1)
  assert len(made) == SIGNAL_AT_PIECE


@pytest.mark.parametrize('family', sorted(FunGenerator.FAMILIES))
def test_tasks_generated_in_pieces_are_those_of_one_draw(family, monkeypatch):
  """The pieces draw from the generator in task order: every family, noise
  and the oracle's inputs included, gives the numbers of one draw of all the
  tasks (the published evaluations stay byte-identical)."""
  settings = dataclasses.replace(TINY, method='oracle', family=family, ranges=dataclasses.replace(
      TINY.ranges, noise_std=NOISE_STD, frequency=FREQUENCIES))
  whole = sampling.evaluation_tasks(settings, TINY.K, PIECED_TASKS, 1)
  monkeypatch.setattr(sampling, 'PIECE_POINTS', SMALL_PIECE_POINTS)
  pieced = sampling.evaluation_tasks(settings, TINY.K, PIECED_TASKS, 1)
  for name, value in whole.items():
    if name == 'params':
      for param in value:
        np.testing.assert_array_equal(pieced[name][param], value[param], err_msg=param)
    else:     # a set's (x, y), or its network inputs
      np.testing.assert_array_equal(np.asarray(pieced[name]), np.asarray(value), err_msg=name)


def test_a_signal_after_the_last_batch_writes_nothing(copy, monkeypatch):
  """The per-task table of millions of tasks takes minutes to format (110 s
  at 2,000,000 tasks, then every file was written): its rows check for a
  signal, so a signal after the last batch stops before anything is written."""
  def batched_losses(*args):
    losses = original(*args)
    os.kill(os.getpid(), signal.SIGINT)
    return losses
  original = evaluation.batched_losses
  monkeypatch.setattr(evaluation, 'batched_losses', batched_losses)
  before = snapshot(copy)
  with interrupts.recording():
    with pytest.raises(interrupts.Stopped, match='SIGINT: stopped'):
      evaluation.evaluate(TINY, copy, TINY.K, PIECED_TASKS, 1, TINY.alpha, name='eval_K5_other')
  assert snapshot(copy) == before


def test_family_fits_stop_their_workers_at_a_signal():
  """Issue 29, finding 17: a report's family fits (a family of two searched
  frequencies: most of a minute per K) check for a signal before each
  candidate, so both workers stop within one."""
  ranges = dataclasses.replace(TINY.ranges, frequency=FREQUENCIES)
  x, y, _ = FunGenerator.TaskGenerator('sum', ranges, seed=1).sample(FIT_TASKS, max(FIT_KS))
  timer = threading.Timer(FIT_SECONDS, os.kill, (os.getpid(), signal.SIGINT))
  start = time.time()
  with interrupts.recording():
    timer.start()
    try:
      with pytest.raises(interrupts.Stopped, match='SIGINT: stopped'):
        utils.thread_map(lambda k: family_fit.fit('sum', ranges, x[:, :k], y[:, :k]), FIT_KS, 2)
    finally:
      timer.cancel()
      timer.join()      # no signal after the block, when pytest would take it
  assert time.time() - start < FIT_SECONDS + AT_ONCE_SECONDS


SMALL_PIECE_POINTS = 1000   # pieces of 200 tasks of 5 points, 10 of their grids
PIECED_TASKS = 1000
SIGNAL_AT_PIECE = 3
NOISE_STD = 0.3
FREQUENCIES = (0.1, 0.5)    # a searched frequency range (the sum family: two)
FIT_TASKS = 600             # the report's
FIT_KS = (10, 20)           # the report's K, one per worker
FIT_SECONDS = 1             # the fits run this long before the signal


def test_a_signal_during_the_last_save_says_training_finished(tmp_path, monkeypatch, capsys):
  """Issue 29, also seen: a Ctrl-C just after training ended exited 130 with no
  word (or said "continue with --resume", which refuses a finished run).
  Training says it finished and saved before the slow exit, and a signal
  during the last save says the same."""
  done = str(tmp_path / 'done')
  training.train(TINY, done, save_interval=20)
  assert (f'{done}: training finished at iteration {TINY.meta_iterations}; its checkpoint is '
          'saved') in capsys.readouterr().out

  def save_checkpoint(*args):
    original(*args)
    if args[CHECKPOINT_STEP_ARG] == TINY.meta_iterations:
      os.kill(os.getpid(), signal.SIGINT)
  original = checkpoints.save_checkpoint
  monkeypatch.setattr(checkpoints, 'save_checkpoint', save_checkpoint)
  stopped = str(tmp_path / 'stopped')
  with pytest.raises(utils.CommandError, match=f'SIGINT at iteration {TINY.meta_iterations}: '
                     'training had finished and its checkpoint is saved') as e:
    training.train(TINY, stopped, save_interval=20)
  assert e.value.exit_code == 130
  assert checkpoints.checkpoint_step(stopped) == TINY.meta_iterations


CHECKPOINT_STEP_ARG = 5     # save_checkpoint(saver, sess, path, settings, history, step, theta)


def test_resume_continues_the_folder_that_said_pass_resume(copy, tmp_path):
  """Issue 29, also seen: a folder holding only config.json.step700 said
  "pass --resume", and --resume (without --exp_name) said "name the folder
  with --exp_name". It now continues the folder its settings name (a run
  stopped before its first save has no config.json yet); a folder a kill
  left with only the pending config of its checkpoint is found as well."""
  logdir = str(tmp_path / 'first')
  named = os.path.join(logdir, run_settings.experiment_name(TINY))
  os.makedirs(named)
  shutil.copy(os.path.join(copy, 'config.json'), checkpoints.pending_config(named, 700))
  with pytest.raises(utils.CommandError, match='pass --resume'):
    training.train(TINY, named)
  assert checkpoints.find_run(logdir, TINY) == named
  assert training.train(TINY, named, resume=True) == TINY.meta_iterations
  killed = str(tmp_path / 'second' / 'mine')
  shutil.copytree(copy, killed)
  os.replace(os.path.join(killed, 'config.json'),
             checkpoints.pending_config(killed, TINY.meta_iterations))
  assert checkpoints.find_run(os.path.dirname(killed), TINY) == killed
