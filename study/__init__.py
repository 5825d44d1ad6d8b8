"""The robustness study: how far can the task distribution move from the paper's
sinusoid before MAML stops working?

Read top-down, one job per module:
  points     what a point (one task distribution) is, the list of points, and
             which trained models each point tests;
  protocols  how a model is tested on a point: the three protocols, the
             normalised error, its statistics and the sign test; writes the
             results files;
  report     tables, figures and README sections, drawn only from those files.
"""
