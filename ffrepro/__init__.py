"""ffrepro: a reproducible companion to Hinton's "The Forward-Forward Algorithm" (2022)."""

__version__ = "0.1.0"
