"""Every mode keeps its word: flags apply or are refused, a checkpoint's settings
are what evaluation uses, one run per folder, resume keeps its history."""
import contextlib
import os
import shutil
import subprocess
import time

from absl import flags
import pytest

from run import checkpoints
import helpers
from helpers import ROOT
from common import fileio
import Main
from publish import report_modes
from run import settings as run_settings
import utils

FLAGS = flags.FLAGS
TINY = helpers.flags_of(helpers.TINY, 'hidden', 'iterations_per_run', 'K', 'meta_batch_size')


def own_flags():
  return sorted(f.name for f in FLAGS.get_key_flags_for_module(Main))


def test_every_flag_belongs_to_a_mode():
  used = {name for names in Main.MODE_FLAGS.values() for name in names} | {'mode'}
  assert set(own_flags()) == used


@pytest.mark.parametrize('mode', Main.MODES)
def test_each_mode_refuses_the_flags_it_does_not_use(main, mode, tmp_path):
  logdir = [f'--logdir={tmp_path}'] if 'logdir' in Main.MODE_FLAGS[mode] else []
  for name in own_flags():
    if name in Main.MODE_FLAGS[mode] or name == 'mode':
      continue
    # The flag's own default value: refused for being given, not for its value.
    given = f'--{name}=1' if FLAGS[name].default is None else FLAGS[name].serialize()
    with pytest.raises(utils.CommandError, match=f'--{name} does not apply to --mode={mode}'):
      main(f'--mode={mode}', given, *logdir)
  assert os.listdir(str(tmp_path)) == []


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """A tiny trained model (K=5) and its folder."""
  logdir = tmp_path_factory.mktemp('logs')
  FLAGS.unparse_flags()
  FLAGS(['Main.py', '--mode=train', f'--logdir={logdir}', '--exp_name=m',
         '--meta_iterations=40', *TINY])
  Main.run()
  FLAGS.unparse_flags()
  return str(logdir), os.path.join(str(logdir), 'm')


def test_eval_uses_the_checkpoint_settings_and_its_own_flags(main, trained):
  logdir, path = trained
  base = ['--mode=eval', f'--logdir={logdir}', '--exp_name=m', '--num_eval_tasks=10']
  main(*base)                       # defaults: the trained K and alpha
  stats = fileio.read_json(os.path.join(path, 'eval_K5_10tasks.json'))
  assert stats['K'] == 5 and stats['alpha'] == 0.01 and len(stats['query']) == 11
  main(*base, '--eval_alpha=0.5', '--test_num_updates=3', '--eval_k=7')
  # Each change from the report's protocol is in the name: the report's files stay.
  stats = fileio.read_json(os.path.join(path, 'eval_K7_10tasks_alpha0.5_3steps.json'))
  assert stats['alpha'] == 0.5 and len(stats['query']) == 4
  assert stats['settings']['test_num_updates'] == 3
  source = stats['sources'][0]
  assert source['step'] == 40 and source['checkpoint'].endswith('model.ckpt-40')
  assert len(source['sha256']) == 16 and stats['code']['sources_sha256']
  for flag, hint in (('--K=10', '--eval_k'), ('--alpha=0.5', '--eval_alpha'),
                     ('--seed=2', '--eval_seed'), ('--amplitude=0.1,10', 'trained with')):
    with pytest.raises(utils.CommandError, match=hint):
      main(*base, flag)


def test_report_refuses_model_flags_and_changes_nothing(main, tmp_path):
  """In a copy of the shipped paper folder: report --seed=2 stops before touching it."""
  copy = tmp_path / 'logs'
  shutil.copytree(os.path.join(ROOT, 'logs', 'paper'), str(copy / 'paper'))
  before = {f: os.path.getmtime(os.path.join(d, f)) for d, _, fs in os.walk(str(copy)) for f in fs}
  for flag in ('--seed=2', '--K=5', '--first_order', '--family=sum', '--alpha=0.1'):
    with pytest.raises(utils.CommandError, match='defined by the project'):
      main('--mode=report', f'--logdir={copy}', flag)
  after = {f: os.path.getmtime(os.path.join(d, f)) for d, _, fs in os.walk(str(copy)) for f in fs}
  assert before == after


def test_reproduce_writes_its_readme_and_figures_beside_its_checkpoints(main, tmp_path):
  FLAGS.unparse_flags()
  FLAGS(['Main.py', '--mode=reproduce', f'--logdir={tmp_path}'])
  img_dir, readme = report_modes.reproduce_outputs(FLAGS.logdir, Main.if_given('img_dir'),
                                                 Main.if_given('readme'))
  assert img_dir == os.path.join(str(tmp_path), 'Img')
  assert readme == os.path.join(str(tmp_path), 'README.md')
  with open(readme) as f, open(os.path.join(ROOT, 'README.md')) as shipped:
    assert f.read() == shipped.read()


def test_a_second_run_in_the_same_folder_stops_at_once(trained):
  """This process holds the folder; a training and an evaluation started there stop."""
  logdir, path = trained
  with checkpoints.folder_lock(path):
    for args in (['--mode=train', '--resume', '--meta_iterations=80', *TINY],
                 ['--mode=eval', '--num_eval_tasks=10']):
      start = time.time()
      result = helpers.run_main(f'--logdir={logdir}', '--exp_name=m', *args, timeout=120)
      assert result.returncode == 1
      assert result.stderr.strip() == (f'error: {path} is in use by another run (pid '
                                       f'{os.getpid()}); wait for it to end or choose another '
                                       '--exp_name/--logdir')
      assert time.time() - start < 30
  assert fileio.read_json(os.path.join(path, 'config.json'))['settings']['meta_iterations'] == 40


