"""Gradient and batching checks of maml.py, in float64 against independent references."""
import numpy as np
import pytest

from helpers import random_tasks, random_theta
import utils
tf = utils.quiet_tensorflow()
import maml  # pylint: disable=wrong-import-position

F64 = tf.float64
SMALL = maml.MAMLConfig(dim_hidden=(6, 5), dtype='float64')
ALPHA = 0.1          # large enough that second-order terms are clearly visible
FD_EPS = 1e-6


def support_and_query(rng, num_tasks, k):
  """helpers.random_tasks as ((xa, ya), (xb, yb))."""
  xa, ya, xb, yb = random_tasks(rng, num_tasks, k)
  return (xa, ya), (xb, yb)


class MetaGraph:
  """theta as placeholders, so the same graph gives losses at any theta."""

  def __init__(self, theta_values, num_steps, first_order, support, query):
    self.names = sorted(theta_values)
    self.theta = {n: tf.placeholder(F64, v.shape) for n, v in theta_values.items()}
    out = maml.meta_objective(self.theta, support, query, ALPHA, num_steps, first_order)
    self.meta_loss = out['meta_loss']
    self.grads = tf.gradients(self.meta_loss, [self.theta[n] for n in self.names])

  def feed(self, values):
    return {self.theta[n]: values[n] for n in self.names}


def finite_difference(sess, graph, values):
  """Central differences of the meta-loss w.r.t. every entry of theta."""
  grads = {}
  for name in graph.names:
    grad = np.zeros_like(values[name])
    for index in np.ndindex(values[name].shape):
      losses = []
      for sign in (1, -1):
        shifted = {n: v.copy() for n, v in values.items()}
        shifted[name][index] += sign * FD_EPS
        losses.append(sess.run(graph.meta_loss, graph.feed(shifted)))
      grad[index] = (losses[0] - losses[1]) / (2 * FD_EPS)
    grads[name] = grad
  return grads


class MetaGradientTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    tf.reset_default_graph()
    self.rng = np.random.RandomState(0)
    self.values = random_theta(maml.layer_sizes(SMALL), self.rng)
    self.support, self.query = support_and_query(self.rng, num_tasks=3, k=4)

  def meta_gradient(self, num_steps, first_order):
    graph = MetaGraph(self.values, num_steps, first_order, self.support, self.query)
    with self.session() as sess:
      return graph, dict(zip(graph.names, sess.run(graph.grads, graph.feed(self.values))))

  def test_second_order_matches_finite_differences(self):
    for num_steps in (1, 2):
      graph, analytic = self.meta_gradient(num_steps, first_order=False)
      with self.session() as sess:
        numeric = finite_difference(sess, graph, self.values)
      for name in graph.names:
        self.assertAllClose(analytic[name], numeric[name], rtol=1e-6, atol=1e-7,
                            msg=f'{name}, {num_steps} inner steps')

  def test_first_order_is_query_gradient_at_fast_weights(self):
    _, first_order = self.meta_gradient(1, first_order=True)
    _, second_order = self.meta_gradient(1, first_order=False)
    # Reference: theta' fixed as constants, then the plain gradient of L_b(theta').
    theta = {n: tf.constant(v) for n, v in self.values.items()}
    fast, _ = maml.inner_update(theta, *map(tf.constant, self.support), ALPHA,
                                first_order=False)
    with self.session() as sess:
      fast_values = sess.run(fast)
    fast_vars = {n: tf.constant(v) for n, v in fast_values.items()}
    query_loss = tf.reduce_mean(maml.task_mse(
        maml.forward(tf.constant(self.query[0]), fast_vars), tf.constant(self.query[1])))
    names = sorted(fast_vars)
    with self.session() as sess:
      # theta is shared, so d/dtheta sums the tasks' gradients at their theta'.
      per_task = sess.run(tf.gradients(query_loss, [fast_vars[n] for n in names]))
    for name, grad in zip(names, per_task):
      expected = grad.sum(axis=0).reshape(self.values[name].shape)
      self.assertAllClose(first_order[name], expected, rtol=1e-10)
    differences = [np.abs(first_order[n] - second_order[n]).max() for n in names]
    self.assertGreater(max(differences), 1e-3)


