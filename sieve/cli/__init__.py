"""The ``sieve`` command: argument parsing and one handler per subcommand (``main.py``),
the ``sieve train`` body (``train.py``), ``sieve rules check`` (``rules.py``). Entry points
only: every command builds its objects through ``sieve.wiring`` and calls into the
packages below."""

from sieve.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
