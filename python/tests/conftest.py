"""Shared pytest setup for the kinkgrad tests."""

import signal

import pytest


@pytest.fixture(autouse=True)
def python_sigint_handler():
    """Python's own SIGINT handler (KeyboardInterrupt) during every test.

    Python installs it at start-up only when SIGINT is not ignored, and a non-interactive shell
    ignores SIGINT in its background jobs (`cmd &`, `nohup ... &`): there the Ctrl-C tests' signal
    would be dropped and a long run never interrupted. The tests check kinkgrad's behaviour under
    Python's handler, so they install it."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)
