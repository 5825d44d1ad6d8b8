"""What the README publishes changes only through the commands that define it:
another protocol's evaluation writes beside the report's files, a redraw or a
report checks every file it reads before drawing anything (whole, of the
report's protocol, from finished models, one evaluation for the whole set),
and a figure is written whole or not at all. Each test damages a copy of the
shipped results the way a user could, and expects one line naming the file."""
import os
import resource
import shutil
import signal

import pytest

from run import benchmark
from run import checkpoints
from run import evaluation
import helpers
from helpers import ROOT, assert_one_line_error
from common import fileio
from common import readme_sections
from run import settings as run_settings
import utils

SHIPPED = os.path.join(ROOT, 'logs')
FIGURE = 'paper_fig3'


@pytest.fixture(scope='module')
def shipped(tmp_path_factory):
  """A copy of the shipped results (logs/) and README; tests restore what they damage."""
  root = tmp_path_factory.mktemp('shipped')
  logdir = str(root / 'logs')
  shutil.copytree(SHIPPED, logdir, ignore=shutil.ignore_patterns('.lock', 'retrained'))
  shutil.copy(os.path.join(ROOT, 'README.md'), str(root / 'README.md'))
  for doc in readme_sections.LINKED_DOCS:      # they hold some of the README's sections
    os.makedirs(str(root / os.path.dirname(doc)), exist_ok=True)
    shutil.copy(os.path.join(ROOT, doc), str(root / doc))
  return logdir


@pytest.fixture
def damaged(shipped):
  """damaged(relative path, how): damages that file of the copy; put back after the test."""
  touched = []

  def damage(relative, how):
    path = os.path.join(shipped, relative)
    touched.append(relative)
    if how == 'delete':
      os.remove(path)
    else:    # truncate: a write cut short
      with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) // 2)
    return path
  yield damage
  for relative in touched:
    shutil.copy(os.path.join(SHIPPED, relative), os.path.join(shipped, relative))


def redraw(main, logdir, tmp_path, *args):
  """A full redraw (README copy and figures in tmp_path), or --figure with args."""
  readme = os.path.join(os.path.dirname(logdir), 'README.md')
  main('--mode=redraw', f'--logdir={logdir}', f'--img_dir={tmp_path}/img',
       *(args or [f'--readme={readme}']))


def unchanged(logdir, tmp_path):
  """Nothing was drawn and the README copy is the shipped one."""
  assert not os.path.exists(str(tmp_path / 'img'))
  with open(os.path.join(os.path.dirname(logdir), 'README.md')) as copy, \
       open(os.path.join(ROOT, 'README.md')) as readme:
    assert copy.read() == readme.read()


def test_an_evaluation_of_another_protocol_never_replaces_the_reports_files(main, tmp_path):
  """Finding 1: the shipped model evaluated with another step size and task count."""
  paper = tmp_path / 'paper'
  shutil.copytree(os.path.join(SHIPPED, 'paper', 'maml_K10_seed1'), str(paper / 'm'),
                  ignore=shutil.ignore_patterns('.lock'))
  before = {name: (paper / 'm' / name).read_bytes() for name in os.listdir(str(paper / 'm'))}
  main('--mode=eval', f'--logdir={paper}', '--exp_name=m', '--eval_alpha=1e300',
       '--num_eval_tasks=5', '--eval_k=5')
  after = {name: (paper / 'm' / name).read_bytes() for name in before}
  assert after == before
  stats = fileio.read_json(str(paper / 'm' / 'eval_K5_5tasks_alpha1e+300.json'))
  assert stats['alpha'] == 1e300 and stats['num_tasks'] == 5
  assert (paper / 'm' / 'eval_K5_5tasks_alpha1e+300_tasks.csv').exists()


