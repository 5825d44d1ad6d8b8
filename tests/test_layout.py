"""The code's layout: the top level holds the project's four files and one
package per layer, and each package imports only the layers below it."""
import ast
import glob
import os

from helpers import ROOT
import utils

TOP_LEVEL_MODULES = {'Main.py', 'maml.py', 'FunGenerator.py', 'utils.py'}
# Lowest first; a module may import its own package and any lower layer.
LAYERS = {'utils': 0, 'maml': 0, 'FunGenerator': 0, 'common': 1, 'run': 2, 'paper': 3,
          'study': 3, 'publish': 4, 'Main': 5}


def project_imports(path: str):
  """The project packages (or top-level modules) a file imports, anywhere in it."""
  with open(path) as f:
    tree = ast.parse(f.read())
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module:
      names = [node.module]
    else:
      continue
    yield from (name.split('.')[0] for name in names if name.split('.')[0] in LAYERS)


def layer_of(path: str) -> str:
  relative = os.path.relpath(path, ROOT)
  return relative.split(os.sep)[0] if os.sep in relative else relative[:-len('.py')]


def test_the_top_level_holds_the_four_files_and_the_packages():
  assert {os.path.basename(p) for p in glob.glob(os.path.join(ROOT, '*.py'))} == TOP_LEVEL_MODULES
  assert set(utils.PACKAGES) == {name for name in LAYERS if name[0].islower()} - {
      'utils', 'maml'}
  for package in utils.PACKAGES:
    assert os.path.exists(os.path.join(ROOT, package, '__init__.py')), package


def test_every_import_goes_to_the_same_or_a_lower_layer():
  files = glob.glob(os.path.join(ROOT, '*.py')) + [
      f for package in utils.PACKAGES for f in glob.glob(os.path.join(ROOT, package, '*.py'))]
  upward = []
  for path in files:
    own = layer_of(path)
    for imported in project_imports(path):
      same_package = imported == own
      if not same_package and LAYERS[imported] >= LAYERS[own]:
        upward.append(f'{os.path.relpath(path, ROOT)} imports {imported}')
  assert not upward, upward
