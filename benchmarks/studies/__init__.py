"""The table builders of benchmarks/tables.py, one module per study; read.py reads result files and formats."""