def test_an_evaluation_of_the_reports_protocol_keeps_files_that_hold_its_results(main,
                                                                                  tmp_path):
  """A published model evaluated again as the report does: files that hold the
  same results stay as they are (their code stamp included, so a redraw still
  sees one code version); a cut file is rewritten, all three together."""
  folder = tmp_path / 'paper' / 'm'
  shutil.copytree(os.path.join(SHIPPED, 'paper', 'maml_K10_seed1'), str(folder),
                  ignore=shutil.ignore_patterns('.lock'))
  written = fileio.read_json(str(folder / 'eval_K5.json'))
  fileio.write_json(str(folder / 'eval_K5.json'), {    # as if evaluated here by earlier code
      **written, 'sources': [checkpoints.checkpoint_source(str(folder))],
      'code': 'an earlier version'})
  before = {name: (folder / name).read_bytes() for name in os.listdir(str(folder))}
  evaluate = lambda: main('--mode=eval', f'--logdir={folder.parent}', '--exp_name=m',
                          '--eval_k=5')
  evaluate()
  assert {name: (folder / name).read_bytes() for name in before} == before

  with open(str(folder / 'eval_K5_tasks.csv'), 'r+b') as f:
    f.truncate(100)
  evaluate()
  assert (folder / 'eval_K5_tasks.csv').read_bytes() == before['eval_K5_tasks.csv']
  assert fileio.read_json(str(folder / 'eval_K5.json'))['code'] == utils.code_version()


def test_a_mixed_set_is_refused_naming_the_odd_files(main, shipped, tmp_path):
  """Finding 3: an interrupted --num_eval_tasks=60 report rewrote one model's
  files; the redraw refuses before drawing, naming them."""
  path = os.path.join(shipped, 'paper', 'maml_K5_seed1')
  settings = checkpoints.load_settings(path)
  try:
    evaluation.evaluate(settings, path, 5, 60, evaluation.STANDARD_SEED, settings.alpha)
    with pytest.raises(utils.CommandError, match=r'mixed results: \S*/maml_K5_seed1/eval_K5'
                       r'.json has tasks 60 where the other \d+ results files have 600; '
                       'rewrite them with make figures'):
      redraw(main, shipped, tmp_path)
    unchanged(shipped, tmp_path)
  finally:
    for name in ('eval_K5.json', 'eval_K5.csv', 'eval_K5_tasks.csv'):
      shutil.copy(os.path.join(SHIPPED, 'paper', 'maml_K5_seed1', name), path)


def test_a_model_below_its_target_is_never_published(main, shipped, tmp_path):
  """Finding 2: the model's checkpoint is one of 60,000 of 70,000 iterations
  (as a stopped training leaves it): report, redraw and --figure refuse it."""
  state = os.path.join(shipped, 'paper', 'maml_K5_seed1', 'checkpoint')
  with open(state, 'w') as f:
    f.write('model_checkpoint_path: "model.ckpt-60000"\n'
            'all_model_checkpoint_paths: "model.ckpt-60000"\n')
  readme = os.path.join(os.path.dirname(shipped), 'README.md')
  try:
    for args in (['--mode=report', f'--readme={readme}'], ['--mode=redraw', f'--readme={readme}'],
                 ['--mode=redraw', f'--figure={FIGURE}']):
      with pytest.raises(utils.CommandError, match='maml_K5_seed1 is trained to iteration '
                         '60000 of 70000: only finished models are published'):
        main(*args, f'--logdir={shipped}', f'--img_dir={tmp_path}/img')
    unchanged(shipped, tmp_path)
    with open(os.path.join(os.path.dirname(state), 'eval_K5.json')) as copy, \
         open(os.path.join(SHIPPED, 'paper', 'maml_K5_seed1', 'eval_K5.json')) as original:
      assert copy.read() == original.read()      # the report refused before evaluating
  finally:
    shutil.copy(os.path.join(SHIPPED, 'paper', 'maml_K5_seed1', 'checkpoint'), state)


@pytest.mark.parametrize('relative, how', [
    ('paper/maml_K5_seed1/eval_K10.json', 'truncate'),
    ('paper/maml_K5_seed1/eval_K10.json', 'delete'),
    ('paper/maml_K10_seed2/eval_K5_tasks.csv', 'truncate'),
    ('robustness/points/Fig3_tasks.csv', 'truncate'),
    ('robustness/points/Fig3_figure.npz', 'truncate'),
    ('robustness/points/square_ceiling.json', 'truncate'),
    ('report_time.json', 'truncate'),
])
def test_a_broken_results_file_is_one_line_and_nothing_is_drawn(main, shipped, damaged,
                                                                 tmp_path, relative, how):
  """Finding 8: the line names the file and the command that rewrites it."""
  path = damaged(relative, how)
  with pytest.raises(utils.CommandError, match=f'^{path} .*; rewrite it with make'):
    redraw(main, shipped, tmp_path)
  unchanged(shipped, tmp_path)


