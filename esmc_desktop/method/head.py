"""ESMC's pseudo-label clustering head (Algorithm 2), in numpy on sparse lens vectors.

k-means (several restarts) gives initial clusters; in each, the alpha fraction
of photos closest to its centroid become pseudo-labels; a 2-layer MLP
|V| -> 512 -> K is trained on them with cross-entropy for a fixed number of
epochs (one full-batch step per epoch, as Algorithm 2 is written; momentum
SGD, see _Momentum for why not Adam); every
photo's label is the argmax of the MLP, its confidence the
softmax maximum after calibration (see `calibrate`). If the MLP's argmax leaves
empty a cluster k-means had populated, the head failed to learn it and
nearest-centroid assignment is kept instead (`used_head_` is False), expressed
as the same kind of network; its softmax is about 1/K everywhere and means
nothing, so its confidences are NaN ("not known") and say so
(`HeadWeights.has_confidence`). No ground truth anywhere: the reference script
picks its best epoch by ground-truth NMI, we train a fixed number of epochs,
seeded.

The first layer only keeps rows for vocabulary entries that occur in the
pseudo-labelled photos ("active" tokens). On those photos that is the same
function as a dense |V| x 512 layer: an absent token has input 0, so its row
neither affects the output nor gets a gradient. Rows that were never trained
are zero rather than left at their random initial values, so a token unseen in
training adds nothing (not noise) when new photos are assigned. It keeps
training fast at |V| = 32000 without torch.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize, sparse
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from esmc_desktop.method.validation import (
    MethodInputError,
    check_n_clusters,
    check_not_all_identical,
    check_vectors,
)


@dataclass(frozen=True)
class HeadWeights:
    """The trained MLP: active vocabulary ids, W1 rows for them, and the rest."""

    active: np.ndarray  # (A,) int64 vocabulary ids, sorted
    w1: np.ndarray  # (A, H)
    b1: np.ndarray  # (H,)
    w2: np.ndarray  # (H, K)
    b2: np.ndarray  # (K,)
    n_vocab: int
    has_confidence: bool = True  # False: the softmax only ranks clusters, it is no probability
    log_floor: float | None = None  # None: reads lens probabilities (Algorithm 2); else log_features(X, log_floor)

    def inputs(self, X: sparse.csr_matrix) -> sparse.csr_matrix:
        """What the first layer reads: the lens vectors themselves, or their log features."""
        return X if self.log_floor is None else log_features(X, self.log_floor)

    def logits(self, X: sparse.csr_matrix) -> np.ndarray:
        Xa = _restrict(self.inputs(X), self.active)
        return np.maximum(Xa @ self.w1 + self.b1, 0.0) @ self.w2 + self.b2

    def predict_proba(self, X: sparse.csr_matrix) -> np.ndarray:
        return _softmax(self.logits(X))

    def margins(self, X: sparse.csr_matrix) -> np.ndarray:
        """How far each photo is from its cluster's border: best minus second-best logit.

        Ranks photos from least to most certain where probabilities all round to 1.0 (float32).
        """
        top2 = np.sort(self.logits(X), axis=1)[:, -2:]
        return top2[:, 1] - top2[:, 0]


def log_features(X: sparse.csr_matrix, floor: float) -> sparse.csr_matrix:
    """Lens probabilities on a log scale, still sparse: log(1 + p/floor) / log(1 + 1/floor).

    0 for a token outside the top-k (as in the lens vector), 1 for probability 1, and a token at
    1e-3 counts 0.43 times as much as one at 0.5 (with floor 1e-5), where in the probability vector
    it weighs 0.002 times as much. See method/learn.py for why learning from corrections reads this.
    """
    Z = sparse.csr_matrix(X, dtype=np.float64, copy=True)
    Z.data = np.log1p(Z.data / floor) / np.log1p(1.0 / floor)
    return Z


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _restrict(X: sparse.csr_matrix, active: np.ndarray) -> sparse.csr_matrix:
    """Columns of X at the active ids, in order; unknown ids are dropped (their weight is 0)."""
    X = X.tocsr()
    pos = np.searchsorted(active, X.indices)
    pos = np.minimum(pos, len(active) - 1)
    keep = active[pos] == X.indices
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    return sparse.csr_matrix((X.data[keep], (rows[keep], pos[keep])), shape=(X.shape[0], len(active)),
                             dtype=np.float32)


class ClusteringHead:
    """fit(X) -> labels_ and confidences_; X is (n_photos, |V|) sparse lens vectors.

    Parameters are checked when fit is called, as in scikit-learn.
    """

    def __init__(self, n_clusters: int, *, alpha: float = 0.3, hidden: int = 512, epochs: int = 100,
                 learning_rate: float | None = None, n_init: int = 10, seed: int = 0,
                 optimizer: str = "sgd") -> None:
        self.n_clusters = n_clusters
        self.alpha = alpha
        self.hidden = hidden
        self.epochs = epochs
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.n_init = n_init
        self.seed = seed

    def _check_params(self, n_rows: int) -> None:
        check_n_clusters(self.n_clusters, n_rows)
        if not 0.0 < self.alpha <= 1.0:
            raise MethodInputError(f"alpha must be in (0, 1], got {self.alpha}")
        for name in ("hidden", "epochs", "n_init"):
            if int(getattr(self, name)) < 1:
                raise MethodInputError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.optimizer not in OPTIMIZERS:
            raise MethodInputError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.learning_rate is not None and self.learning_rate <= 0:
            raise MethodInputError(f"learning_rate must be positive, got {self.learning_rate}")

    def fit(self, X) -> "ClusteringHead":
        X = check_vectors(X)
        self._check_params(X.shape[0])
        check_not_all_identical(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # said in note_, in words
            kmeans = KMeans(self.n_clusters, n_init=self.n_init, random_state=self.seed).fit(X)
        groups = len(np.unique(kmeans.labels_))
        self.note_ = "" if groups >= self.n_clusters else (
            f"the {X.shape[0]} photos read as only {groups} different things here, so {self.n_clusters - groups} "
            f"of the {self.n_clusters} clusters stay empty; ask for fewer clusters, or auto")
        self.kmeans_labels_ = kmeans.labels_
        rows, targets = self._pseudo_labels(X, kmeans)
        self.pseudo_rows_ = rows
        weights = train_mlp(X, rows, targets, self.n_clusters, hidden=self.hidden, epochs=self.epochs,
                            learning_rate=self.learning_rate, seed=self.seed, optimizer=self.optimizer)
        proba = weights.predict_proba(X)
        self.used_head_ = len(np.unique(proba.argmax(axis=1))) >= len(np.unique(kmeans.labels_))
        if self.used_head_:
            held_out = np.setdiff1d(np.arange(X.shape[0]), rows)
            weights = calibrate(weights, X[held_out], kmeans.labels_[held_out])
        else:
            # The MLP emptied a cluster k-means had populated: it failed to learn it. Keep k-means.
            weights = centroid_weights(kmeans.cluster_centers_)
        self.weights_ = weights
        proba = weights.predict_proba(X)
        self.labels_ = proba.argmax(axis=1)
        self.confidences_ = confidences(weights, proba)
        return self

    def _pseudo_labels(self, X: sparse.csr_matrix, kmeans: KMeans) -> tuple[np.ndarray, np.ndarray]:
        """Per k-means cluster, the alpha fraction of members closest to its centroid (at least one)."""
        dist = kmeans.transform(X)
        rows, targets = [], []
        for k in range(self.n_clusters):
            members = np.flatnonzero(kmeans.labels_ == k)
            if len(members) == 0:
                continue
            take = max(1, int(round(self.alpha * len(members))))
            closest = members[np.argsort(dist[members, k], kind="stable")[:take]]
            rows.append(closest)
            targets.append(np.full(len(closest), k))
        return np.concatenate(rows), np.concatenate(targets)

    def predict_proba(self, X) -> np.ndarray:
        """Cluster probabilities of new lens vectors, (n, K), with the trained head."""
        return self.weights_.predict_proba(check_vectors(X, min_rows=1))

    def predict(self, X) -> np.ndarray:
        """The cluster of each new lens vector: what fit() gave its own photos, for photos it never saw."""
        return self.predict_proba(X).argmax(axis=1)


def train_mlp(X: sparse.csr_matrix, rows: np.ndarray, targets: np.ndarray, n_out: int, *,
              sample_weight: np.ndarray | None = None, hidden: int = 512, epochs: int = 100,
              learning_rate: float | None = None, seed: int = 0, optimizer: str = "sgd") -> HeadWeights:
    """Algorithm 2's MLP |V| -> hidden -> n_out, trained full-batch on X[rows] -> targets.

    `sample_weight` (default 1 each) weighs each row's cross-entropy: learning from corrections
    counts a photo the user placed more than a pseudo-label.
    """
    rng = np.random.default_rng(seed)
    train = X[rows]
    active = np.unique(train.indices).astype(np.int64)
    Xa = _restrict(train, active)
    # PyTorch's nn.Linear initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), over the full |V| fan-in
    bound1, bound2 = 1.0 / np.sqrt(X.shape[1]), 1.0 / np.sqrt(hidden)
    params = [
        rng.uniform(-bound1, bound1, (len(active), hidden)).astype(np.float32),
        rng.uniform(-bound1, bound1, hidden).astype(np.float32),
        rng.uniform(-bound2, bound2, (hidden, n_out)).astype(np.float32),
        rng.uniform(-bound2, bound2, n_out).astype(np.float32),
    ]
    kind, default_lr = OPTIMIZERS[optimizer]
    step = kind(params, learning_rate or default_lr)
    onehot = np.eye(n_out, dtype=np.float32)[targets]
    weight = np.ones(len(rows), np.float32) if sample_weight is None else np.asarray(sample_weight, np.float32)
    weight = (weight / weight.sum())[:, None]
    for _ in range(epochs):
        step.step(_gradients(params, Xa, onehot, weight))
    w1, b1, w2, b2 = params
    return HeadWeights(active, w1, b1, w2, b2, X.shape[1])


def calibrate(weights: HeadWeights, X: sparse.csr_matrix, targets: np.ndarray) -> HeadWeights:
    """The head with its logits divided by one temperature fitted on photos it was not trained on.

    A head trained to near-zero loss on its pseudo-labels says 0.99+ for almost every photo. Temperature
    scaling (Guo et al., 2017) fits one T by the likelihood of `targets` on held-out photos: k-means's
    clusters in a first clustering, the clusters with the user's corrections when learning from them.
    The confidence then means: the probability, estimated on photos the head never trained on, that a
    photo belongs to the cluster it was put in, as the clustering it reproduces would have it. One scalar,
    argmax unchanged, folded into the last layer, so ONNX and `assign` carry it unchanged. Without
    held-out photos it is returned as it is.
    """
    if X.shape[0] == 0:
        return weights
    logits = weights.logits(X)
    logits = logits - logits.max(axis=1, keepdims=True)
    picked = logits[np.arange(len(targets)), targets]

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - picked / np.exp(log_t)))

    # T between 1/20 and 100: wide enough for any head, and a head that agrees on every held-out
    # photo (the likelihood then keeps rising as T falls) stops at a finite, near-certain T.
    log_t = optimize.minimize_scalar(nll, bounds=(np.log(0.05), np.log(100.0)), method="bounded").x
    t = float(np.exp(log_t))
    return replace(weights, w2=weights.w2 / t, b2=weights.b2 / t)


def confidences(weights: HeadWeights, proba: np.ndarray) -> np.ndarray:
    """Each photo's probability for its cluster; NaN where the head's softmax is no probability."""
    if not weights.has_confidence:
        return np.full(len(proba), np.nan)
    return proba.max(axis=1)


def centroid_weights(centers: np.ndarray) -> HeadWeights:
    """Nearest-centroid assignment as the same 2-layer network, so export and ONNX need nothing new.

    softmax(-|x - c|^2) = softmax(2 x.c - |c|^2): the |x|^2 term is shared by all clusters.
    Lens vectors and centroids are non-negative, so the ReLU after 2 x.c changes nothing.
    """
    centers = np.asarray(centers, dtype=np.float32)
    active = np.flatnonzero(np.abs(centers).sum(axis=0) > 0).astype(np.int64)
    k = centers.shape[0]
    return HeadWeights(active, 2.0 * centers[:, active].T, np.zeros(k, np.float32), np.eye(k, dtype=np.float32),
                       -(centers * centers).sum(axis=1), centers.shape[1], has_confidence=False)


def _gradients(params: list[np.ndarray], Xb: sparse.csr_matrix, yb: np.ndarray,
               weight: np.ndarray) -> list[np.ndarray]:
    """Weighted cross-entropy gradients of the 2-layer ReLU MLP; `weight` (n, 1) sums to 1."""
    w1, b1, w2, b2 = params
    pre = Xb @ w1 + b1
    hidden = np.maximum(pre, 0.0)
    proba = _softmax(hidden @ w2 + b2)
    d_logits = (proba - yb) * weight
    d_hidden = (d_logits @ w2.T) * (pre > 0)
    return [np.asarray(Xb.T @ d_hidden), d_hidden.sum(0), hidden.T @ d_logits, d_logits.sum(0)]


class _Momentum:
    """Gradient descent with momentum (PyTorch's SGD semantics).

    Not Adam: Adam normalises each weight's step, so the W1 row of a rare noise
    token learns as fast as the criterion token's and the MLP memorises its
    pseudo-labelled photos through noise. Measured on synthetic lens vectors
    with a weak criterion signal (tests/synthetic_lens.py, signal 0.02-0.25):
    Adam (lr 1e-3) NMI 0.36 where k-means had 1.0; momentum SGD (lr 0.5) 1.0.
    Plain gradients keep the useful prior: a token present in a whole cluster
    gets a large, consistent gradient, scattered noise small cancelling ones.
    """

    def __init__(self, params: list[np.ndarray], lr: float, momentum: float = 0.9) -> None:
        self.params, self.lr, self.momentum = params, lr, momentum
        self.velocity = [np.zeros_like(p) for p in params]

    def step(self, grads: list[np.ndarray]) -> None:
        for p, g, v in zip(self.params, grads, self.velocity):
            v *= self.momentum
            v += g
            p -= (self.lr * v).astype(p.dtype)


class _Adam:
    """PyTorch's Adam (betas 0.9 / 0.999, eps 1e-8): the optimizer of ESMC's released script.

    Kept so the bench can compare it with momentum SGD on real features (see _Momentum).
    """

    def __init__(self, params: list[np.ndarray], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        b1, b2 = self.betas
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            m_hat, v_hat = m / (1 - b1 ** self.t), v / (1 - b2 ** self.t)
            p -= (self.lr * m_hat / (np.sqrt(v_hat) + self.eps)).astype(p.dtype)


# optimizer name -> (class, default learning rate): momentum SGD is ours (0.5, see _Momentum);
# Adam at 1e-4 is what ESMC's released script uses.
OPTIMIZERS = {"sgd": (_Momentum, 0.5), "adam": (_Adam, 1e-4)}
