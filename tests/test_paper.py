"""The regeneration path on a small case: shipped checkpoints -> evaluation -> figures, tables."""
import json
import os
import shutil

import pytest

from run import benchmark
from run import checkpoints
from run import evaluation
from run import scheduler
import helpers
from helpers import ROOT
from common import fileio
from common import statistics
from paper import models as paper_models
from paper import report as paper_report
from publish import report_modes
from publish import timing
from study import protocols as study_protocols
from study import report as study_report
import utils
SUBSET = ('maml_K5_seed1', 'maml_K10_seed1', 'pretrain_K10_seed1')


def test_report_from_shipped_checkpoints(tmp_path, monkeypatch):
  monkeypatch.setattr(paper_models, 'EVAL_KS', (5, 10))     # figure 2 needs both
  shipped = os.path.join(ROOT, 'logs', 'paper')
  for name in SUBSET:
    source = os.path.join(shipped, name)
    os.makedirs(tmp_path / 'paper' / name)
    for f in os.listdir(source):
      if f.startswith(('model.ckpt', 'checkpoint', 'config', 'training_seconds')):
        shutil.copy(os.path.join(source, f), str(tmp_path / 'paper' / name))
  readme = tmp_path / 'README.md'
  readme.write_text('<!-- paper_table2 -->\nold\n<!-- /paper_table2 -->\n'
                    '<!-- paper_findings -->\n<!-- /paper_findings -->\n'
                    '<!-- paper_training_time -->\n<!-- /paper_training_time -->\n')
  img = tmp_path / 'img'
  paper_report.write_report(paper_models.evaluate_all(str(tmp_path), num_tasks=30, eval_seed=5),
                     str(tmp_path), str(img), str(readme))

  assert sorted(os.listdir(str(img))) == ['families.png', 'meta_minimize.png', 'meta_objective.png',
                                          'paper_fig2.png', 'paper_fig3.png']
  text = readme.read_text()
  assert 'old' not in text
  with open(tmp_path / 'paper' / 'maml_K5_seed1' / 'eval_K5.json') as f:
    stats = json.load(f)
  assert stats['num_tasks'] == 30
  assert paper_report.table2_cell(stats['query'][1]) in text
  with open(tmp_path / 'paper' / paper_report.ALL_MODELS_TABLE) as f:
    assert statistics.summary_text(stats['query'][1]) in f.read()    # every model, linked
  with open(tmp_path / 'paper' / 'pretrain_K10_seed1' / 'alpha_selection_K5.json') as f:
    selection = json.load(f)
  grid, n_nonfinite = selection['grid'], selection['n_nonfinite']
  best = min(grid, key=lambda a: (n_nonfinite[a], grid[a]))
  assert selection['chosen'] == float(best)
  assert set(map(float, grid)) == set(evaluation.STEP_SIZES)
  assert stats['sources'][0]['step'] == 70000
  assert stats['sources'][0]['checkpoint'].endswith('maml_K5_seed1/model.ckpt-70000')


def test_the_performance_sections_read_their_records():
  """The benchmark table shows the grouped rows it finds; the reproduce sentence
  sums the parts it is given."""
  results = fileio.read_json(os.path.join(ROOT, 'logs', 'benchmark.json'))
  table = benchmark.benchmark_table(results)
  key = benchmark.benchmark_key('maml', scheduler.GROUP_SIZE)
  assert key in results
  assert (f'grouped meta-training, MAML: {scheduler.WORKERS} groups of {scheduler.GROUP_SIZE} models '
          f'at once | {results[key]:.0f} model-it/s') in table
  assert 'groups of 1 model at once' in table
  record = {'seconds': {'report': 180, 'ceiling': 120, 'training': 600}, 'total_seconds': 900,
            'models_trained': 145, 'workers': 2, 'cpu_count': 2}
  took = ('`make reproduce` took 15.0 minutes of wall time (training 10.0, ceiling 2.0, report '
          '3.0 minutes; 145 models trained, 2 workers on 2 cores), from `r.json`.')
  assert timing.reproduce_text(record, 'r.json') == (
      took + ' That run did not record checkpoint digests.')
  record['checkpoints'] = {'a': {'identical': True}, 'b': {'identical': False}}
  assert timing.reproduce_text(record, 'r.json') == (
      took + ' 1 of 2 retrained checkpoints are identical to the shipped ones (SHA-256 of their '
      'data, in the same file).')
  record = {'seconds': dict(zip(timing.REPORT_PARTS, (4, 30, 20, 150, 16))),
            'total_seconds': 220, 'workers': 2, 'cpu_count': 2, 'num_eval_tasks': 600}
  assert timing.report_text(record, 't.json') == (
      '`make figures` took 3.7 minutes of wall time on its last run (start-up 4, paper '
      'evaluation 30, paper figures and tables 20, study evaluation 150, study figures and '
      'tables 16 seconds; 2 workers on 2 cores, 600 tasks per evaluation), from `t.json`; '
      'the aim of 2 minutes is not met.')
  record['total_seconds'] = 120
  assert timing.report_text(record, 't.json').endswith('the aim of 2 minutes is met.')


