"""avma-tui: see and fix Automatic Virtual Machine Activation on a Hyper-V host."""

__version__ = "0.1.0"
