"""The paper's sinusoid experiments: models.py defines, trains and evaluates
the models; report.py draws figures 2 and 3 and writes table 2."""
