"""Launcher for ``spark-submit``: runs :func:`cds_backpain.batch.spark.main`.

``spark-submit`` runs its application file as a top-level script, where the relative
imports of ``cds_backpain/batch/spark.py`` fail; this file imports the package by its
name instead. Its path: ``python -m cds_backpain.batch.spark --launcher``.
"""

import sys

from cds_backpain.batch.spark import main

if __name__ == "__main__":
    sys.exit(main())