def test_resume_keeps_history_honest(main, tmp_path):
  train = ['--mode=train', f'--logdir={tmp_path}', *TINY, '--save_interval=20']
  main(*train, '--meta_iterations=40')
  path = os.path.join(str(tmp_path), run_settings.experiment_name(Main.settings_from_flags()))
  config = fileio.read_json(os.path.join(path, 'config.json'))
  assert config['history'] == [{'start': 0, 'end': 40, 'beta': 0.001}]
  # Fewer iterations than the checkpoint holds: refused, nothing rewritten.
  with pytest.raises(utils.CommandError, match='already at iteration 40'):
    main(*train, '--meta_iterations=20', '--resume')
  # A resume that diverges at once saves nothing, so the config is unchanged.
  with pytest.raises(utils.CommandError, match='non-finite'):
    main(*train, '--meta_iterations=400', '--resume', '--beta=1e30')
  assert fileio.read_json(os.path.join(path, 'config.json')) == config
  # Without --exp_name, resume finds the run although beta and the count changed.
  main(*train, '--meta_iterations=60', '--resume', '--beta=0.0005')
  config = fileio.read_json(os.path.join(path, 'config.json'))
  assert config['history'] == [{'start': 0, 'end': 40, 'beta': 0.001},
                               {'start': 40, 'end': 60, 'beta': 0.0005}]
  assert config['settings']['beta'] == 0.0005 and config['settings']['meta_iterations'] == 60
  assert os.listdir(str(tmp_path)) == [os.path.basename(path)]


def test_refused_resume_and_diverged_start_write_nothing(main, tmp_path):
  with pytest.raises(utils.CommandError, match='--resume: no run'):
    main('--mode=train', f'--logdir={tmp_path}', *TINY, '--resume')
  with pytest.raises(utils.CommandError, match='no trained checkpoint'):
    main('--mode=train', f'--logdir={tmp_path}', *TINY, '--resume', '--exp_name=x')
  assert os.listdir(str(tmp_path)) == []
  with pytest.raises(utils.CommandError, match='non-finite'):
    main('--mode=train', f'--logdir={tmp_path}', *TINY, '--exp_name=d', '--beta=1e30',
         '--meta_iterations=200')
  assert 'config.json' not in os.listdir(str(tmp_path / 'd'))


def test_runs_and_other_benchmarks_in_logs_are_not_committed():
  """Finding 10: `make run`'s folders of every method, and benchmarks of other
  settings, are ignored by git; the published results are not."""
  ignored = ['logs/pretrain_sinusoid_K10_seed1/config.json', 'logs/oracle_x/checkpoint',
             'logs/maml_fo_x/config.json', 'logs/benchmark_K5.json']
  published = ['logs/benchmark.json', 'logs/paper/maml_K5_seed1/eval_K5.json']
  result = subprocess.run(['git', 'check-ignore', *ignored, *published], cwd=ROOT,
                          stdout=subprocess.PIPE, universal_newlines=True)
  if result.returncode == 128:
    pytest.skip('not a git checkout')
  assert result.stdout.split() == ignored


@contextlib.contextmanager
def read_only_view(path: str, view: str):
  """`path` seen at `view` through a read-only bind mount (the test is
  skipped where there is none: it needs root)."""
  os.mkdir(view)
  mounted = subprocess.run(['mount', '--bind', '-o', 'ro', path, view],
                           stderr=subprocess.DEVNULL).returncode == 0
  if not mounted or fileio.can_write(view):
    if mounted:
      subprocess.run(['umount', view])
    pytest.skip('no read-only bind mount here (needs root)')
  try:
    yield view
  finally:
    subprocess.run(['umount', view], check=True)


@pytest.fixture
def read_only(trained, tmp_path):
  """The trained model's folder seen through a read-only bind mount."""
  with read_only_view(trained[1], str(tmp_path / 'view')) as view:
    yield view


def test_eval_reads_a_model_from_a_read_only_folder(main, read_only, capsys):
  """Finding 10: no lock is needed where no run can write; the results are
  printed and said not to be saved."""
  main('--mode=eval', f'--logdir={os.path.dirname(read_only)}',
       f'--exp_name={os.path.basename(read_only)}', '--num_eval_tasks=10')
  out = capsys.readouterr().out
  assert 'K=5, 10 tasks, query MSE' in out and 'is read-only: these results are not saved' in out


def test_a_dashboard_and_single_figures_need_only_the_figure_folder(main, trained, tmp_path):
  """Issue 29, also seen: plot and redraw --figure refused a read-only logdir
  though they only read it and write figures into --img_dir."""
  logdir, _ = trained
  img = str(tmp_path / 'img')
  main('--mode=eval', f'--logdir={logdir}', '--exp_name=m')    # the file a dashboard draws
  with read_only_view(logdir, str(tmp_path / 'runs')) as runs:
    main('--mode=plot', f'--logdir={runs}', '--exp_name=m', f'--img_dir={img}')
  with read_only_view(os.path.join(ROOT, 'logs'), str(tmp_path / 'logs')) as logs:
    main('--mode=redraw', '--figure=paper_fig3', f'--logdir={logs}', f'--img_dir={img}')
  assert sorted(os.listdir(img)) == ['m_K5.png', 'paper_fig3.png']