class InnerUpdateTest(tf.test.TestCase):

  def test_one_step_by_hand(self):
    """1 -> 1 -> 1 network, x = 1, y = 0, alpha = 0.01, computed on paper:
    h = relu(2 * 1 + 0.5) = 2.5, f = 3 * 2.5 + 0.1 = 7.6, L = 7.6^2,
    dL/df = 15.2, dL/dw2 = 15.2 * 2.5 = 38, dL/db2 = 15.2,
    dL/dw1 = dL/db1 = 15.2 * 3 * 1 = 45.6."""
    theta = {'w1': [[[2.0]]], 'b1': [[[0.5]]], 'w2': [[[3.0]]], 'b2': [[[0.1]]]}
    weights = {n: tf.constant(v, F64) for n, v in theta.items()}
    x, y = tf.constant([[[1.0]]], F64), tf.constant([[[0.0]]], F64)
    fast, loss = maml.inner_update(weights, x, y, 0.01, first_order=False)
    with self.session() as sess:
      fast, loss = sess.run([fast, loss])
    self.assertAllClose(loss, [7.6 ** 2])
    expected = {'w1': 2 - 0.456, 'b1': 0.5 - 0.456, 'w2': 3 - 0.38, 'b2': 0.1 - 0.152}
    for name, value in expected.items():
      self.assertAllClose(fast[name], [[[value]]])


class BatchingTest(tf.test.TestCase):

  def test_meta_batch_equals_tasks_one_at_a_time(self):
    rng = np.random.RandomState(1)
    values = random_theta(maml.layer_sizes(SMALL), rng)
    support, query = support_and_query(rng, num_tasks=4, k=5)
    names = sorted(values)
    theta = {n: tf.constant(v) for n, v in values.items()}

    def losses_and_grads(s, q):
      out = maml.meta_objective(theta, tuple(map(tf.constant, s)),
                                tuple(map(tf.constant, q)), ALPHA, 2, False)
      return out['meta_loss'], tf.gradients(out['meta_loss'], [theta[n] for n in names])

    batched = losses_and_grads(support, query)
    single = [losses_and_grads([a[b:b + 1] for a in support], [a[b:b + 1] for a in query])
              for b in range(4)]
    with self.session() as sess:
      batched, single = sess.run([batched, single])
    self.assertAllClose(batched[0], np.mean([s[0] for s in single]))
    for i in range(len(names)):
      self.assertAllClose(batched[1][i], np.mean([s[1][i] for s in single], axis=0))


class TrainLoopTest(tf.test.TestCase):
  """The in-graph while loop must equal the same meta-iterations run one by one."""

  def train(self, data, iterations_per_run):
    tf.reset_default_graph()
    config = maml.MAMLConfig(dim_hidden=(8, 8), seed=3)
    model = maml.MAML(config, meta_batch_size=data[0].shape[1], num_support=3, num_query=3)
    with self.session() as sess:
      sess.run(tf.global_variables_initializer())
      for start in range(0, data[0].shape[0], iterations_per_run):
        chunk = [d[start:start + iterations_per_run] for d in data]
        sess.run(model.train_op, dict(zip(model.train_feeds, chunk)))
      return sess.run(model.theta), sess.run(model.global_step)

  def test_chunked_training_equals_stepwise(self):
    rng = np.random.RandomState(2)
    x = rng.uniform(-5, 5, (6, 4, 6, 1)).astype(np.float32)
    y = np.sin(x) * rng.uniform(0.1, 5, (6, 4, 1, 1)).astype(np.float32)
    data = (x[:, :, :3], y[:, :, :3], x[:, :, 3:], y[:, :, 3:])
    chunked, chunked_step = self.train(data, iterations_per_run=6)
    stepwise, stepwise_step = self.train(data, iterations_per_run=1)
    self.assertEqual(chunked_step, 6)
    self.assertEqual(stepwise_step, 6)
    for name in chunked:
      self.assertAllClose(chunked[name], stepwise[name], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize('objective', ['maml', 'joint'])
def test_variable_names(objective):
  tf.reset_default_graph()
  model = maml.MAML(maml.MAMLConfig(), objective)
  names = sorted(v.op.name for v in model.theta.values())
  assert names == ['model/b1', 'model/b2', 'model/b3', 'model/w1', 'model/w2', 'model/w3']
