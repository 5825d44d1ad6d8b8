"""The code that trains and tests, against references that share none of its tricks.

- reference_meta_gradient: each task on its own, plain tf.gradients of its own
  loss at every inner step (no shared-theta batching, no pre-activation
  gradients), in float64, with its own dense layers.
- numpy_adapt: the test-time adaptation in numpy with hand-written backprop.
- numpy_adam: TF's Adam update rule, written out.
"""
import dataclasses

import numpy as np
import pytest

from run import evaluation
from helpers import random_tasks, random_theta
from run import sampling
from run import settings as run_settings
import utils
tf = utils.quiet_tensorflow()
import maml  # pylint: disable=wrong-import-position

ALPHA = 0.1           # large enough that second-order terms matter
ADAM = {'beta1': 0.9, 'beta2': 0.999, 'epsilon': 1e-8}   # tf.train.AdamOptimizer's defaults


# -------------------------------------------------- per-task TF reference --

def plain_forward(x, weights):
  """A ReLU network on x [N, in] with per-task weights w_i [in, out], b_i [out]."""
  num_layers = len(weights) // 2
  for i in range(1, num_layers + 1):
    x = tf.matmul(x, weights[f'w{i}']) + weights[f'b{i}']
    if i < num_layers:
      x = tf.nn.relu(x)
  return x


def reference_objective(theta, support, query, alpha, num_steps, first_order, objective):
  """The meta-loss, one task at a time (support, query: numpy [B, K, 1])."""
  losses = []
  for b in range(support[0].shape[0]):
    xa, ya, xb, yb = (tf.constant(a[b]) for a in (*support, *query))
    if objective == 'joint':
      x, y = tf.concat([xa, xb], 0), tf.concat([ya, yb], 0)
      losses.append(tf.reduce_mean(tf.square(plain_forward(x, theta) - y)))
      continue
    weights = dict(theta)
    for _ in range(num_steps):
      loss = tf.reduce_mean(tf.square(plain_forward(xa, weights) - ya))
      names = sorted(weights)
      grads = tf.gradients(loss, [weights[n] for n in names])
      if first_order:
        grads = [tf.stop_gradient(g) for g in grads]
      weights = {n: weights[n] - alpha * g for n, g in zip(names, grads)}
    losses.append(tf.reduce_mean(tf.square(plain_forward(xb, weights) - yb)))
  return tf.add_n(losses) / len(losses)


class ReferenceGradient:
  """The reference meta-gradient at any theta (fed), for fixed tasks."""

  def __init__(self, shapes, support, query, alpha, num_steps, first_order, objective='maml'):
    self.graph = tf.Graph()
    with self.graph.as_default():
      self.theta = {n: tf.placeholder(tf.float64, s) for n, s in shapes.items()}
      loss = reference_objective(self.theta, support, query, alpha, num_steps, first_order,
                                 objective)
      self.names = sorted(self.theta)
      self.grads = tf.gradients(loss, [self.theta[n] for n in self.names])
      self.session = tf.Session()

  def __call__(self, values):
    grads = self.session.run(self.grads, {self.theta[n]: values[n] for n in self.names})
    return dict(zip(self.names, grads))


def numpy_adam(theta, grads_at, beta, iterations):
  """TF's Adam: lr_t = beta sqrt(1 - b2^t) / (1 - b1^t); theta -= lr_t m / (sqrt(v) + eps).

  TF 1.13 makes the hyperparameters float32 tensors and keeps b1^t and b2^t
  in float32 accumulators, casting them to the variables' dtype, so they are
  rounded the same way here (1 - 0.999 in float32 is off by 1e-5 relative,
  which shows at float64 tolerances).
  """
  m = {n: np.zeros_like(v) for n, v in theta.items()}
  v = {n: np.zeros_like(x) for n, x in theta.items()}
  b1, b2, eps, beta = (float(np.float32(h)) for h in (ADAM['beta1'], ADAM['beta2'],
                                                       ADAM['epsilon'], beta))
  b1_power, b2_power = np.float32(b1), np.float32(b2)
  for t in range(1, iterations + 1):
    grads = grads_at(t - 1, theta)
    rate = beta * np.sqrt(1 - float(b2_power)) / (1 - float(b1_power))
    b1_power, b2_power = b1_power * np.float32(b1), b2_power * np.float32(b2)
    for n in theta:
      m[n] = b1 * m[n] + (1 - b1) * grads[n]
      v[n] = b2 * v[n] + (1 - b2) * grads[n] ** 2
      theta = {**theta, n: theta[n] - rate * m[n] / (np.sqrt(v[n]) + eps)}
  return theta, m, v


