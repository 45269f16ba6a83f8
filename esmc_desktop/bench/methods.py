"""The bench's methods, its settings and its report's rows: ESMC against the papers' baselines.

The dataset and its criteria: see dataset.py. Methods (METHODS), all on the
same photos, each criterion scored on the photos labelled under it:

  esmc                   the product's job (ClusterJob: keywords, localization, lens vectors),
                         then the clustering head (Algorithm 2)
  esmc-no-head           k-means on the same vectors (ESMC Table 3, "w/o MLP")
  esmc-last-token        the head on the lens vector of the last prompt token at the last
                         block: no localization (where the model predicts its answer)
  esmc-algorithm-1       the same job with the paper's Algorithm 1 as written (`--localization
                         paper`): its target, its vectors, the head
  zero-shot-keywords     each photo's most probable keyword at ESMC's target (the keywords
                         ESMC used: the model's own, or the criteria file's)
  zero-shot-label-names  the same with the true label names: USES LABELS, an upper bound
                         (Multi-Sub's zero-shot CLIP with ground-truth names)
  output-text            the text-guided clustering paper's prompt-guided baseline: several
                         answers per photo sampled at temperature 1 to the criterion's question,
                         TF-IDF without English stop words, vocabulary capped at 2000, k-means
  output-text-keywords   the same with its keyword question, "Which keywords describe the image?"
  image-kmeans           k-means on the photo's image embedding (mean projector output)
  named                  the product's named values (`cluster --values`) with the true label names as the
                         values: USES LABELS; `other` is scored as a cluster of its own
  named-one-left-out     the same with one label name left out, each in turn (mean and spread over the
                         left-out label, not seeds): its photos should go to `other`; the note gives the
                         share of them that did, and of the other photos

Variance: every clustering is repeated for `seeds` seeds (k-means initialisation and
the head's MLP initialisation); the photos' readings, the targets and the sampled
answers are fixed by MethodSettings.seed. Every k-means uses KMEANS_RESTARTS restarts,
the head's own k-means included. Labels are used for the metrics only (and, marked,
for the zero-shot upper bound).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from esmc_desktop.method.baselines import READOUTS
from esmc_desktop.method.head import OPTIMIZERS

METHODS = {
    "esmc": "ESMC: the clustering head on the lens vectors at the localized target",
    "esmc-no-head": "k-means on the same lens vectors (Table 3, w/o MLP)",
    "esmc-last-token": "the head at the last prompt token of the last block (no localization)",
    "esmc-algorithm-1": "the head at the target of the paper's Algorithm 1",
    "zero-shot-keywords": "each photo's most probable keyword at ESMC's target",
    "zero-shot-label-names": "each photo's most probable true label name at ESMC's target (uses labels)",
    "output-text": "sampled answers to the criterion question -> TF-IDF -> k-means",
    "output-text-keywords": "sampled answers to 'Which keywords describe the image?' -> TF-IDF -> k-means",
    "image-kmeans": "k-means on the image embedding (mean projector output)",
    "named": "the label names as named values (--values), `other` its own cluster (uses labels)",
    "named-one-left-out": "the same with one label name left out, each in turn (spread over the left-out label): "
                          "its photos should go to `other`",
}
USES_LABELS = frozenset({"zero-shot-label-names", "named", "named-one-left-out"})
NO_KMEANS = frozenset({"zero-shot-keywords", "zero-shot-label-names", "named", "named-one-left-out"})
METRICS = ("nmi", "ri", "ari", "acc")
KEYWORD_QUESTION = "Which keywords describe the image?"  # the text-guided clustering paper's keyword-guided question


@dataclass(frozen=True)
class BenchConfig:
    """The bench's knobs; all of them are written into the report."""

    seeds: int = 10
    alpha: float | None = None  # None: the dataset's criteria.toml, else MethodSettings.alpha (0.3)
    readout: str = "argmax"  # the head's labels: MLP argmax (Algorithm 2) or k-means on its outputs (released script)
    optimizer: str = "sgd"  # the head's optimizer: "sgd" (ours) or "adam" (released script, lr 1e-4)
    answers: int = 6  # sampled answers per photo and question (the text-guided paper's choice)
    answer_tokens: int = 80  # at most this many tokens per answer (the text-guided paper's 80)
    temperature: float = 1.0  # plain sampling, "without any additional parameters"
    phrases: dict[str, str] = field(default_factory=dict)  # criterion folder -> phrase (--criterion)

    def check(self) -> None:
        from esmc_desktop.errors import EsmcError

        if self.seeds < 1:
            raise EsmcError("--seeds must be at least 1")
        if self.alpha is not None and not 0 < self.alpha <= 1:
            raise EsmcError(f"--alpha must be in (0, 1], got {self.alpha}")
        if self.answers < 1 or self.answer_tokens < 1:
            raise EsmcError("--answers and --answer-tokens must be at least 1")
        for name, value, allowed in (("--readout", self.readout, READOUTS), ("--optimizer", self.optimizer, OPTIMIZERS)):
            if value not in allowed:
                raise EsmcError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


@dataclass(frozen=True)
class Row:
    criterion: str
    method: str
    mean: dict[str, float]
    std: dict[str, float]
    kmeans_restarts: int  # 0 for methods without k-means
    uses_labels: bool
    note: str = ""


@dataclass(frozen=True)
class CriterionInfo:
    folder: str
    phrase: str
    prompt: str
    photos: int
    k: int
    keywords: list[str]
    label_names: list[str]
    target: str  # "layer L, position P ('token')"
    algorithm_1_target: str
    last_token_target: str


@dataclass
class Report:
    rows: list[Row]
    cross: dict[tuple[str, str], float]  # (clustered by, labels of) -> mean NMI of ESMC's clustering
    criteria: list[CriterionInfo]
    settings: dict[str, str]


def question(criterion: str) -> str:
    """'color of the object' -> 'What is the color of the object? Answer with one word.'"""
    return f"What is the {criterion.removeprefix('the ').strip()}? Answer with one word."
