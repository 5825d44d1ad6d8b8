"""Checkpoint I/O of a run's folder: the folder lock, saving and restoring
(theta, Adam's slots and the global step), config.json and its training
history, clearing a killed save's leftovers, and the per-model checkpoints of
a group trained in one graph, saved as if each model had trained alone.

A checkpoint's config is written beside it first (config.json.step<N>) and
becomes config.json once the checkpoint is saved, so config.json never
describes a step that was not saved.
"""
import contextlib
import errno
import fcntl
import glob
import hashlib
import os
import re
import stat
from typing import Dict, List, Optional, Tuple

import numpy as np

from common import fileio
import utils
from utils import CommandError
tf = utils.quiet_tensorflow()
import maml  # pylint: disable=wrong-import-position
from run import settings as run_settings  # pylint: disable=wrong-import-position
from run.settings import RESUME_KEYS, Settings, check_same  # pylint: disable=wrong-import-position

CHECKPOINTS_KEPT = 2
STATE_FILE = 'checkpoint'          # TF's record of the latest checkpoints
CHECKPOINT_PREFIX = 'model.ckpt'
CONFIG_FILE = 'config.json'
READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)
FILES_NAMED = 3    # a refusal names at most this many of the files in the way


def make_experiment_dir(path: str):
  try:
    os.makedirs(path, exist_ok=True)
    probe = os.path.join(path, '.write_test')
    with open(probe, 'w'):
      pass
    os.remove(probe)
  except OSError as e:
    raise CommandError(f'--logdir: cannot write {path} ({e.strerror})')


@contextlib.contextmanager
def folder_lock(path: str, instead: str = '--exp_name/--logdir'):
  """One run at a time per experiment folder: an exclusive flock on <path>/.lock,
  which the OS releases when the process ends, however it ends. `instead`: the
  flags that choose another folder. A read-only folder needs no lock: no run
  can write there."""
  lock_file = os.path.join(path, '.lock')
  try:   # never through a link: the lock's pid would overwrite the file it leads to
    lock = open(os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666), 'r+')
  except OSError as e:
    if e.errno == errno.ELOOP:
      raise CommandError(f'{lock_file} is a symbolic link; remove it (the lock is a plain '
                         'file this code creates)')
    if e.errno not in READ_ONLY:
      raise
    yield
    return
  with lock:
    if not stat.S_ISREG(os.fstat(lock.fileno()).st_mode):
      raise CommandError(f'{lock_file} is not a regular file; remove it (the lock is a plain '
                         'file this code creates)')
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      lock.seek(0)
      raise CommandError(f'{path} is in use by another run (pid {lock.read().strip() or "?"}); '
                         f'wait for it to end or choose another {instead}')
    lock.truncate(0)
    lock.write(str(os.getpid()))
    lock.flush()
    yield


def unreadable_checkpoint(checkpoint: str, error) -> CommandError:
  """error: the exception reading it raised, or the reason in words."""
  why = (error if isinstance(error, str)
         else f'{type(error).__name__}: {utils.first_line(error)}')
  return CommandError(f'{checkpoint} cannot be read ({why}); restore its files (e.g. git '
                      'checkout) or retrain into another folder')


def restore_checkpoint(saver, sess, path: str, variables: List[tf.Variable]):
  """Restores `variables` (the saver's) from the latest checkpoint in `path`,
  or one line on what is broken. Their shapes are checked first: TF restores a
  resource variable of another shape without a word (a config.json edited to
  other hidden sizes), and the first run fails pages later."""
  checkpoint = latest_checkpoint(path)
  try:
    saved = tf.train.load_checkpoint(checkpoint).get_variable_to_shape_map()
    for variable in variables:
      name, shape = variable.op.name, variable.shape.as_list()
      if saved.get(name) != shape:
        raise ValueError(f'it holds {name} of shape {saved.get(name)}, the settings of '
                         f'{config_file(path)} need {shape}')
    saver.restore(sess, checkpoint)
  except (tf.errors.OpError, ValueError) as e:
    raise unreadable_checkpoint(checkpoint, e)


# The temporary names a killed or failed save leaves behind, and only those:
# TF's checkpoint shards (<file>.tempstate<digits>) and state file
# (checkpoint.tmp<32 hex digits>), this code's <file>.tmp<pid>-<thread> and
# <file>.old<pid>-<thread> (fileio.replace_all).
PARTIAL_FILES = re.compile(r'(\.tempstate\d+|^checkpoint\.tmp[0-9a-f]{32}|\.(tmp|old)\d+-\d+)$')


