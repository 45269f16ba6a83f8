"""What the window says about one photo of a criterion: its confidence, its lens reading, its keywords."""

from __future__ import annotations

import html
import math

from esmc_desktop.app.export import photo_keywords
from esmc_desktop.app.result import CriterionClusters, SortResult


def _token(text: str) -> str:
    """A lens token for reading: its word, or its repr when it is only whitespace (a newline, a space)."""
    return html.escape(text.strip() or repr(text))


def where_read_text(crit: CriterionClusters) -> str:
    """Where the criterion is read (layer and prompt token) and why there: the localization's own words."""
    return (f"Read at layer {crit.layer}, token “{_token(crit.reading.target_token)}” of "
            f"“{html.escape(crit.prompt)}”. Why there: {html.escape(crit.where_read)}")


def confidence_text(crit: CriterionClusters, photo: int) -> str:
    """How sure the head is of a photo's cluster, in words; never a number that means nothing."""
    if photo in crit.placed:
        return "placed by you, so learning leaves it there"
    value = crit.confidences[photo]
    if math.isnan(value):
        return "confidence not known (nearest-centroid clustering)"
    return f"confidence {value:.2f}"


def no_confidence_text(crit: CriterionClusters) -> str:
    """Why a criterion shows no confidence figures (its head fell back to nearest centroids)."""
    return (f"No confidence figures for '{crit.text}': its head could not learn these clusters, so each photo "
            "went to the nearest cluster centre, which gives no probability.")


def keywords_text(result: SortResult, photo: int) -> str:
    """What an export in mode tags writes for the photo, with its current cluster names, and where."""
    words = photo_keywords(result, photo)
    where = ", ".join(html.escape(f.name) for f in words.sidecars)
    return (f"Keywords (Export, mode tags): <b>{html.escape(', '.join(words.subject))}</b> · "
            f"{html.escape(', '.join(words.hierarchical))} → {where}")


def lens_text(result: SortResult, criterion: int, photo: int) -> str:
    """The photo's lens reading: what the model leaned to say at the criterion's target, and its cluster."""
    reading = result.lens_reading(criterion, photo)
    crit = result.criterion(criterion)
    cluster = crit.labels[photo]
    shown = [(t, p) for t, p in reading.tokens if p >= 0.005] or reading.tokens[:1]
    tokens = " · ".join(f"{_token(t)} {p:.2f}" for t, p in shown)
    words = crit.explanations[cluster] if cluster < len(crit.explanations) else []
    return (f"<b>{html.escape(result.photos[photo].path.name)}</b> in "
            f"<b>{html.escape(crit.names[cluster])}</b> ({html.escape(confidence_text(crit, photo))}). "
            f"Read at layer {reading.layer}, token “{_token(reading.token)}” of "
            f"“{html.escape(reading.prompt)}”: {tokens or 'nothing above zero'}"
            + (f". The cluster's words: {html.escape(', '.join(words))}" if words else ""))


def plain_line(crit: CriterionClusters) -> str:
    """One line in plain words: what the photos were grouped by, and the groups."""
    names = crit.names[:5]
    more = " …" if len(crit.names) > 5 else ""
    return f"Grouped by {crit.text}, as the model sees it: {', '.join(names)}{more}"


def warning_text(crit: CriterionClusters) -> str:
    """What a person can do when the model found little to go on for this criterion ('' when all is well)."""
    example = ", ".join(crit.keywords[:3]) or "red, white, yellow"
    if crit.reading.localization.fallback and crit.where_read.startswith("no keyword reached"):
        return (f"The model did not name any of the expected values in these photos: try other values in "
                f"Keywords (e.g. '{example}') or put the criterion in other words.")
    if crit.reading.localization.fallback:
        return ("These photos look alike to the model for this criterion: try naming the values yourself in "
                f"Keywords, e.g. '{example}', or sort more photos.")
    if not crit.weights.has_confidence:
        return ("The model could not learn clear groups here: each photo went to the nearest group, so the window "
                "shows no certainty figures. Naming the values in Keywords may help.")
    return ""
