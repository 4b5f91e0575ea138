"""Sub-commands of ``resmap``: each module defines ``register(subparsers)``."""
