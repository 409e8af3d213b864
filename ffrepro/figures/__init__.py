"""Figures and tables for the book: pure functions of results dicts (see :mod:`ffrepro.results`).

One module per chapter, each holding the figures and tables only that chapter draws, and
:mod:`~ffrepro.figures.common` for everything two chapters share:

- :mod:`~ffrepro.figures.common`: loading a chapter's results, the paper-vs-reproduced, runs,
  errors, configuration and provenance tables, learning curves (BP and supervised FF) and
  goodness histograms (every FF chapter);
- :mod:`~ffrepro.figures.bp`: the backprop baseline on MNIST (paper section 3.1);
- :mod:`~ffrepro.figures.supervised`: supervised FF on MNIST (paper section 3.3);
- :mod:`~ffrepro.figures.jitter`: jittered MNIST and its receptive fields (section 3.3, Figure 2);
- :mod:`~ffrepro.figures.hybrids`: the hybrid images of unsupervised FF (section 3.2, Figure 1);
- :mod:`~ffrepro.figures.unsupervised`: unsupervised FF on MNIST (section 3.2);
- :mod:`~ffrepro.figures.recurrent`: recurrent FF with top-down connections (section 3.4, Figure 3);
- :mod:`~ffrepro.figures.cifar`: CIFAR-10's Table 1, learning curves and receptive fields (section 4);
- :mod:`~ffrepro.figures.sleep`: positive and negative phases apart in time (section 5), and the
  numbers the page on FF and GANs takes from that study;
- :mod:`~ffrepro.figures.memory`, :mod:`~ffrepro.figures.blackbox`: the memory and black-box studies;
- :mod:`~ffrepro.figures.chapter`: the "reproduce this" box of every page;
- :mod:`~ffrepro.figures.summary`: the book's first page and its "All results" page.

Each chapter module has a ``facts`` function that returns every number and verdict its chapter's text
states, keyed by the glue name the text uses (and most a ``figures`` function for its glued figures),
so that a notebook holds its parameters, one glue loop and calls that show tables.

A chapter module imports :mod:`~ffrepro.figures.common` and the core modules of ``ffrepro``, never
another chapter module; no core module imports this package. Every function builds a new
:class:`matplotlib.figure.Figure` (never through ``pyplot``, so nothing is drawn or registered
globally) or a :class:`pandas.DataFrame`. Errors are in percent.
"""
