"""Helpers every layer uses: atomic files, statistics, README sections,
signals and figure drawing."""