TRAINING_CASES = [('maml', 1, False), ('maml', 1, True), ('maml', 2, False), ('joint', 1, False)]
ITERATIONS, TASKS, K, BETA = 3, 3, 4, 0.01


def training_config(num_updates, first_order):
  return maml.MAMLConfig(dim_hidden=(6, 5), dtype='float64', alpha=ALPHA, beta=BETA,
                         num_updates=num_updates, first_order=first_order, seed=5)


def assert_adam_on_reference(initial, data, trained, slots, objective, num_updates,
                             first_order):
  """theta and Adam's slots after ITERATIONS steps on `data` ([T, B, K, 1] arrays)
  equal numpy Adam on the reference meta-gradient from `initial`."""
  references = [ReferenceGradient({n: v.shape for n, v in initial.items()},
                                  (data[0][t], data[1][t]), (data[2][t], data[3][t]), ALPHA,
                                  num_updates, first_order, objective)
                for t in range(ITERATIONS)]
  theta, m, v = numpy_adam(initial, lambda t, values: references[t](values), BETA, ITERATIONS)
  for name in theta:
    np.testing.assert_allclose(trained[name], theta[name], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(slots['m'][name], m[name], rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(slots['v'][name], v[name], rtol=1e-9, atol=1e-16)


def adam_slots(sess, model):
  return {s: sess.run({n: model.optimizer.get_slot(v, s) for n, v in model.theta.items()})
          for s in ('m', 'v')}


@pytest.mark.parametrize('objective, num_updates, first_order', TRAINING_CASES)
def test_training_op_is_adam_on_the_reference_meta_gradient(objective, num_updates,
                                                              first_order):
  """A few iterations of MAML.train_op (the while loop that trains) against numpy
  Adam on the reference meta-gradient: theta, both Adam slots and the step."""
  data = random_tasks(np.random.RandomState(0), TASKS, K, ITERATIONS)
  tf.reset_default_graph()
  model = maml.MAML(training_config(num_updates, first_order), objective,
                    meta_batch_size=TASKS, num_support=K, num_query=K)
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    initial = sess.run(model.theta)
    sess.run(model.train_op, dict(zip(model.train_feeds, data)))
    trained, step, slots = sess.run(model.theta), sess.run(model.global_step), adam_slots(
        sess, model)
  assert step == ITERATIONS
  assert_adam_on_reference(initial, data, trained, slots, objective, num_updates, first_order)


@pytest.mark.parametrize('objective, num_updates, first_order', TRAINING_CASES)
def test_scheduler_training_op_is_adam_on_each_models_reference(objective, num_updates,
                                                                first_order):
  """GroupedMAML.train_op with two models (own theta, own tasks): each model's
  row follows numpy Adam on its own reference meta-gradient."""
  rng = np.random.RandomState(1)
  config = training_config(num_updates, first_order)
  sizes = maml.layer_sizes(config)
  initial = [random_theta(sizes, rng) for _ in range(2)]
  data = [random_tasks(rng, TASKS, K, ITERATIONS) for _ in range(2)]
  tf.reset_default_graph()
  model = maml.GroupedMAML(config, 2, objective, meta_batch_size=TASKS, num_support=K,
                           num_query=K)
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for name, variable in model.theta.items():
      variable.load(np.stack([theta[name] for theta in initial]), sess)
    sess.run(model.train_op, dict(zip(model.train_feeds,
                                      [np.stack(arrays, 1) for arrays in zip(*data)])))
    trained, step, slots = sess.run(model.theta), sess.run(model.global_step), adam_slots(
        sess, model)
  assert step == ITERATIONS
  for m in range(2):
    assert_adam_on_reference(initial[m], data[m], {n: v[m] for n, v in trained.items()},
                             {s: {n: v[m] for n, v in values.items()}
                              for s, values in slots.items()},
                             objective, num_updates, first_order)


@pytest.mark.parametrize('hidden', [(3,), (6, 5), (4, 7, 3)])
@pytest.mark.parametrize('num_steps, first_order', [(1, False), (2, False), (2, True)])
def test_fast_meta_gradient_equals_the_per_task_reference(hidden, num_steps, first_order):
  """maml.meta_objective (batched, pre-activation inner gradients) against the
  plain per-task reference, for other depths and widths."""
  rng = np.random.RandomState(len(hidden) + num_steps)
  values = random_theta([1, *hidden, 1], rng)
  xa, ya, xb, yb = random_tasks(rng, num_tasks=4, k=5)
  reference = ReferenceGradient({n: v.shape for n, v in values.items()}, (xa, ya), (xb, yb),
                                ALPHA, num_steps, first_order)(values)
  tf.reset_default_graph()
  theta = {n: tf.constant(v) for n, v in values.items()}
  out = maml.meta_objective(theta, (tf.constant(xa), tf.constant(ya)),
                            (tf.constant(xb), tf.constant(yb)), ALPHA, num_steps, first_order)
  names = sorted(theta)
  with tf.Session() as sess:
    fast = dict(zip(names, sess.run(tf.gradients(out['meta_loss'], [theta[n] for n in names]))))
  for name in names:
    np.testing.assert_allclose(fast[name], reference[name], rtol=1e-9, atol=1e-12)


# -------------------------------------------------- test-time numpy reference --

def numpy_forward(x, theta):
  """f(x) [N, 1] and, per layer, (input h, pre-activation z)."""
  num_layers = len(theta) // 2
  layers = []
  for i in range(1, num_layers + 1):
    z = x @ theta[f'w{i}'] + theta[f'b{i}']
    layers.append((x, z))
    x = np.maximum(z, 0) if i < num_layers else z
  return x, layers


def numpy_step(theta, x, y, alpha):
  """theta - alpha grad MSE(f(x), y), backpropagated by hand."""
  out, layers = numpy_forward(x, theta)
  delta = 2 * (out - y) / len(x)          # dL/dz of the last layer
  new = {}
  for i in range(len(layers), 0, -1):
    h, _ = layers[i - 1]
    new[f'w{i}'] = theta[f'w{i}'] - alpha * h.T @ delta
    new[f'b{i}'] = theta[f'b{i}'] - alpha * delta.sum(axis=0)
    if i > 1:
      delta = (delta @ theta[f'w{i}'].T) * (layers[i - 2][1] > 0)
  return new


def numpy_adapt(theta, support, inputs, alpha, steps):
  """f at `inputs` after 0..steps steps on the support set: [steps + 1, N]."""
  predictions = []
  for _ in range(steps + 1):
    predictions.append(numpy_forward(inputs, theta)[0][:, 0])
    theta = numpy_step(theta, *support, alpha)
  return np.array(predictions)


def test_test_time_graph_against_numpy():
  """Predictions after 0..3 steps with a non-default test alpha and non-zero
  weights, split between query and grid points, and their losses."""
  settings = run_settings.Settings(hidden=(7, 6), test_num_updates=3)
  rng = np.random.RandomState(3)
  values = random_theta([1, 7, 6, 1], rng, std=0.5)
  tasks = sampling.evaluation_tasks(settings, 5, 4, seed=2)
  alpha = 0.05
  tf.reset_default_graph()
  model = run_settings.build_model(dataclasses.replace(settings))
  with tf.Session() as sess:
    sess.run([v.assign(values[n].astype(np.float32)) for n, v in model.theta.items()])
    predictions = evaluation.adapted_predictions(sess, model, tasks, alpha, ('query', 'grid'))
  losses = evaluation.losses_of(tasks, predictions)
  for b in range(4):
    support = (tasks['support'][0][b], tasks['support'][1][b])
    for name in ('query', 'grid'):
      expected = numpy_adapt(values, support, tasks[name][0][b], alpha, 3)
      np.testing.assert_allclose(predictions[name][:, b, :, 0], expected, rtol=2e-4, atol=2e-5)
      expected_loss = np.mean((expected - tasks[name][1][b][:, 0]) ** 2, axis=1)
      np.testing.assert_allclose(losses[name][:, b], expected_loss, rtol=5e-4)
  assert predictions['query'].shape == (4, 4, 5, 1)
  assert predictions['grid'].shape == (4, 4, run_settings.GRID_POINTS, 1)
