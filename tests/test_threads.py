"""Evaluation in worker threads: utils.thread_map's contract, and a worker's
TestGraphs giving the numbers a graph of the checkpoint's own gives."""
import dataclasses
import os
import threading

import numpy as np
import pytest

from run import checkpoints
from run import evaluation
from helpers import ROOT
from run import sampling
import utils

PAPER = os.path.join(ROOT, 'logs', 'paper')


class Recorder:
  """A per-worker state that records which thread entered it and what it ran."""
  made = []

  def __enter__(self):
    self.thread, self.items, self.closed = threading.get_ident(), [], False
    Recorder.made.append(self)
    return self

  def __exit__(self, *error):
    self.closed = True


def test_thread_map_keeps_order_and_gives_each_worker_one_state():
  Recorder.made = []

  def square(state, item):
    assert state.thread == threading.get_ident()
    state.items.append(item)
    return item * item

  assert utils.thread_map(square, list(range(20)), 2, per_worker=Recorder) == [
      i * i for i in range(20)]
  assert len(Recorder.made) == 2 and all(state.closed for state in Recorder.made)
  assert sorted(i for state in Recorder.made for i in state.items) == list(range(20))
  assert utils.thread_map(abs, [-3, 2, -1], 4) == [3, 2, 1]
  assert utils.thread_map(abs, [], 2) == []


def test_thread_map_stops_taking_items_after_a_failure():
  started = []

  def fail_on_three(item):
    started.append(item)
    if item == 3:
      raise ValueError('three')
    return item

  with pytest.raises(ValueError, match='three'):
    utils.thread_map(fail_on_three, list(range(100)), 2)
  assert len(started) < 10     # the rest were dropped, not run


def query_losses(sess, model, tasks, alpha=0.01):
  return evaluation.losses_of(tasks, evaluation.adapted_predictions(
      sess, model, tasks, alpha, ('query',)))['query']


def test_a_shared_graph_gives_what_each_checkpoints_own_graph_gives():
  names = ('maml_K10_seed1', 'pretrain_K10_seed1', 'maml_K5_seed2')
  settings = {n: checkpoints.load_settings(os.path.join(PAPER, n)) for n in names}
  tasks = sampling.evaluation_tasks(settings[names[0]], 10, 20, seed=3)
  alone = {}
  for name in names:
    with evaluation.restored(settings[name], os.path.join(PAPER, name)) as (sess, model):
      alone[name] = query_losses(sess, model, tasks)
  with evaluation.TestGraphs() as graphs:
    for name in names:
      sess, model = graphs.restored(settings[name], os.path.join(PAPER, name))
      np.testing.assert_array_equal(query_losses(sess, model, tasks), alone[name])
    assert len(graphs._graphs) == 1     # pylint: disable=protected-access
    fewer = dataclasses.replace(settings[names[0]], test_num_updates=2)
    sess, model = graphs.restored(fewer, os.path.join(PAPER, names[0]))
    np.testing.assert_array_equal(query_losses(sess, model, tasks), alone[names[0]][:3])
    assert len(graphs._graphs) == 2     # pylint: disable=protected-access
