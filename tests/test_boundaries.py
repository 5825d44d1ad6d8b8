"""Nothing outside its folder, nothing half-replaced: paths from files the
code reads stay in the folder its flags name, no lock, temporary or input
follows a link or a special file, a set of files is replaced together or not
at all, and output is printed whatever the locale."""
import os
import shutil
import subprocess

import pytest

from common import fileio
import helpers
from helpers import TINY, assert_one_line_error
from run import checkpoints
from run import evaluation
from run import training
from study import protocols
from utils import CommandError


@pytest.fixture(scope='module')
def model(tmp_path_factory):
  """A tiny trained model with two checkpoints (20 and 40) and an eval_K5 set."""
  path = str(tmp_path_factory.mktemp('boundaries') / 'm')
  training.train(TINY, path, print_interval=1000, save_interval=20)
  evaluation.evaluate(TINY, path, 5, evaluation.STANDARD_TASKS, evaluation.STANDARD_SEED,
                      TINY.alpha)
  return path


@pytest.fixture
def two(model, tmp_path):
  """(a copy of the model, a second copy beside it: the one a hostile edit aims at)."""
  mine, other = str(tmp_path / 'mine'), str(tmp_path / 'other')
  shutil.copytree(model, mine)
  shutil.copytree(model, other)
  return mine, other


def run_in(path, *args, **popen):
  return helpers.run_main(f'--logdir={os.path.dirname(path)}',
                          f'--exp_name={os.path.basename(path)}', *args, **popen)


def test_a_state_file_naming_another_folder_is_refused(two):
  """An edited `checkpoint` file naming the other folder's checkpoints: resume
  would let TF's max_to_keep delete them, eval would use the other model."""
  mine, other = two
  state = os.path.join(mine, 'checkpoint')
  with open(state, 'w') as f:
    f.write(f'model_checkpoint_path: "{other}/model.ckpt-40"\n'
            f'all_model_checkpoint_paths: "{other}/model.ckpt-20"\n'
            f'all_model_checkpoint_paths: "{other}/model.ckpt-40"\n')
  before = sorted(os.listdir(other))
  for args in (('--mode=train', '--resume', '--meta_iterations=80', '--save_interval=10'),
               ('--mode=eval', '--eval_k=5')):
    assert_one_line_error(run_in(mine, *args), 'outside')
  assert sorted(os.listdir(other)) == before


def test_a_relative_state_file_path_leaving_the_folder_is_refused(two):
  mine, other = two
  with open(os.path.join(mine, 'checkpoint'), 'w') as f:
    f.write('model_checkpoint_path: "model.ckpt-40"\n'
            f'all_model_checkpoint_paths: "../{os.path.basename(other)}/model.ckpt-20"\n')
  with pytest.raises(CommandError, match='outside'):
    checkpoints.latest_checkpoint(mine)


def test_a_lock_that_is_a_link_is_refused_and_its_target_untouched(two, tmp_path):
  mine, _ = two
  target = tmp_path / 'precious.txt'
  target.write_text('keep me')
  lock = os.path.join(mine, '.lock')
  if os.path.exists(lock):
    os.remove(lock)
  os.symlink(str(target), lock)
  assert_one_line_error(run_in(mine, '--mode=eval', '--eval_k=5'), 'symbolic link')
  assert target.read_text() == 'keep me'


def test_a_config_that_is_a_named_pipe_is_one_line_not_a_hang(two):
  mine, _ = two
  config = os.path.join(mine, 'config.json')
  os.remove(config)
  os.mkfifo(config)
  result = run_in(mine, '--mode=eval', '--eval_k=5')    # helpers' timeout ends a hang
  assert_one_line_error(result, 'config.json', 'not a regular file')


def test_a_set_is_replaced_together_or_not_at_all(tmp_path):
  """The second file of a set cannot be replaced (a folder stands at its name,
  as an immutable file would stop it): the first keeps its old text, and no
  temporary or backup file is left."""
  first, second = str(tmp_path / 'a.csv'), str(tmp_path / 'a.json')
  fileio.atomic_write(first, 'old')
  os.mkdir(second)
  with pytest.raises(OSError):
    with fileio.replaced_together():
      fileio.atomic_write(first, 'new')
      fileio.atomic_write(second, 'new')
  assert open(first).read() == 'old'
  assert sorted(os.listdir(str(tmp_path))) == ['a.csv', 'a.json']


@pytest.mark.parametrize('environment', [{'PYTHONIOENCODING': 'ascii'},
                                         {'LC_ALL': 'C', 'PYTHONUTF8': '0'}])
def test_output_prints_in_any_locale(model, environment):
  """The summary holds '±': it must print (as '?' where the locale cannot)."""
  result = run_in(model, '--mode=eval', '--eval_k=5',
                  env={**os.environ, **environment})
  assert result.returncode == 0, result.stderr
  assert 'query MSE' in result.stdout


