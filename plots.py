"""Figures, drawn from saved results and checkpoint predictions (never from training)."""
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position

STEP_STYLES = {0: ':', 1: '--', 10: '-', 20: '-'}


def plot_adaptation(path, grid_x, grid_y, support_x, support_y, predictions,
                    steps, title):
  """One panel per task: ground truth, the K points and f after each step.

  Args:
    grid_x, grid_y: [B, M] dense inputs and true values.
    support_x, support_y: [B, K] the points used for adaptation.
    predictions: [S + 1, B, M] predictions after 0..S inner steps.
    steps: which steps to draw.
  """
  num_tasks = grid_x.shape[0]
  fig, axes = plt.subplots(1, num_tasks, figsize=(4 * num_tasks, 3.2), squeeze=False)
  for b, ax in enumerate(axes[0]):
    ax.plot(grid_x[b], grid_y[b], color='k', lw=2, label='ground truth')
    for step in steps:
      ax.plot(grid_x[b], predictions[step, b], STEP_STYLES.get(step, '-'),
              label=f'after {step} step' + ('s' if step != 1 else ''))
    ax.scatter(support_x[b], support_y[b], color='r', zorder=5, label=f'K={support_x.shape[1]} points')
    ax.set_xlabel('x')
  axes[0, 0].legend(fontsize=7, loc='best')
  fig.suptitle(title)
  save(fig, path)


def save(fig, path):
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)


def as_2d(array: np.ndarray) -> np.ndarray:
  """[..., N, 1] -> [..., N]."""
  return array[..., 0]
