"""The registry's entries, one module per chapter of the book (collected by :mod:`ffrepro.registry`)."""
