"""Notebook integration: ``%load_ext jazz_nb``, the ``%jazz`` magic, widgets and HTML reprs."""

from jazz_nb.notebook.extension import load_ipython_extension, unload_ipython_extension

__all__ = ["load_ipython_extension", "unload_ipython_extension"]
