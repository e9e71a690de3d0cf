"""Notebook integration: ``%load_ext jazz_nb``, the ``%jazz`` magic, widgets and HTML reprs."""