def test_figure_refuses_a_missing_file_instead_of_leaving_the_model_out(main, shipped, damaged,
                                                                        tmp_path):
  path = damaged('paper/maml_K5_seed1/eval_K10.json', 'delete')
  with pytest.raises(utils.CommandError, match=f'{path} is missing'):
    redraw(main, shipped, tmp_path, f'--figure={FIGURE}')
  assert not os.path.exists(str(tmp_path / 'img'))


def swapped(text, name):
  begin, end = readme_sections.markers(name)
  return text.replace(begin, '@').replace(end, begin).replace('@', end)


@pytest.mark.parametrize('edit, bad', [
    (lambda text: text.split('<!-- paper_findings -->')[0], 'paper_findings'),   # cut short
    (lambda text: swapped(text, 'paper_table2'), 'paper_table2'),
    (lambda text: text + '<!-- /paper_findings -->\n', 'paper_findings')])
def test_a_readme_without_one_ordered_marker_pair_per_section_is_refused_before_drawing(
    main, shipped, tmp_path, edit, bad):
  """Finding 8: missing, swapped or repeated markers would rewrite the wrong text."""
  readme = tmp_path / 'README.md'
  helpers.write_readme(str(readme))
  readme.write_text(edit(readme.read_text()))
  with pytest.raises(utils.CommandError, match=f'has no single ordered <!-- name --> .* pair '
                     f'for {bad}[,;]'):
    main('--mode=redraw', f'--logdir={shipped}', f'--img_dir={tmp_path}/img',
         f'--readme={readme}')
  assert not os.path.exists(str(tmp_path / 'img'))


def test_a_figure_write_that_fails_keeps_the_old_figure_and_names_it(shipped, tmp_path):
  """Finding 5: a file-size limit while the figure is written."""
  img = tmp_path / 'img'
  img.mkdir()
  shutil.copy(os.path.join(ROOT, 'Img', FIGURE + '.png'), str(img))
  before = (img / (FIGURE + '.png')).read_bytes()

  def limit():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FIGURE_LIMIT, FIGURE_LIMIT))
  result = helpers.run_main('--mode=redraw', f'--figure={FIGURE}', f'--logdir={shipped}',
                            f'--img_dir={img}', preexec_fn=limit)
  assert_one_line_error(result, f'{img}/{FIGURE}.png: File too large', code=1)
  assert os.listdir(str(img)) == [FIGURE + '.png']
  assert (img / (FIGURE + '.png')).read_bytes() == before


FIGURE_LIMIT = 20000    # bytes: the figure is larger


def test_a_benchmark_of_other_settings_never_replaces_the_published_one(tmp_path):
  settings = run_settings.Settings()
  assert benchmark.results_file('logs', settings) == os.path.join('logs', 'benchmark.json')
  other = run_settings.Settings(K=5, hidden=(100, 100))
  assert benchmark.results_file('logs', other) == os.path.join('logs',
                                                               'benchmark_K5_hidden100x100.json')
  assert benchmark.results_file('logs', settings, 1, 0.05) == os.path.join(
      'logs', 'benchmark_repeats1_seconds0.05.json')    # a shorter measurement
  record = fileio.read_json(os.path.join(SHIPPED, 'benchmark.json'))
  assert benchmark.published_table(record, 'b.json') == benchmark.benchmark_table(record)
  with pytest.raises(utils.CommandError, match='b.json was measured with other model settings'):
    benchmark.published_table({**record, 'settings': other.to_json()}, 'b.json')


def test_a_cut_npz_is_one_line_on_the_command_line(shipped, damaged, tmp_path):
  """numpy's own reader would print a traceback beside the line."""
  path = damaged('robustness/points/Fig3_figure.npz', 'truncate')
  result = helpers.run_main('--mode=redraw', '--figure=Fig3', f'--logdir={shipped}',
                            f'--img_dir={tmp_path}/img')
  assert_one_line_error(result, f'{path} is unreadable', 'rewrite it with make figures', code=1)
