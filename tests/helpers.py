"""What the test files share: the repository root, the tiny run they train (as
settings and as flags), Main.py run as a user runs it, the one-line-error
assertion, a README with section markers, and random theta and tasks for the
float64 graph checks."""
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:    # a test file run as a script (tests/test_golden.py)
  sys.path.insert(0, ROOT)
from common import readme_sections
from run import settings as run_settings  # pylint: disable=wrong-import-position

# A run small enough to train in seconds; tests change what they need.
TINY = run_settings.Settings(K=5, meta_batch_size=4, meta_iterations=40, hidden=(8, 8),
                             iterations_per_run=20)


def flags_of(settings: run_settings.Settings, *names: str) -> list:
  """The command-line flags that ask for `settings`' values of `names`."""
  def text(value):
    return ','.join(map(str, value)) if isinstance(value, tuple) else str(value)
  return [f'--{name}={text(getattr(settings, name))}' for name in names]


def main_command(*args) -> list:
  return [sys.executable, os.path.join(ROOT, 'Main.py'), *args]


def run_main(*args, timeout: float = 300, **popen) -> subprocess.CompletedProcess:
  """Main.py with these flags in a process of its own, as a user runs it."""
  return subprocess.run(main_command(*args), cwd=ROOT, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout,
                        **popen)


def assert_one_line_error(result, *fragments, code: int = None):
  """The run failed (with exit `code` if given) and said why in one line
  starting 'error: ' that holds every fragment."""
  lines = result.stderr.strip().splitlines()
  assert (result.returncode != 0 if code is None else result.returncode == code), result.stderr
  assert len(lines) == 1, result.stderr
  assert lines[0].startswith('error: ')
  for fragment in fragments:
    assert fragment in lines[0], lines[0]


def write_readme(path, sections=None):
  """A README with the markers of `sections` (default: every section a report
  writes), each holding 'old'."""
  from publish import report_modes  # pylint: disable=import-outside-toplevel
  with open(path, 'w') as f:
    f.write(''.join('{}\nold\n{}\n'.format(*readme_sections.markers(name))
                    for name in sections or report_modes.README_SECTIONS))


def random_theta(sizes, rng, std=0.7):
  """theta as numpy arrays; a large std keeps ReLU pre-activations away from 0."""
  theta = {}
  for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
    theta[f'w{i}'] = rng.normal(0, std, (fan_in, fan_out))
    theta[f'b{i}'] = rng.normal(0, std, (fan_out,))
  return theta


def random_tasks(rng, num_tasks, k, iterations=None):
  """(xa, ya, xb, yb), each [num_tasks, k, 1] (with a leading [iterations] if given)."""
  lead = (iterations,) if iterations else ()
  x = rng.uniform(-2, 2, lead + (num_tasks, 2 * k, 1))
  y = np.sin(x) * rng.uniform(0.5, 2, lead + (num_tasks, 1, 1))
  return x[..., :k, :], y[..., :k, :], x[..., k:, :], y[..., k:, :]
