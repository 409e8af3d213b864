"""Figures and tables for the book: pure functions of results dicts (see :mod:`ffrepro.results`).

One module per chapter (named in its docstring's first line), each holding the figures and tables
only that chapter draws and declaring the book's pages it draws (``PAGES``, see :mod:`ffrepro.book`);
:mod:`~ffrepro.figures.common` holds everything two chapters share (loading a chapter's results, the
paper-vs-reproduced, runs, errors, configuration and provenance tables, learning curves, goodness
histograms) and :mod:`~ffrepro.figures.chapter` the "reproduce this" box of every page.

Each chapter module has a ``facts`` function that returns every number and verdict its chapter's text
states, keyed by the glue name the text uses (and most a ``figures`` function for its glued figures),
so that a notebook holds its parameters, one glue loop and calls that show tables.

A chapter module imports :mod:`~ffrepro.figures.common` and the core modules of ``ffrepro``, never
another chapter module; no core module imports this package (only :mod:`ffrepro.book`, above it, collects
its pages). Every function builds a new
:class:`matplotlib.figure.Figure` (never through ``pyplot``, so nothing is drawn or registered
globally) or a :class:`pandas.DataFrame`. Errors are in percent.
"""