def test_help_into_a_full_disk_is_one_line():
  result = subprocess.run(f'{" ".join(helpers.main_command("--helpfull"))} > /dev/full',
                          shell=True, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=60)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines() == [
      'error: the output cannot be written (No space left on device)']


def test_a_config_of_other_hidden_sizes_than_its_checkpoint_is_one_line(two):
  """config.json edited to a 40 network on a 40x40 checkpoint: checked against
  the checkpoint's shapes before restoring (TF would restore it silently)."""
  mine, _ = two
  config = os.path.join(mine, 'config.json')
  data = fileio.read_json(config)
  data['settings']['hidden'] = [TINY.hidden[0]]
  fileio.write_json(config, data)
  assert_one_line_error(run_in(mine, '--mode=eval', '--eval_k=5'), 'of shape', 'need')


def test_a_dashboard_of_a_resumed_run_refuses_the_old_evaluation(two):
  """eval, then train further, then plot: the MSE panel would be the old
  checkpoint's beside the new model's curves."""
  mine, _ = two
  img = os.path.join(mine, 'img')
  flags = ('--eval_k=5', f'--img_dir={img}')
  assert run_in(mine, '--mode=plot', *flags).returncode == 0
  assert os.listdir(img) == ['mine_K5.png']
  resumed = run_in(mine, '--mode=train', '--resume', f'--meta_iterations={TINY.meta_iterations + 20}',
                   '--save_interval=20', *helpers.flags_of(TINY, 'K', 'meta_batch_size', 'hidden',
                                                          'iterations_per_run'))
  assert resumed.returncode == 0, resumed.stderr
  assert_one_line_error(run_in(mine, '--mode=plot', *flags), 'not of the checkpoint',
                        'rewrite it with --mode=eval')


def test_a_dashboard_of_another_logdir_goes_beside_it_not_into_img(two):
  """A run of the same name in another --logdir: its figure goes to
  <logdir>/Img, never over the project's tracked Img/ figure."""
  mine, _ = two
  result = run_in(mine, '--mode=plot', '--eval_k=5')
  assert result.returncode == 0, result.stderr
  assert os.listdir(os.path.join(os.path.dirname(mine), 'Img')) == ['mine_K5.png']


@pytest.mark.parametrize('cut', [lambda rows: rows[:3], lambda rows: [], lambda rows: 'x'])
def test_an_evaluation_file_missing_steps_is_one_line_before_drawing(two, cut):
  mine, _ = two
  path = os.path.join(mine, 'eval_K5.json')
  data = fileio.read_json(path)
  data['query'] = cut(data['query'])
  fileio.write_json(path, data)
  assert_one_line_error(run_in(mine, '--mode=plot', '--eval_k=5',
                               f'--img_dir={os.path.join(mine, "img")}'), 'is incomplete')


def test_a_point_file_missing_a_step_is_named():
  """A point file whose statistics lack a step: the check names what is missing."""
  data = fileio.read_json(os.path.join(helpers.ROOT, 'logs', 'robustness', 'points', 'Fig1.json'))
  assert protocols.missing_results(data) == []
  del data['results']['20']['maml']['protocols']['in_range']['20']
  assert protocols.missing_results(data) == ['results/20/maml/protocols/in_range/20']
  del data['results']['10']
  assert 'results/10' in protocols.missing_results(data)


def test_a_missing_paper_model_is_refused_not_left_out(tmp_path):
  """A paper model's folder gone: table 2 and figure 3 would silently drop it."""
  from paper import models as paper_models
  from publish import checks
  logdir = tmp_path / 'logs'
  shutil.copytree(os.path.join(helpers.ROOT, 'logs', 'paper'), str(logdir / 'paper'),
                  ignore=shutil.ignore_patterns('model.ckpt-*', 'events.*'))
  gone = sorted(paper_models.models())[0]
  shutil.rmtree(str(logdir / 'paper' / gone))
  with pytest.raises(CommandError, match='missing'):
    checks.paper_results(str(logdir))


def test_settling_the_config_removes_only_its_own_pending_files(two):
  """A user's `config.json.step_notes.txt` beside a run survives a resume."""
  mine, _ = two
  for name in ('config.json.step_notes.txt', 'config.json.stepfather'):
    with open(os.path.join(mine, name), 'w') as f:
      f.write('keep me')
  with open(os.path.join(mine, 'config.json.step7'), 'w') as f:
    f.write('{}')                  # a pending config of a step never saved: removed
  checkpoints.settle_config(mine)
  names = os.listdir(mine)
  assert {'config.json.step_notes.txt', 'config.json.stepfather'} <= set(names)
  assert 'config.json.step7' not in names