def remove_partial_files(path: str):
  """Removes the PARTIAL_FILES in `path`; called with the folder locked, so no
  other writer owns them. A user's `notes.tmp` is not one of them."""
  for name in os.listdir(path):
    if PARTIAL_FILES.search(name):
      with contextlib.suppress(OSError):
        os.remove(os.path.join(path, name))


def checkpoint_files(path: str) -> List[str]:
  """The names of every file in `path` that is a checkpoint or its config, whole
  or partial (a killed save's leftovers too): what a new run must not replace."""
  if not os.path.isdir(path):
    return []
  return sorted(name for name in os.listdir(path)
                if name.startswith((STATE_FILE, CHECKPOINT_PREFIX, CONFIG_FILE)))


def checkpoint_state(path: str):
  """TF's checkpoint state of folder `path`, or None without a state file (TF
  writes it last: a save killed before it left no checkpoint); one line if it
  is unreadable or names a checkpoint outside `path` (an edited state file: a
  resume's max_to_keep would delete the other folder's files, an eval would
  use the other folder's model)."""
  state_file = os.path.join(path, STATE_FILE)
  if not os.path.lexists(state_file):
    return None
  try:
    fileio.check_regular(state_file)
    state = tf.train.get_checkpoint_state(path)
  except (ValueError, OSError, tf.errors.OpError):
    state = None
  if state is None or not state.model_checkpoint_path:
    raise unreadable_checkpoint(state_file, 'not a checkpoint state')
  folder = os.path.realpath(path)
  for named in [state.model_checkpoint_path, *state.all_model_checkpoint_paths]:
    if os.path.dirname(os.path.realpath(named)) != folder:
      raise unreadable_checkpoint(state_file, f'it names {named}, outside {path}')
  return state


def latest_checkpoint(path: str) -> Optional[str]:
  """The latest checkpoint (its path prefix) that `path`'s state file names
  (checkpoint_state), or None; one line if its index is gone (TF would quietly
  answer none, and a new run would overwrite the older checkpoints)."""
  state = checkpoint_state(path)
  if state is None:
    return None
  checkpoint = state.model_checkpoint_path
  if not os.path.exists(checkpoint + '.index'):
    raise unreadable_checkpoint(checkpoint, f'{os.path.basename(checkpoint)}.index is missing')
  return checkpoint


def has_checkpoint(path: str) -> bool:
  return os.path.isdir(path) and latest_checkpoint(path) is not None


def checkpoint_step(path: str) -> int:
  return int(latest_checkpoint(path).rsplit('-', 1)[1])


def checkpoint_source(path: str) -> dict:
  """What a result was computed from: the checkpoint, its step and a digest of its data."""
  checkpoint = latest_checkpoint(path)
  digest = hashlib.sha256()
  for data in sorted(glob.glob(checkpoint + '.data-*')):
    with open(data, 'rb') as f:
      digest.update(f.read())
  return {'checkpoint': checkpoint, 'step': int(checkpoint.rsplit('-', 1)[1]),
          'sha256': digest.hexdigest()[:16]}


# ------------------------------------------------ config.json and history --

def read_config(path: str) -> Tuple[Settings, List[dict]]:
  """(settings, history) of the trained run in `path`.

  history: one segment per training session, {'start', 'end', 'beta'}, where
  `end` is the last iteration saved with that meta step size.
  """
  config_path = config_file(path)
  if not os.path.exists(config_path) or not has_checkpoint(path):
    raise missing_checkpoint(path)
  try:
    config = fileio.read_json(config_path)
    settings = Settings.from_json(config['settings'])
    history = config.get('history') or [{'start': 0, 'end': checkpoint_step(path),
                                         'beta': settings.beta}]
    check_history(history)
  except (ValueError, KeyError, TypeError, AttributeError) as e:
    raise CommandError(f'{config_path} is unreadable ({type(e).__name__}: {e}); '
                       'restore it (e.g. git checkout) or retrain into another folder')
  return settings, history


def check_history(history):
  """A ValueError unless `history` is a list of {'start', 'end', 'beta'}."""
  for segment in history if isinstance(history, list) else [history]:
    if not (isinstance(segment, dict)
            and all(run_settings.is_int(segment.get(key), low=0) for key in ('start', 'end'))
            and run_settings.is_number(segment.get('beta'))):
      raise ValueError(f'history: expected a list of {{"start", "end", "beta"}}, got {segment}')


