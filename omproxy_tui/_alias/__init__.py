"""Not a package of ours: the directory that holds the ``omproxy`` import alias.

The wheel installs ``omproxy_tui/_alias/omproxy`` as the top-level package ``omproxy`` (hatch
force-include), and an editable install puts this directory on sys.path (hatch dev-mode-dirs), so
programs written for the original omproxy 0.3 (``from omproxy.proxy import StdioProxy``) run
unchanged, without a second top-level folder in the repository.
"""