def test_report_times_its_parts_into_its_record_and_the_readme(main, tmp_path, monkeypatch):
  """report_modes.report's wiring: each part timed in order, the record written, the README
  sentence rewritten from it (the parts themselves are stubs here)."""
  calls = []
  for module, name in ((paper_models, 'evaluate_all'), (paper_report, 'write_report'),
                       (study_protocols, 'evaluate'), (study_report, 'report'),
                       (report_modes, 'checked_inputs')):
    monkeypatch.setattr(module, name,
                        lambda *a, _name=name, **k: calls.append(_name) or (None, ({}, {})))
  readme = tmp_path / 'README.md'
  helpers.write_readme(str(readme))
  main('--mode=report', f'--logdir={tmp_path}', f'--img_dir={tmp_path}/img',
       f'--readme={readme}', '--num_eval_tasks=7')
  # Both evaluations, then the checks of every input, then the drawing.
  assert calls == ['evaluate_all', 'evaluate', 'checked_inputs', 'write_report', 'report']
  record = fileio.read_json(str(tmp_path / report_modes.REPORT_RECORD))
  assert set(record['seconds']) == set(timing.REPORT_PARTS)
  assert record['total_seconds'] == pytest.approx(sum(record['seconds'].values()))
  assert record['num_eval_tasks'] == 7
  text = readme.read_text()
  assert 'old\n<!-- /report_time -->' not in text
  assert timing.report_text(record, str(tmp_path / report_modes.REPORT_RECORD)) in text
  assert timing.costs_text(record, None) in text


def test_one_figure_is_redrawn_alone_from_the_saved_results(main, tmp_path):
  """--figure draws the named figures, the same bytes as the full report drew,
  and nothing else; the README is not touched."""
  readme = os.path.join(ROOT, 'README.md')
  before = os.path.getmtime(readme)
  names = ('paper_fig3', 'Fig3', 'robustness_summary')
  main('--mode=redraw', '--figure=' + ','.join(names), f'--img_dir={tmp_path}')
  assert sorted(os.listdir(str(tmp_path))) == sorted(n + '.png' for n in names)
  for name in names:
    with open(tmp_path / (name + '.png'), 'rb') as drawn, \
         open(os.path.join(ROOT, 'Img', name + '.png'), 'rb') as shipped:
      assert drawn.read() == shipped.read(), name
  assert os.path.getmtime(readme) == before


def test_figure_names_and_missing_results_are_one_line_errors(main, tmp_path):
  for given in ('--figure=nope', '--figure=', '--figure=Fig3,paper_fig9'):
    with pytest.raises(utils.CommandError, match='allowed values are one or more of '
                       'paper_fig2, .*robustness_summary, how_far, limits$'):
      main('--mode=redraw', given, f'--img_dir={tmp_path}')
  with pytest.raises(utils.CommandError, match='--readme does not apply with --figure'):
    main('--mode=redraw', '--figure=Fig3', f'--readme={tmp_path}/R.md')
  with pytest.raises(utils.CommandError, match='no evaluated paper models'):
    main('--mode=redraw', '--figure=paper_fig3', f'--logdir={tmp_path}', f'--img_dir={tmp_path}/i')
  with pytest.raises(utils.CommandError, match='no robustness results'):
    main('--mode=redraw', '--figure=Fig1', f'--logdir={tmp_path}', f'--img_dir={tmp_path}/i')
  assert os.listdir(str(tmp_path)) == ['.lock']     # the logdir's lock, and nothing else


def test_report_stops_in_one_line_without_models_or_beside_another_report(main, tmp_path):
  readme = str(tmp_path / 'R.md')
  helpers.write_readme(readme)
  with pytest.raises(utils.CommandError, match='no such folder'):
    main('--mode=report', f'--logdir={tmp_path}/none', f'--img_dir={tmp_path}/img',
         f'--readme={readme}')
  with pytest.raises(utils.CommandError, match='no trained paper models'):
    main('--mode=report', f'--logdir={tmp_path}', f'--img_dir={tmp_path}/img',
         f'--readme={readme}')
  with checkpoints.folder_lock(str(tmp_path)):
    for mode in ('report', 'redraw'):     # one lock for all that writes published results
      with pytest.raises(utils.CommandError, match='is in use by another run'):
        main(f'--mode={mode}', f'--logdir={tmp_path}', f'--img_dir={tmp_path}/img',
             f'--readme={readme}')
  assert sorted(os.listdir(str(tmp_path))) == ['.lock', 'R.md']