def missing_checkpoint(path: str) -> CommandError:
  return CommandError(f'--logdir/--exp_name: no trained checkpoint in {path}; '
                      'train it first (--mode=train) or point there a trained run')


def pending_config(path: str, step: int) -> str:
  """The config written just before the checkpoint of `step`; it becomes config.json
  once that checkpoint is saved, so config.json never describes an unsaved step."""
  return os.path.join(path, f'config.json.step{step}')


def config_file(path: str) -> str:
  """The config that describes the latest checkpoint: config.json, or the pending
  one of that step if the process stopped between the save and the rename."""
  if has_checkpoint(path) and os.path.exists(pending_config(path, checkpoint_step(path))):
    return pending_config(path, checkpoint_step(path))
  return os.path.join(path, CONFIG_FILE)


def settle_config(path: str):
  """With the folder locked: make a pending config that matches the latest
  checkpoint config.json, and drop pending configs of steps never saved."""
  current = config_file(path)
  for pending in glob.glob(os.path.join(path, 'config.json.step*')):
    if not re.fullmatch(r'config\.json\.step\d+', os.path.basename(pending)):
      continue    # a user's file (config.json.step_notes.txt): never this code's to remove
    if pending == current:
      os.replace(pending, os.path.join(path, CONFIG_FILE))
    else:
      os.remove(pending)


def load_settings(path: str) -> Settings:
  return read_config(path)[0]


def write_config(config_path: str, settings: Settings, history: List[dict]):
  fileio.write_json(config_path, {
      'settings': settings.to_json(), 'history': history,
      'versions': {'tensorflow': tf.__version__, 'numpy': np.__version__}})


def find_run(logdir: str, settings: Settings) -> str:
  """The run in `logdir` that a resume with these settings continues: the one
  trained with the same RESUME_KEYS, whatever its beta and iteration count,
  else the folder these settings name (a run stopped before its first save
  has no config.json yet, and a run without --resume refuses its leftovers
  saying "pass --resume")."""
  matches = []
  for path in sorted(filter(os.path.isdir, glob.glob(os.path.join(logdir, '*')))):
    try:
      saved = load_settings(path)    # config.json, or the pending one a kill left (config_file)
    except CommandError:
      continue
    if all(getattr(saved, key) == getattr(settings, key) for key in RESUME_KEYS):
      matches.append(path)
  named = os.path.join(logdir, run_settings.experiment_name(settings))
  if not matches and os.path.isdir(named):
    return named
  if not matches:
    raise CommandError(f'--resume: no run in {logdir} was trained with these settings; '
                       'name the folder with --exp_name')
  if len(matches) > 1:
    raise CommandError(f'--resume: {len(matches)} runs in {logdir} match these settings '
                       f'({", ".join(os.path.basename(m) for m in matches)}); '
                       'choose one with --exp_name')
  return matches[0]


def checked_history(settings: Settings, path: str, resume: bool) -> List[dict]:
  """With `path` locked: refuses a request the folder cannot satisfy and returns
  the training history so far ([] if nothing was saved yet).

  Without `resume` any checkpoint or config file, whole or partial, stops the
  run: it is another run's. With it, a failed save's leftovers are cleared
  first, and a folder where nothing was saved yet (a run stopped before its
  first save) starts from iteration 0.
  """
  if not resume:
    present = checkpoint_files(path)
    if present:
      raise CommandError(f'{path} already holds a checkpoint (or part of one: '
                         f'{", ".join(present[:FILES_NAMED])}): pass --resume to continue it, '
                         'or choose another --exp_name/--logdir')
    return []
  remove_partial_files(path)
  settle_config(path)
  if not checkpoint_files(path):
    return []
  saved, history = read_config(path)
  check_same(saved, settings, RESUME_KEYS, 'resume', path)
  if settings.meta_iterations <= checkpoint_step(path):
    raise CommandError(
        f'--meta_iterations={settings.meta_iterations}: {path} is already at iteration '
        f'{checkpoint_step(path)}; a resume must ask for more iterations')
  return history


