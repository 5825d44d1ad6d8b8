"""MAML for few-shot regression (Finn, Abbeel & Levine, ICML 2017), TF 1.13.

Notation follows the paper:
  theta   initial (meta-learned) weights, the TF variables `model/w1 .. model/b3`;
  alpha   inner (adaptation) step size, theta' = theta - alpha * grad L_a(theta);
  beta    meta step size (Adam learning rate);
  K       points per task in the support set `a` and in the query set `b`.

The meta-batch of B tasks is one batched computation, with no loop over tasks:
theta is shared by the B tasks, and every inner step gives each task its own
fast weights theta'_b.

Shapes: inputs [B, N, dim_input], targets [B, N, dim_output]; theta
w_i [fan_in, fan_out], b_i [fan_out]; fast weights w_i [B, fan_in, fan_out],
b_i [B, 1, fan_out].

GroupedMAML meta-trains M independent models of one shape in one graph with
the same functions: their M * B tasks are one batch, and theta has a leading
model dimension, w_i [M, fan_in, fan_out], b_i [M, 1, fan_out] (the weights of
M groups of B consecutive tasks).
"""
import dataclasses
import functools
from typing import Dict, List, Tuple

import tensorflow as tf

Weights = Dict[str, tf.Tensor]

MODEL_SCOPE = 'model'


@dataclasses.dataclass(frozen=True)
class MAMLConfig:
  """Everything that defines the graph; a run's settings give it (run_settings.model_config)."""
  dim_input: int = 1            # 1 for x, 3 for the oracle (x, amplitude, phase)
  dim_hidden: Tuple[int, ...] = (40, 40)
  dim_output: int = 1
  alpha: float = 0.01           # inner step size
  beta: float = 0.001           # meta step size (Adam)
  num_updates: int = 1          # inner steps at meta-training
  test_num_updates: int = 10    # inner steps at meta-testing
  first_order: bool = False     # stop gradients through the inner gradients
  init_std: float = 0.01        # truncated-normal std of the weights
  dtype: str = 'float32'
  seed: int = 0                 # graph-level seed for the initialisation


def layer_sizes(config: MAMLConfig) -> List[int]:
  return [config.dim_input] + list(config.dim_hidden) + [config.dim_output]


def init_weights(config: MAMLConfig) -> Dict[str, tf.Variable]:
  """Creates theta under the `model` scope: weights ~ TN(0, init_std), biases 0."""
  sizes = layer_sizes(config)
  dtype = tf.as_dtype(config.dtype)
  weights = {}
  with tf.variable_scope(MODEL_SCOPE):
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
      weights[f'w{i}'] = tf.get_variable(
          f'w{i}', [fan_in, fan_out], dtype,
          tf.truncated_normal_initializer(stddev=config.init_std, dtype=dtype),
          use_resource=True)
      weights[f'b{i}'] = tf.get_variable(
          f'b{i}', [fan_out], dtype, tf.zeros_initializer(), use_resource=True)
  return weights


