"""Up-front checks of the method's inputs, with messages a user can act on (scikit-learn style)."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from esmc_desktop.errors import MethodInputError


def check_vectors(X, *, min_rows: int = 2) -> sparse.csr_matrix:
    """Finite, non-empty CSR float32 rows; at least `min_rows` of them."""
    X = sparse.csr_matrix(X, dtype=np.float32) if not sparse.issparse(X) else X.tocsr().astype(np.float32)
    if X.shape[0] < min_rows:
        raise MethodInputError(f"need at least {min_rows} photos to cluster, got {X.shape[0]}")
    if not np.isfinite(X.data).all():
        raise MethodInputError("the vectors contain NaN or infinite values (a failed model run?)")
    return X


def check_n_clusters(n_clusters: int, n_rows: int) -> None:
    if not isinstance(n_clusters, (int, np.integer)) or n_clusters < 2:
        raise MethodInputError(f"the number of clusters must be an integer of at least 2, got {n_clusters!r}")
    if n_clusters > n_rows:
        raise MethodInputError(f"can't make {n_clusters} clusters from {n_rows} photos; choose K <= {n_rows}")


def check_not_all_identical(X: sparse.csr_matrix) -> None:
    ones = sparse.csr_matrix(np.ones((X.shape[0], 1), np.float32))
    if (abs(X - ones @ X[0]) > 1e-7).nnz == 0:
        raise MethodInputError("all photos have the same vector for this criterion: there is nothing to separate")
