"""deephash: reproducible deep hashing for image retrieval.

The library knows nothing of DVC: the scripts in ``stages/`` read params, call it and write outputs.
"""

__version__ = "0.1.0"
