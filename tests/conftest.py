"""Shared fixtures: Main.run in this process (no TensorFlow import per call)."""
from absl import flags
import pytest

import Main

FLAGS = flags.FLAGS


def pytest_collection_modifyitems(items):
  """tf.test.TestCase brings a `test_session` helper that is not a test."""
  items[:] = [item for item in items if item.name != 'test_session']


@pytest.fixture
def main():
  """main(*args) runs Main.run with that command line; refusals raise CommandError."""
  def run(*args):
    FLAGS.unparse_flags()
    FLAGS(['Main.py', *args])
    Main.run()
  yield run
  FLAGS.unparse_flags()
