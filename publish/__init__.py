"""Publishing: the report, reproduce and redraw modes, the checks of every
file they read, one run's figure and the timing records."""