def save_checkpoint(saver, sess, path: str, settings: Settings, history: List[dict],
                    step: int, theta: Dict[str, np.ndarray]):
  """Saves what `saver` holds in `sess` as <path>/model.ckpt-<step> with its
  config, after checking theta (the values being saved) is finite."""
  # The loss of a chunk's last iteration is computed before its update, so a
  # finite loss does not prove finite weights: check what would be saved.
  if not all(np.all(np.isfinite(v)) for v in theta.values()):
    raise CommandError(
        f'{path}: theta became non-finite by iteration {step}; stopped without saving, the '
        f'last good checkpoint ({latest_checkpoint(path) or "none saved yet"}) is '
        'kept. Try a smaller --beta or --alpha.')
  try:
    history[-1]['end'] = step
    write_config(pending_config(path, step), settings, history)
    saver.save(sess, os.path.join(path, 'model.ckpt'), global_step=step, write_meta_graph=False)
    os.replace(pending_config(path, step), os.path.join(path, CONFIG_FILE))
  except (tf.errors.OpError, OSError) as e:
    remove_partial_files(path)
    settle_config(path)
    raise CommandError(
        f'cannot save a checkpoint in {path} at iteration {step} ({utils.first_line(e)}); '
        f'the last good checkpoint ({latest_checkpoint(path) or "none yet"}) is '
        'kept; free some space or make the folder writable, then continue with --resume')


# -------------------------------------------- the checkpoints of a group --

def solo_name(grouped_name: str) -> str:
  """A grouped variable's name in a model trained alone: group/w1/Adam -> model/w1/Adam."""
  prefix = maml.GroupedMAML.SCOPE + '/'
  if grouped_name.startswith(prefix):
    return maml.MODEL_SCOPE + '/' + grouped_name[len(prefix):]
  return grouped_name     # Adam's beta powers and the global step, shared by the group


class GroupCheckpoints:
  """Per-model checkpoints of a group, in a graph of its own that holds one
  model's variables under their solo names (model/w1, model/w1/Adam, ...,
  beta1_power, global_step): model m's rows are loaded there, then saved.

  Build it in the group's graph (it reads that graph's variables). `paths`
  and `settings`: each model's folder and settings.
  """

  def __init__(self, model: maml.GroupedMAML, paths: List[str], settings: List[Settings]):
    self.paths, self.settings = paths, settings
    self.grouped = {solo_name(v.op.name): v for v in tf.global_variables()}
    self.stacked = {name for name in self.grouped if name.startswith(maml.MODEL_SCOPE + '/')}
    self.theta_names = {name: maml.MODEL_SCOPE + '/' + name for name in model.theta}
    self.graph = tf.Graph()
    with self.graph.as_default():
      self.variables = {
          name: tf.get_variable(name, v.shape[1:] if name in self.stacked else v.shape,
                                v.dtype.base_dtype, use_resource=True)
          for name, v in self.grouped.items()}
      first = tf.train.Saver(self.variables, max_to_keep=CHECKPOINTS_KEPT,
                             save_relative_paths=True)
      # One Saver per model (each keeps its own last checkpoints), sharing the ops.
      self.savers = [first] + [tf.train.Saver(saver_def=first.as_saver_def())
                               for _ in paths[1:]]
    self.sess = tf.Session(graph=self.graph, config=utils.session_config(1, 1))

  def restore(self, sess) -> None:
    """Loads every model's latest checkpoint into the group's variables."""
    values = {name: [] for name in self.grouped}
    for path, saver in zip(self.paths, self.savers):
      checkpoint = latest_checkpoint(path)
      try:
        reader = tf.train.load_checkpoint(checkpoint)
        for name in values:
          values[name].append(reader.get_tensor(name))
      except (tf.errors.OpError, ValueError) as e:
        raise unreadable_checkpoint(checkpoint, e)
      saver.recover_last_checkpoints(checkpoint_state(path).all_model_checkpoint_paths)
    for name, variable in self.grouped.items():
      # Shared values (the step, Adam's beta powers) are equal in every model
      # at the same step; stacked ones get one row per model.
      variable.load(np.stack(values[name]) if name in self.stacked else values[name][0], sess)

  def save(self, values: Dict[str, np.ndarray], index: int, history: List[dict], step: int):
    """Saves model `index` of the group as a model trained alone is saved, from
    the group's variable `values` (by solo name)."""
    for name, variable in self.variables.items():
      variable.load(values[name][index] if name in self.stacked else values[name], self.sess)
    theta = {name: values[solo][index] for name, solo in self.theta_names.items()}
    save_checkpoint(self.savers[index], self.sess, self.paths[index], self.settings[index],
                    history, step, theta)

  def close(self):
    self.sess.close()
