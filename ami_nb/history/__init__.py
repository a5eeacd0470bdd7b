"""History that outlives the session: the Parquet archive, its reader, the importers and the Dask runner.

``Archive`` writes (:mod:`ami_nb.history.writer`), :func:`open` reads (:mod:`ami_nb.history.reader`); needs
pyarrow and duckdb (``pip install ami_nb[history]``), Dask for :meth:`History.calls` on a cluster
(``ami_nb[scale]``).
"""

from .reader import History, open
from .writer import Archive

__all__ = ["Archive", "History", "open"]
