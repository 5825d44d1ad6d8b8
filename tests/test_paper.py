"""The regeneration path on a small case: shipped checkpoints -> evaluation -> figures, tables."""
import json
import os
import shutil

import experiment
import grouped
import paper
import utils

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBSET = ('maml_K5_seed1', 'maml_K10_seed1', 'pretrain_K10_seed1')


def test_report_from_shipped_checkpoints(tmp_path, monkeypatch):
  monkeypatch.setattr(paper, 'EVAL_KS', (5, 10))     # figure 2 needs both
  shipped = os.path.join(ROOT, 'logs', 'paper')
  for name in SUBSET:
    source = os.path.join(shipped, name)
    os.makedirs(tmp_path / 'paper' / name)
    for f in os.listdir(source):
      if f.startswith(('model.ckpt', 'checkpoint', 'config', 'training_seconds')):
        shutil.copy(os.path.join(source, f), str(tmp_path / 'paper' / name))
  readme = tmp_path / 'README.md'
  readme.write_text('<!-- paper_table2 -->\nold\n<!-- /paper_table2 -->\n'
                    '<!-- paper_all_models -->\n<!-- /paper_all_models -->\n'
                    '<!-- paper_diverging -->\n<!-- /paper_diverging -->\n'
                    '<!-- paper_training_time -->\n<!-- /paper_training_time -->\n')
  img = tmp_path / 'img'
  paper.report(str(tmp_path), str(img), str(readme), num_tasks=30, eval_seed=5)

  assert sorted(os.listdir(str(img))) == ['families.png', 'meta_minimize.png', 'meta_objective.png',
                                          'paper_fig2.png', 'paper_fig3.png']
  text = readme.read_text()
  assert 'old' not in text
  with open(tmp_path / 'paper' / 'maml_K5_seed1' / 'eval_K5.json') as f:
    stats = json.load(f)
  assert stats['num_tasks'] == 30
  assert utils.summary_text(stats['query'][1]) in text
  with open(tmp_path / 'paper' / 'pretrain_K10_seed1' / 'alpha_selection_K5.json') as f:
    selection = json.load(f)
  grid, n_nonfinite = selection['grid'], selection['n_nonfinite']
  best = min(grid, key=lambda a: (n_nonfinite[a], grid[a]))
  assert selection['chosen'] == float(best)
  assert set(map(float, grid)) == set(experiment.STEP_SIZES)
  assert stats['sources'][0]['step'] == 70000
  assert stats['sources'][0]['checkpoint'].endswith('maml_K5_seed1/model.ckpt-70000')


def test_the_performance_sections_read_their_records():
  """The benchmark table shows the grouped rows it finds; the reproduce sentence
  sums the parts it is given."""
  results = utils.read_json(os.path.join(ROOT, 'logs', 'benchmark.json'))
  table = paper.benchmark_table(results)
  key = grouped.benchmark_key('maml', grouped.GROUP_SIZE)
  assert key in results
  assert (f'grouped meta-training, MAML: {grouped.WORKERS} groups of {grouped.GROUP_SIZE} models '
          f'at once | {results[key]:.0f} model-it/s') in table
  assert 'groups of 1 model at once' in table
  record = {'seconds': {'report': 180, 'ceiling': 120, 'training': 600}, 'total_seconds': 900,
            'models_trained': 145, 'workers': 2, 'cpu_count': 2}
  assert paper.reproduce_text(record, 'r.json') == (
      '`make reproduce` took 15.0 minutes of wall time (training 10.0, ceiling 2.0, report 3.0 '
      'minutes; 145 models trained, 2 workers on 2 cores), from `r.json`.')
