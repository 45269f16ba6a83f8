"""What the command line prints: counts in words, notes on stderr, progress bars, the summaries.

`quiet` means what `--quiet` promises everywhere: only errors (main's `error:` line) and the
final summary; no progress, no notes, no model line.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Callable

def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 file', '2 files', '0 photos': a count with its noun agreeing."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def were(n: int) -> str:
    """The verb agreeing with a count: 'was' for one, 'were' otherwise."""
    return "was" if n == 1 else "were"


def say(sentence: str) -> None:
    """A line for the user that is not the result: on stderr, so stdout stays the result."""
    print(sentence, file=sys.stderr)


def notes(quiet: bool) -> Callable[[str], None] | None:
    """`say` unless quiet: what a use case gives `Feedback.note` (and a model session its `note`)."""
    return None if quiet else say


def rate_text(photos_per_second: float, seconds_left: float | None) -> str:
    """'2.3 photo/s, 01:05 left' or '4.1 s/photo'; empty when nothing was computed (every photo from the cache)."""
    from tqdm import tqdm

    if photos_per_second <= 0:
        return ""
    speed = f"{photos_per_second:.1f} photo/s" if photos_per_second >= 1 else f"{1 / photos_per_second:.1f} s/photo"
    return speed + (f", {tqdm.format_interval(seconds_left)} left" if seconds_left is not None else "")


def progress_bars():
    """A progress callback drawing a tqdm bar per stage on stderr.

    The speed and time left are the use case's own (Progress.photos_per_second counts only the photos the
    model ran): photos that come from the cache pass in an instant and are no speed at all, so a stage
    served from the cache shows none, rather than tqdm's own "182,361 photo/s".
    """
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}
    fmt = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"

    def show(p) -> None:
        bar = bars.get(p.stage)
        if bar is None:
            bar = bars[p.stage] = tqdm(total=p.total, desc=p.stage, file=BarStream(), leave=True, bar_format=fmt)
        bar.n = p.done
        bar.set_postfix_str(rate_text(p.photos_per_second, p.seconds_left), refresh=False)
        bar.refresh()
        if p.done >= p.total:
            bar.close()

    return show


class BarStream:
    """stderr for the progress bars; remembers whether a bar left its line open (a bar ends it only when done)."""

    open_line = False

    def write(self, text: str) -> int:
        if text:
            BarStream.open_line = not text.endswith("\n")
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def fileno(self) -> int:
        return sys.stderr.fileno()


def close_bars() -> None:
    """End every progress bar's line now (one cut short by Ctrl+C too), so the next line stands alone and no bar
    is drawn again after it when the program exits."""
    if "tqdm" in sys.modules:
        from tqdm import tqdm

        for bar in list(getattr(tqdm, "_instances", ())):
            bar.close()
    if BarStream.open_line:
        sys.stderr.write("\n")
        BarStream.open_line = False


class Notes(logging.Handler):
    """The app's warnings (a damaged cache moved aside, ...) as one `note:` line each on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        say(f"note: {record.getMessage()}")


def print_sort_summary(summary: dict, as_json: bool, quiet: bool) -> None:
    """A cluster or assign run: per criterion, each cluster's count; then one line of totals.

    With `as_json` the summary itself on stdout (with `placed`: which photo went where). The skipped
    files are named one a line on stderr unless quiet (the totals line counts them either way).
    """
    if as_json:
        print_json(summary)
        return
    for c in summary["criteria"]:
        where = f"  (prompt {c['prompt']!r}; {c['localization']})" if c.get("prompt") else ""
        print(f"{c['criterion']}{where}")
        if c.get("note"):
            print(f"  note: {c['note']}")
        for sentence in c.get("keyword_notes", []):
            print(f"  {'values' if c.get('values') else 'keywords'}: {sentence}")
        if c.get("k_scores"):
            tried = ", ".join(f"{k}: {score:.2f}" for k, score in c["k_scores"].items())
            found = c['k'] - len(c['values']) if c.get('values') else c['k']
            print(f"  {plural(found, 'cluster')}{' found among the photos that read none of the values' if c.get('values') else ''}, chosen automatically: the highest silhouette of k-means on the "
                  f"lens vectors (how much closer each photo is to its own cluster than to the next), tried {tried}")
        for cl in c["clusters"]:
            why = ", ".join(cl.get("explanation", []))
            print(f"  {cl['count']:6d}  {cl['name']}" + (f"  [{why}]" if why else ""))
    if not quiet:
        for s in summary["skipped"]:
            say(f"skipped {s['path']}: {s['reason']}")
    photos, skipped = plural(summary["photos"], "photo"), f"{plural(len(summary['skipped']), 'file')} skipped"
    if summary["mode"].startswith("tags"):
        verb = "would write" if summary["dry_run"] else "wrote"
        print(f"{photos}, {skipped}; {verb} keywords for {plural(summary['files_placed'], '(file, criterion) pair')} "
              f"({summary['mode']}); `esmc-desktop undo {summary['out']}` takes them back")
        return
    verb = "would place" if summary["dry_run"] else "placed"
    by = f" sorted by model {summary['model']}" if summary.get("model") else ""
    print(f"{photos}{by}, {skipped}; {verb} {plural(summary['files_placed'], 'file')} under {summary['out']} "
          f"({summary['mode']})")


def print_json(data: dict) -> None:
    """`--json`: the result on stdout, nothing else there."""
    print(json.dumps(data, indent=2))