def dense(inputs: tf.Tensor, w: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
  """inputs @ w + b for the B tasks' points.

  Args:
    inputs: [B, N, in].
    w, b: theta, w [in, out] and b [out], shared by the B tasks: one 2-D matmul
      over all B * N points, several times faster than a batched matmul of B
      small matrices; or the tasks' fast weights, w [B, in, out] and
      b [B, 1, out]; or GroupedMAML's theta (see grouped_dense).
  Returns:
    [B, N, out].
  """
  if w.shape.ndims == 2:
    flat = tf.matmul(tf.reshape(inputs, [-1, w.shape[0]]), w)
    return tf.reshape(flat, tf.concat([tf.shape(inputs)[:2], tf.shape(w)[1:]], 0)) + b
  if is_grouped(w, inputs):
    return grouped_dense(inputs, w, b)
  return tf.matmul(inputs, w) + b


def updated(weight: tf.Tensor, alpha: tf.Tensor, grad: tf.Tensor) -> tf.Tensor:
  """weight - alpha * grad, one step for each task.

  Args:
    weight: theta's (shared, broadcast to every task) or the tasks' fast
      weights (see `dense`); or GroupedMAML's theta (see grouped_updated).
    alpha: the step size (scalar).
    grad: the per-task gradients, [B] + the shape of one task's weight.
  Returns:
    the tasks' fast weights, shaped like grad.
  """
  if len(weight.shape) >= len(grad.shape) and is_grouped(weight, grad):
    return grouped_updated(weight, alpha, grad)
  return weight - alpha * grad


def forward_layers(inputs: tf.Tensor, weights: Weights):
  """f_theta(x) and, per layer, its input h and pre-activation z = h w + b."""
  num_layers = len(weights) // 2
  hidden, layers = inputs, []
  for i in range(1, num_layers + 1):
    z = dense(hidden, weights[f'w{i}'], weights[f'b{i}'])
    layers.append((hidden, z))
    hidden = tf.nn.relu(z) if i < num_layers else z
  return hidden, layers


def forward(inputs: tf.Tensor, weights: Weights) -> tf.Tensor:
  """f_theta(x): pure function of the weights; ReLU hidden layers, linear output.

  Args:
    inputs: [B, N, dim_input].
    weights: theta (w_i [fan_in, fan_out], b_i [fan_out]) shared by the tasks,
      or fast weights per task (w_i [B, fan_in, fan_out], b_i [B, 1, fan_out]).
  Returns:
    [B, N, dim_output].
  """
  return forward_layers(inputs, weights)[0]


def task_mse(predictions: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
  """Mean squared error of each task: [B, N, d] x 2 -> [B]."""
  return tf.reduce_mean(tf.square(predictions - targets), axis=[1, 2])


def inner_update(weights: Weights, inputs: tf.Tensor, targets: tf.Tensor,
                 alpha: tf.Tensor, first_order: bool) -> Tuple[Weights, tf.Tensor]:
  """One adaptation step theta' = theta - alpha * grad_theta L_a(f_theta), per task.

  The per-task gradients come from the pre-activation gradients dL/dz, which
  are per task even when theta is shared: dL_b/dw = h_b^T dL/dz_b and
  dL_b/db = sum_n dL/dz_b,n (task b's loss only touches its own points).

  Args:
    weights: theta (shared) or the B tasks' fast weights.
    inputs, targets: the support set a, [B, K, dim_input] and [B, K, dim_output].
    alpha: inner step size (scalar).
    first_order: if True the inner gradient is a constant for the meta-gradient.
  Returns:
    (fast weights w_i [B, fan_in, fan_out], b_i [B, 1, fan_out];
     support loss [B] before this step).
  """
  outputs, layers = forward_layers(inputs, weights)
  loss = task_mse(outputs, targets)
  dz = tf.gradients(tf.reduce_sum(loss), [z for _, z in layers])
  fast = {}
  for i, ((hidden, _), dz_i) in enumerate(zip(layers, dz), start=1):
    grads = {'w': tf.matmul(hidden, dz_i, transpose_a=True),
             'b': tf.reduce_sum(dz_i, axis=1, keepdims=True)}
    for kind, grad in grads.items():
      if first_order:
        grad = tf.stop_gradient(grad)
      fast[f'{kind}{i}'] = updated(weights[f'{kind}{i}'], alpha, grad)
  return fast, loss


def adapt(theta: Weights, inputs: tf.Tensor, targets: tf.Tensor, alpha: tf.Tensor,
          num_steps: int, first_order: bool) -> Tuple[List[Weights], List[tf.Tensor]]:
  """Unrolls `num_steps` inner updates from theta in the static graph.

  Returns:
    ([theta, theta'_1, ..., theta'_num_steps], the support loss [B] before
     each of the num_steps updates).
  """
  weights, trajectory, support_losses = theta, [theta], []
  for _ in range(num_steps):
    weights, loss = inner_update(weights, inputs, targets, alpha, first_order)
    trajectory.append(weights)
    support_losses.append(loss)
  return trajectory, support_losses


def meta_objective(theta: Weights, support: Tuple[tf.Tensor, tf.Tensor],
                   query: Tuple[tf.Tensor, tf.Tensor], alpha: tf.Tensor,
                   num_steps: int, first_order: bool) -> Dict[str, tf.Tensor]:
  """The MAML objective of one meta-batch, computing only what training needs.

  Returns a dict with
    pre_update_loss [B]: L_a(theta), an unbiased estimate of L_b(theta) since
      neither set has been used yet;
    task_loss [B]: L_b(theta'_num_steps) of each task;
    meta_loss scalar: their mean.
  """
  trajectory, support_losses = adapt(theta, support[0], support[1], alpha,
                                     num_steps, first_order)
  task_loss = task_mse(forward(query[0], trajectory[-1]), query[1])
  return {'pre_update_loss': support_losses[0], 'task_loss': task_loss,
          'meta_loss': tf.reduce_mean(task_loss)}


def joint_objective(theta: Weights, support, query) -> Dict[str, tf.Tensor]:
  """The pretrained baseline's loss: plain regression of theta on all points."""
  inputs = tf.concat([support[0], query[0]], axis=1)
  targets = tf.concat([support[1], query[1]], axis=1)
  loss = task_mse(forward(inputs, theta), targets)
  return {'pre_update_loss': loss, 'task_loss': loss, 'meta_loss': tf.reduce_mean(loss)}


def training_objective(config: MAMLConfig, objective: str):
  """(theta, support, query) -> the objective dict of one meta-batch:
  'maml' (meta_objective) or 'joint' (the pretrained and oracle baselines)."""
  if objective == 'joint':
    return joint_objective
  if objective != 'maml':
    raise ValueError(f'objective must be maml or joint, got {objective!r}')
  return functools.partial(meta_objective, alpha=config.alpha, num_steps=config.num_updates,
                           first_order=config.first_order)


def training_loop(objective_at, variables: Dict[str, tf.Variable], optimizer, global_step,
                  num_iterations: tf.Tensor, loss_shape: List[int], dtype):
  """T meta-iterations in one tf.while_loop, one optimizer step each.

  Args:
    objective_at: (theta, t) -> (pre-update loss, meta-loss) of iteration t's
      meta-batch, each of shape `loss_shape` ([] for one model, [M] for M
      models); the optimizer minimises the sum of the meta-losses.
    variables: theta, the variables the optimizer updates.
    num_iterations: T, a scalar int32 tensor.
  Returns:
    (mean pre-update loss, mean meta-loss, number of leading iterations whose
     meta-loss was finite), each of shape `loss_shape`.
  """
  names = sorted(variables)
  zero = tf.zeros(loss_shape, dtype)

  def body(t, pre_sum, post_sum, finite_prefix):
    with tf.control_dependencies([t]):   # fresh reads: each iteration sees the last update
      theta = {n: variables[n].read_value() for n in names}
    pre, post = objective_at(theta, t)
    grads = tf.gradients(tf.reduce_sum(post), [theta[n] for n in names])
    step = optimizer.apply_gradients(zip(grads, [variables[n] for n in names]),
                                     global_step=global_step)
    with tf.control_dependencies([step]):
      post_sum += post
      # Once a meta-loss is inf or nan the running sum stays non-finite, so
      # this count ends at the index of the first non-finite iteration.
      finite_prefix += tf.cast(tf.is_finite(post_sum), tf.int32)
      return t + 1, pre_sum + pre, post_sum, finite_prefix

  _, pre_sum, post_sum, finite_prefix = tf.while_loop(
      lambda t, *_: t < num_iterations, body,
      (tf.constant(0), zero, zero, tf.zeros(loss_shape, tf.int32)),
      parallel_iterations=1, back_prop=False)
  count = tf.cast(num_iterations, dtype)
  return pre_sum / count, post_sum / count, finite_prefix


class MAML:
  """Builds theta, the meta-training op and the meta-test graph.

  Meta-training runs T meta-iterations per `session.run` inside a tf.while_loop
  (one Adam step of size beta per meta-batch), so the data of T meta-batches
  crosses into TF once. Static B and K let grappler fold every shape op.

  Attributes for the caller:
    train_feeds: (xa, ya, xb, yb) placeholders, [T, B, K, dim].
    train_op: runs the T meta-iterations and evaluates to the chunk's mean
      pre-update loss, mean meta-loss and the number of leading iterations
      whose meta-loss was finite (the first non-finite one's index if the
      mean meta-loss is not finite).
    test_feeds: (xa, ya, xb) placeholders: the support set [B, K, dim] and the
      inputs [B, M, dim_input] at which f is predicted after each step.
    test_alpha: scalar placeholder for the test-time step size (default alpha).
    test_predictions: f at the query inputs xb for every step,
      [test_num_updates + 1, B, M, dim_output]; test_step_predictions: the
      same as a list of [B, M, dim_output], one per step.
  """

  def __init__(self, config: MAMLConfig, objective: str = 'maml',
               meta_batch_size: int = 25, num_support: int = 10, num_query: int = 10):
    """objective: 'maml' (meta-learning) or 'joint' (pretrained/oracle baseline)."""
    self.config = config
    self.objective_fn = training_objective(config, objective)
    self.dtype = tf.as_dtype(config.dtype)
    tf.set_random_seed(config.seed)
    self.theta = init_weights(config)
    self.global_step = tf.train.get_or_create_global_step()
    self.optimizer = tf.train.AdamOptimizer(config.beta)
    self._build_train(meta_batch_size, num_support, num_query)
    self._build_test()

  def _placeholders(self, name, shape):
    """(inputs, targets) placeholders of shape `shape` + [dim]."""
    return (tf.placeholder(self.dtype, shape + [self.config.dim_input], name + '_x'),
            tf.placeholder(self.dtype, shape + [self.config.dim_output], name + '_y'))

  def _build_train(self, meta_batch_size, num_support, num_query):
    xa, ya = self._placeholders('train_support', [None, meta_batch_size, num_support])
    xb, yb = self._placeholders('train_query', [None, meta_batch_size, num_query])
    self.train_feeds = (xa, ya, xb, yb)

    def objective_at(theta, t):
      out = self.objective_fn(theta, (xa[t], ya[t]), (xb[t], yb[t]))
      return tf.reduce_mean(out['pre_update_loss']), out['meta_loss']

    self.train_op = training_loop(objective_at, self.theta, self.optimizer, self.global_step,
                                  tf.shape(xa)[0], [], self.dtype)

  def _build_test(self):
    c = self.config
    xa, ya = self._placeholders('test_support', [None, None])
    xb = tf.placeholder(self.dtype, [None, None, c.dim_input], 'test_query_x')
    self.test_feeds = (xa, ya, xb)
    self.test_alpha = tf.placeholder_with_default(
        tf.constant(c.alpha, self.dtype), [], name='test_alpha')
    # Meta-testing takes no meta-gradient, so the inner gradients are constants.
    trajectory, _ = adapt(self.theta, xa, ya, self.test_alpha, c.test_num_updates,
                          first_order=True)
    # One tensor per step, so a caller can fetch a few steps without the others.
    self.test_step_predictions = [forward(xb, w) for w in trajectory]
    self.test_predictions = tf.stack(self.test_step_predictions)


# ------------------------------------------------------------------ groups --
# GroupedMAML only: the theta of M models, each shared by its own B consecutive
# tasks of the M * B tasks in the batch.

def is_grouped(weight: tf.Tensor, tasks: tf.Tensor) -> bool:
  """Whether a [G, ...] weight is shared by groups of the [B, ...] tasks (G < B,
  both known when the graph is built) rather than one per task."""
  groups, num_tasks = (tf.TensorShape(t.shape).as_list()[0] for t in (weight, tasks))
  return groups is not None and groups != num_tasks


def grouped_dense(inputs: tf.Tensor, w: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
  """dense() with M models' theta: one matmul per model over its tasks' points.

  Args:
    inputs: [M * B, N, in], model m's tasks in rows m * B .. (m + 1) * B - 1.
    w: [M, in, out]; b: [M, 1, out].
  Returns:
    [M * B, N, out].
  """
  groups = tf.matmul(tf.reshape(inputs, [w.shape[0], -1, w.shape[1]]), w) + b
  return tf.reshape(groups, tf.concat([tf.shape(inputs)[:2], tf.shape(w)[2:]], 0))


def grouped_updated(weight: tf.Tensor, alpha: tf.Tensor, grad: tf.Tensor) -> tf.Tensor:
  """updated() with M models' theta: each model's weight, repeated for each of its tasks.

  Args:
    weight: [M] + S, one model's weight of shape S per row.
    alpha: the step size (scalar).
    grad: [M * B] + S, the per-task gradients, model m's in rows m * B .. (m + 1) * B - 1.
  Returns:
    [M * B] + S, the tasks' fast weights.
  """
  task_shape = grad.shape[1:].as_list()
  by_group = tf.reshape(grad, [weight.shape[0], -1] + task_shape)
  return tf.reshape(weight[:, None] - alpha * by_group, [-1] + task_shape)


def tasks_of_models(tensor: tf.Tensor) -> tf.Tensor:
  """[M, B, ...] -> [M * B, ...]: the tasks of M models as one batch of tasks."""
  return tf.reshape(tensor, [-1] + tensor.shape[2:].as_list())


class GroupedMAML:
  """M independent models of one shape, meta-trained by one op.

  Model m has its own theta_m (row m of every variable), its own meta-batches
  and its own Adam moments; Adam is elementwise, so one Adam over the stacked
  variables is M independent Adams (they share the step count and beta). The
  optimizer minimises the sum over models of each model's meta-loss, whose
  gradient with respect to theta_m is model m's own meta-gradient. Each of the
  M * B tasks starts from its model's theta, so forward and inner_update run
  unchanged on per-task weights; one session.run advances all M models and
  the per-op overhead of the small graph is paid once for all of them.

  Attributes for the caller:
    theta: {name: variable [M] + shape of MAML's variable}, under `group/`.
    train_feeds: (xa, ya, xb, yb) placeholders, [T, M, B, K, dim].
    train_op: as MAML's, with one value per model: three [M] tensors.
  """
  SCOPE = 'group'

  def __init__(self, config: MAMLConfig, num_models: int, objective: str = 'maml',
               meta_batch_size: int = 25, num_support: int = 10, num_query: int = 10):
    """config: the models' common MAMLConfig (its seed is not used: the caller
    assigns each model's own initial theta)."""
    self.config, self.num_models = config, num_models
    dtype = tf.as_dtype(config.dtype)
    sizes = layer_sizes(config)
    self.theta = {}
    with tf.variable_scope(self.SCOPE):
      for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        for name, shape in ((f'w{i}', [fan_in, fan_out]), (f'b{i}', [fan_out])):
          self.theta[name] = tf.get_variable(name, [num_models] + shape, dtype,
                                             tf.zeros_initializer(), use_resource=True)
    self.global_step = tf.train.get_or_create_global_step()
    self.optimizer = tf.train.AdamOptimizer(config.beta)
    objective_fn = training_objective(config, objective)

    def placeholders(name, size):
      shape = [None, num_models, meta_batch_size, size]
      return (tf.placeholder(dtype, shape + [config.dim_input], name + '_x'),
              tf.placeholder(dtype, shape + [config.dim_output], name + '_y'))

    xa, ya = placeholders('train_support', num_support)
    xb, yb = placeholders('train_query', num_query)
    self.train_feeds = (xa, ya, xb, yb)

    def objective_at(theta, t):
      support, query = [(tasks_of_models(x[t]), tasks_of_models(y[t])) for x, y in
                        ((xa, ya), (xb, yb))]
      # Biases [M, out] -> [M, 1, out]: theta of M groups of tasks (see `dense`).
      grouped = {n: v[:, None] if n.startswith('b') else v for n, v in theta.items()}
      out = objective_fn(grouped, support, query)
      by_model = [tf.reduce_mean(tf.reshape(out[key], [num_models, meta_batch_size]), axis=1)
                  for key in ('pre_update_loss', 'task_loss')]
      return tuple(by_model)

    self.train_op = training_loop(objective_at, self.theta, self.optimizer, self.global_step,
                                  tf.shape(xa)[0], [num_models], dtype)
