"""Figures and the paper: one module per figure, each reading saved records and writing PDF + PNG.

``weakstrong figures [--only NAME] [--out-dir runs]`` regenerates them (simulator figures run their
``weakstrong sim`` experiments through the CLI, cached per configuration; LLM figures read the committed
``results/*/results.json``), and ``weakstrong paper`` also writes ``paper/generated/*.tex`` and builds the PDF.
From a figure to its numbers: ``weakstrong figures --list`` names the data file and the command of each.
"""
