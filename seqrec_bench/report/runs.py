"""Reports from stored cells: grouping, the checks that keep rows honest, card and provenance.

A table row is the mean over the seeds of **one** experiment: every cell of a (data set, model
label) group must have the same identity apart from its seed (same resolved config, model
version, data, protocol, device type). A group mixing configs stops with one line naming the
fields that differ; a table mixing protocols stops too (their numbers are not comparable, and
the card could describe only one of them).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqrec_bench.errors import ResultsError
from seqrec_bench.evaluation.metrics import UNREACHABLE
from seqrec_bench.store import TABLE_FILES, ResultsDir, StoredCell, differing_fields

__all__ = [
    "TIE_POLICY",
    "group_cells",
    "check_combinable",
    "protocol_card",
    "efficiency_columns",
    "provenance",
    "build_report",
    "select_cells",
]

TIE_POLICY = "pessimistic (ties count against the model)"

Groups = dict[str, dict[str, list[StoredCell]]]


def select_cells(
    cells: Sequence[StoredCell],
    models: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
) -> list[StoredCell]:
    """The cells of the given models, data sets and seeds (``None`` = all)."""
    return [
        c
        for c in cells
        if (not models or c.label in models)
        and (not datasets or c.dataset in datasets)
        and (seeds is None or c.seed in seeds)
    ]


def group_cells(
    cells: Sequence[StoredCell],
    models: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
) -> Groups:
    """Per data set, per model label, the cells sorted by seed.

    Data sets and models keep the given order (else sorted by name).
    """
    groups: Groups = {}
    for cell in sorted(cells, key=lambda c: (c.dataset, c.label, c.seed)):
        groups.setdefault(cell.dataset, {}).setdefault(cell.label, []).append(cell)
    order_d = list(datasets) if datasets else sorted(groups)
    out: Groups = {}
    for d in order_d:
        if d not in groups:
            continue
        per = groups[d]
        order_m = [m for m in models if m in per] if models else sorted(per)
        out[d] = {m: per[m] for m in order_m}
    return out


def _describe_seeds(cells: list[StoredCell]) -> str:
    by_variant: dict[str, list[int]] = {}
    for c in cells:
        by_variant.setdefault(c.identity.variant, []).append(c.seed)
    return "; ".join(
        f"variant {v[:8]}: seed{'s' if len(s) > 1 else ''} {', '.join(map(str, sorted(s)))}"
        for v, s in by_variant.items()
    )


def check_combinable(groups: Groups) -> None:
    """Raise :class:`ResultsError` unless every group is one experiment and the table one protocol."""
    for dataset, per_model in groups.items():
        for label, cells in per_model.items():
            first = cells[0]
            other = next((c for c in cells if c.identity.variant != first.identity.variant), None)
            if other is not None:
                fields = differing_fields(first.identity, other.identity)
                raise ResultsError(
                    f"{label} on {dataset}: its cells come from different configs (differing in "
                    f"{', '.join(fields) or 'their keys'}; {_describe_seeds(cells)}); a row averages "
                    f"one config only: rerun the other seeds with one config, choose seeds with "
                    f"--seeds, or give the variant its own label (e.g. --models "
                    f"{label},{label}-b={first.identity.fields.get('model_name', label)} "
                    f"--set {label}-b.KEY=VALUE)"
                )
            seen: dict[int, StoredCell] = {}
            for c in cells:
                if c.seed in seen:
                    raise ResultsError(
                        f"{label} on {dataset}: seed {c.seed} is stored twice "
                        f"({seen[c.seed].path} and {c.path}); remove one"
                    )
                seen[c.seed] = c
    protocols: dict[tuple[Any, Any, Any, Any], list[str]] = {}
    for dataset, per_model in groups.items():
        for label, cells in per_model.items():
            f = cells[0].identity.fields
            key = (
                split_text(f.get("split"), f.get("split_options")),
                f.get("protocol"),
                f.get("exclude_seen"),
                f.get("ranking", 1),
            )
            protocols.setdefault(key, []).append(f"{dataset}/{label}")
    if len(protocols) > 1:
        parts = [
            f"{split}, {protocol}, seen items {'excluded' if excl else 'kept'}, ranking rule "
            f"{rule} for {', '.join(rows)}"
            for (split, protocol, excl, rule), rows in protocols.items()
        ]
        raise ResultsError(
            "the cells of this table were evaluated under different protocols ("
            + "; ".join(parts)
            + "); their numbers are not comparable: render them separately with --models/--datasets"
        )


def split_text(split: Any, options: dict[str, Any] | None) -> str:
    """A split and its settings in a few words: ``gts (q 0.9, target last, valid by_time)``.

    Example:
        >>> split_text("gts", {"q": 0.9, "boundary": None, "target": "all", "valid": "by_time"})
        'gts (q 0.9, target all, valid by_time)'
        >>> split_text("leave-one-out", None)
        'leave-one-out'
    """
    if not options:
        return str(split)
    parts = [
        f"boundary {options['boundary']}" if options.get("boundary") is not None else None,
        f"q {options.get('q')}",
        f"target {options.get('target')}",
        f"valid {options.get('valid')}",
        f"valid share {options['valid_share']}" if "valid_share" in options else None,
        f"split seed {options['seed']}" if "seed" in options else None,
    ]
    return f"{split} ({', '.join(p for p in parts if p)})"


def _gts_lines(name: str, split: dict[str, Any], options: dict[str, Any]) -> dict[str, str]:
    """The card lines of one data set under the global temporal split (docs/protocol.md §2b)."""
    t, t_v = split.get("boundary"), split.get("valid_boundary")
    fit = f"< T_v = {t_v}" if t_v is not None else f"< T = {t}, without the validation targets"
    valid = (
        f"by_time: a second boundary T_v = {t_v} (the same q among the training timestamps); "
        f"targets in [T_v, T); no refit after selection"
        if options.get("valid") == "by_time"
        else f"by_users: {options.get('valid_share')} of the users with 2 interactions before T "
        "held out, their last one the target"
    )
    given = "given" if options.get("boundary") is not None else f"the {options.get('q')}-quantile"
    return {
        f"gts boundary ({name})": f"T = {t} ({given} of all timestamps); models fit on {fit}",
        f"gts validation ({name})": (
            f"{valid}; {split.get('validation_users', '?'):,} users, "
            f"{split.get('validation_targets', '?'):,} targets"
        ),
        f"gts test ({name})": (
            f"{split.get('test_users', '?'):,} users with interactions before and at/after T, "
            f"{split.get('test_targets', '?'):,} targets (target {options.get('target')}"
            + (
                ": every interaction at/after T, metrics averaged per user first)"
                if options.get("target") == "all"
                else ")"
            )
            + f"; {split.get('items_without_training', '?'):,} items with no training "
            "interaction stay candidates"
        ),
    }


def protocol_card(groups: Groups, datasets: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The protocol card lines under a table (what exactly produced the numbers)."""
    lines: dict[str, str] = {}
    first: StoredCell | None = None
    for name, per_model in groups.items():
        info = datasets.get(name, {})
        cell = next(iter(per_model.values()))[0]
        first = first or cell
        lines[f"dataset {name}"] = (
            f"{info.get('source', name)} (sha256 {str(info.get('checksum', '?'))[:12]}), "
            f"{int(cell.record.get('users', len(cell.ranks))):,} users evaluated, "
            + (
                f"{len(cell.ranks):,} targets, "
                if cell.owner is not None and len(np.unique(cell.owner)) != len(cell.ranks)
                else ""
            )
            + f"{info.get('stats', {}).get('items', '?')} items"
        )
    assert first is not None
    fields = first.identity.fields
    protocol = fields.get("protocol")
    options = fields.get("split_options")
    if fields.get("split") == "gts" and options:
        lines["split"] = (
            f"{split_text('global temporal split', options)}: a boundary T cuts every user at "
            "the same moment; models learn only from interactions before it (docs/protocol.md §2b)"
        )
        for name in groups:
            split = datasets.get(name, {}).get("split", {})
            lines.update(_gts_lines(name, split, options))
    else:
        lines["split"] = (
            "leave-one-out (last item = test, second-to-last = validation; selection on validation)"
        )
        from seqrec_bench.data import leakage_line

        for name in groups:
            leak = leakage_line(datasets.get(name, {}).get("stats", {}))
            if leak:
                # under leave-one-out models train on other users' future (PROTOCOL §2b)
                lines[f"leakage ({name})"] = leak
    lines["candidates"] = "all items (full ranking)" if protocol == "full" else str(protocol)
    if not fields.get("exclude_seen"):
        lines["seen items"] = "kept (every item is a candidate)"
    elif fields.get("ranking", 1) >= 2:
        lines["seen items"] = (
            "excluded, the target included when it repeats an input item (it cannot be hit)"
        )
        for name, per_model in groups.items():
            cell = next(iter(per_model.values()))[0]
            ranks = cell.ranks
            n = int((ranks == UNREACHABLE).sum())
            unit = "users" if cell.owner is None else "targets"
            lines[f"targets unreachable under seen-item exclusion ({name})"] = (
                f"{n / max(len(ranks), 1):.1%} ({n:,} of {len(ranks):,} {unit})"
            )
    else:
        lines["seen items"] = (
            "excluded, a repeated target kept (the rule before PROTOCOL §3 was corrected)"
        )
    lines["ties"] = TIE_POLICY
    samples = _training_samples(groups)
    if samples:
        lines["training samples"] = samples
    controls = sorted(
        {
            str(c)
            for per in groups.values()
            for cs in per.values()
            if (c := cs[0].identity.fields.get("control"))
        }
    )
    if controls:
        lines["controls"] = (
            ", ".join(controls) + " (rows marked [shuffled]; see their control lines)"
        )
    seeds = sorted({c.seed for per in groups.values() for cs in per.values() for c in cs})
    lines["seeds"] = ", ".join(map(str, seeds))
    return lines


def _training_samples(groups: Groups) -> str:
    """``model: how it builds its training samples`` for every model of the table."""
    from seqrec_bench.registry import get_model_class

    parts: dict[str, str] = {}
    for per in groups.values():
        for cells in per.values():
            name = str(cells[0].identity.fields.get("model_name"))
            if name in parts:
                continue
            try:
                text = getattr(get_model_class(name), "training_samples", "")
            except Exception:  # noqa: BLE001 - a plugin not installed here: say so, do not fail
                text = ""
            parts[name] = text or "not declared"
    return "; ".join(f"{name}: {text}" for name, text in parts.items())


def efficiency_columns(groups: Groups) -> dict[str, dict[str, dict[str, float]]]:
    """Per data set and model, the mean over seeds of the recorded cost of a cell."""

    def mean(values: Any) -> float:
        vals = [float(v) for v in values if v is not None]
        return float(np.mean(vals)) if vals else float("nan")

    cols: dict[str, dict[str, dict[str, float]]] = {}
    for ds, per_model in groups.items():
        for model, cells in per_model.items():
            recs = [c.record for c in cells]
            row = {
                "train s": mean(r["times"]["fit_seconds"] for r in recs),
                "to best s": mean(r["times"].get("best_epoch_seconds") for r in recs),
                "eval s": mean(r["times"]["test_eval_seconds"] for r in recs),
                "params": mean(r.get("parameters") for r in recs),
                "peak RSS MB": mean(r["memory"]["peak_rss_mb"] for r in recs),
            }
            gpu = [r["memory"].get("peak_gpu_mb") for r in recs]
            if any(g is not None for g in gpu):
                row["peak GPU MB"] = mean(gpu)
            cols.setdefault(ds, {})[model] = row
    return cols


def provenance(cells: Sequence[StoredCell], manifest: dict[str, Any]) -> str:
    """One line naming every commit (and torch version, device) the cells came from.

    Cells written before cells recorded their environment fall back to the manifest's.
    """
    fallback = manifest.get("environment", {})
    commits: dict[str, int] = {}
    versions, torches, devices = set(), set(), set()
    for c in cells:
        env = c.record.get("environment") or fallback
        git = env.get("git") or {}
        commit = git.get("commit")
        tag = f"{commit[:10]}{'+dirty' if git.get('dirty') else ''}" if commit else "unknown commit"
        commits[tag] = commits.get(tag, 0) + 1
        versions.add(str(env.get("seqrec_bench", "?")))
        torches.add(str(env.get("torch", "?")))
        devices.add(str(c.record.get("device", env.get("device", "?"))))
    commit_text = ", ".join(
        f"{tag} ({n} cell{'s' if n > 1 else ''})" if len(commits) > 1 else tag
        for tag, n in commits.items()
    )
    return (
        f"seqrec_bench {', '.join(sorted(versions))} @ {commit_text}, "
        f"torch {', '.join(sorted(torches))}, device {', '.join(sorted(devices))}"
    )


def build_report(
    cells: Sequence[StoredCell],
    datasets_info: dict[str, dict[str, Any]],
    manifest: dict[str, Any],
    *,
    metrics: Sequence[str],
    models: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    efficiency: bool = False,
    repeat_split: bool = False,
    **report_options: Any,
) -> Any:
    """A :class:`~seqrec_bench.report.Report` of stored cells, after :func:`check_combinable`.

    With ``repeat_split`` every data set becomes two: its repeat-target users (the test target
    repeats an input item) and its novel-target users, each with its size; it needs cells ranked
    against all items (``--no-exclude-seen``), where repeat targets can be hit.
    """
    from seqrec_bench.report import Report

    groups = group_cells(cells, models=models, datasets=datasets)
    if not groups:
        raise ResultsError("no stored cells match the requested models/data sets/seeds")
    check_combinable(groups)
    ranks = {d: {m: [c.ranks for c in cs] for m, cs in per.items()} for d, per in groups.items()}
    owners = {
        d: owner
        for d, per in groups.items()
        if (owner := next(iter(per.values()))[0].owner) is not None
    }
    card = protocol_card(groups, datasets_info)
    if repeat_split:
        if owners:
            raise ResultsError(
                "--repeat-split is defined for one target per user (leave-one-out); these "
                "cells used the global temporal split"
            )
        ranks = _split_by_repeat(groups)
        card["repeat split"] = (
            "users whose test target repeats an input item, and the others, reported apart "
            "(Li et al., SIGIR 2023), both ranked against all items"
        )
    elif efficiency:
        report_options["extra_columns"] = efficiency_columns(groups)
    card.update(control_lines(groups, metrics, float(report_options.get("alpha", 0.05))))
    tuning = (manifest.get("settings") or {}).get("tuning")
    if tuning:
        # a run of tuned configs (seqbench run --tuned): the budget, sampler and space per model
        from seqrec_bench.tune import tuning_card

        tuning_lines, note = tuning_card(tuning)
        card.update(tuning_lines)
        report_options["notes"] = [*report_options.get("notes", ()), note]
    flat = [c for per in groups.values() for cs in per.values() for c in cs]
    return Report.from_ranks(
        ranks,
        metrics=list(metrics),
        card=card,
        provenance=provenance(flat, manifest),
        owners=owners if not repeat_split else None,
        **report_options,
    )


def control_lines(groups: Groups, metrics: Sequence[str], alpha: float = 0.05) -> dict[str, str]:
    """One card line per control row: the row against the same model without the control.

    The per-user metric (mean over seeds) of ``"transformer [shuffled]"`` is tested against
    ``"transformer"`` with a paired t-test: a model that does not lose significantly on shuffled
    order has learnt no order.
    """
    from seqrec_bench.config import MONITOR_METRIC
    from seqrec_bench.evaluation.metrics import parse_metric
    from seqrec_bench.stats import paired_t_test

    label = MONITOR_METRIC if MONITOR_METRIC in metrics else str(metrics[0])
    metric = parse_metric(label)
    lines: dict[str, str] = {}
    for dataset, per_model in groups.items():
        for row, cells in per_model.items():
            control = cells[0].identity.fields.get("control")
            base_label = row.rsplit(" [", 1)[0]
            if not control or base_label not in per_model:
                continue
            base = np.mean([c.per_user(metric) for c in per_model[base_label]], axis=0)
            ctrl = np.mean([c.per_user(metric) for c in cells], axis=0)
            test = paired_t_test(base, ctrl)
            a, b = float(base.mean()), float(ctrl.mean())
            change = f" ({(b - a) / a:+.0%})" if a > 0 else ""
            verdict = (
                "it loses significantly: the model uses the order"
                if test.pvalue < alpha and b < a
                else "no significant loss: the model has learnt no order"
            )
            lines[f"control {row} ({dataset})"] = (
                f"{label} {a:.4f} -> {b:.4f}{change} against {base_label}, paired t-test "
                f"p = {test.pvalue:.2g}: {verdict}"
            )
    return lines


def _split_by_repeat(groups: Groups) -> dict[str, dict[str, list[np.ndarray]]]:
    out: dict[str, dict[str, list[np.ndarray]]] = {}
    for dataset, per_model in groups.items():
        first = next(iter(per_model.values()))[0]
        if first.identity.fields.get("exclude_seen"):
            raise ResultsError(
                f"--repeat-split ranks repeat targets against all items, but the cells of "
                f"{dataset} excluded seen items (a repeat target is unreachable there): rerun "
                "with --no-exclude-seen"
            )
        repeat = first.repeat
        if repeat is None:
            raise ResultsError(
                f"the cells of {dataset} were stored before repeat targets were recorded; "
                "rerun them to use --repeat-split"
            )
        for name, mask in (("repeat targets", repeat), ("novel targets", ~repeat)):
            key = f"{dataset} · {name} ({int(mask.sum()):,} users)"
            out[key] = {m: [c.ranks[mask] for c in cs] for m, cs in per_model.items()}
    return out


def report_files(report: Any) -> dict[str, str]:
    """The files a run writes beside its cells, rendered from ``report``."""
    from seqrec_bench.store import to_json

    texts = {
        "summary.json": to_json(report.summary()),
        "table.md": report.to_markdown(),
        "table.tex": report.to_latex(),
        "table.csv": report.to_csv(),
        "table.json": report.to_json(),
    }
    assert set(texts) == set(TABLE_FILES)
    return texts


def print_report(report: Any, console: Any, fmt: str = "console") -> None:
    """Print ``report`` in ``fmt`` (console, markdown, latex, csv, json)."""
    if fmt == "console":
        report.print(console)
        return
    text = {
        "markdown": report.to_markdown,
        "latex": report.to_latex,
        "csv": report.to_csv,
        "json": report.to_json,
    }[fmt]()
    console.print(text, markup=False, highlight=False, soft_wrap=True, end="")


def _last_run(manifest: dict[str, Any]) -> dict[str, Any]:
    """What the folder's last run printed: its cells, rows, columns and test settings."""
    table = manifest.get("table")
    if isinstance(table, dict):
        return table
    # manifests written before they recorded the table: rebuild it from the settings
    from seqrec_bench.config import DatasetSpec

    settings = manifest.get("settings") or {}
    out: dict[str, Any] = {}
    try:
        out["models"] = [m["label"] for m in settings.get("models", [])]
        out["datasets"] = [DatasetSpec(**d).name for d in settings.get("datasets", [])]
    except (KeyError, TypeError):
        pass
    for key in ("reference", "test", "correction", "alpha", "ks"):
        if key in settings:
            out[key] = settings[key]
    return out


def _run_reference(last: dict[str, Any], cells: Sequence[StoredCell]) -> str | None:
    """The last run's reference model, where it is among the shown rows."""
    ref = last.get("reference")
    return ref if ref in {c.label for c in cells} else None


def folder_cells(
    rd: ResultsDir,
    *,
    models: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    variant: str | None = None,
    warn: Any = None,
) -> tuple[list[StoredCell], dict[str, Any]]:
    """The cells ``table``, ``verify`` and ``plot`` show, and what the last run printed.

    Without filters: the cells of the folder's last run (so a folder holding the cells of an
    earlier config, or a stray smoke test, shows what its run showed); with filters: every
    readable cell that matches. Unreadable cells are passed to ``warn`` (path and reason).

    Raises:
        ResultsError: no folder, no readable cell, or nothing matching the filters.
    """
    rd.check_exists()
    if rd.read_study():
        # trial cells hold validation ranks only: a test table of them would be meaningless
        raise ResultsError(
            f"{rd.root} is a tuning folder (validation-only trials): use `seqbench table "
            f"{rd.root} --tuning`, `seqbench plot {rd.root}` or `seqbench run --tuned {rd.root}`"
        )
    cells, problems = rd.scan()
    for problem in problems:
        if warn is not None:
            warn(
                f"warning: skipped an unreadable cell: {problem} "
                "(the next `seqbench run` of its command retrains it)"
            )
    if not cells:
        raise ResultsError(
            f"{rd.root} holds no readable cells; run `seqbench run` first"
            + (f" ({len(problems)} unreadable)" if problems else "")
        )
    last = _last_run(rd.read_manifest())
    if not (models or datasets or seeds is not None or variant) and last.get("cells"):
        wanted = set(last["cells"])
        chosen = [c for c in cells if c.path.relative_to(rd.root).as_posix() in wanted]
        others = sorted({c.label for c in cells if c not in chosen})
        if others and warn is not None:
            warn(
                f"note: {len(cells) - len(chosen)} other cell(s) in {rd.root} ({', '.join(others)}) "
                "are not in its last run's table; name them with --models to show them"
            )
    else:
        chosen = select_cells(cells, models, datasets, seeds)
        if variant:
            chosen = [c for c in chosen if c.identity.variant.startswith(variant)]
    if not chosen:
        raise ResultsError(f"{rd.root} holds no results for the requested models/data sets/seeds")
    return chosen, last


def render_folder(
    root: str | Path,
    *,
    console: Any = None,
    log: Any = None,
    fmt: str = "console",
    metrics: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    variant: str | None = None,
    reference: str | None = None,
    test: str | None = None,
    correction: str | None = None,
    alpha: float | None = None,
    **options: Any,
) -> Any:
    """``seqbench table``: the report of a folder's stored cells.

    Without ``models``/``datasets``/``seeds``/``variant`` it re-renders what the folder's last
    run printed: its cells, its models in its order, its reference, test, correction and alpha
    (so the Holm family is the run's); other cells need an explicit ``models``. Unreadable cells
    are warned about (path and reason) and left out.

    Returns:
        The :class:`~seqrec_bench.report.Report`.
    """
    from seqrec_bench.config import (
        DEFAULT_ALPHA,
        DEFAULT_CORRECTION,
        DEFAULT_KS,
        DEFAULT_TEST,
        table_metrics,
    )

    def warn(text: str) -> None:
        if log is not None:
            log.print(f"[yellow]{text}[/]", highlight=False)

    rd = ResultsDir(root)
    chosen, last = folder_cells(
        rd, models=models, datasets=datasets, seeds=seeds, variant=variant, warn=warn
    )
    manifest = rd.read_manifest()
    if metrics is None:
        metrics = table_metrics(last.get("ks") or list(DEFAULT_KS))
    report = build_report(
        chosen, rd.read_datasets(), manifest, metrics=metrics,
        models=models or last.get("models") or None,
        datasets=datasets or last.get("datasets") or None,
        reference=reference if reference is not None else _run_reference(last, chosen),
        test=test or last.get("test") or DEFAULT_TEST,
        correction=correction or last.get("correction") or DEFAULT_CORRECTION,
        alpha=alpha if alpha is not None else last.get("alpha", DEFAULT_ALPHA),
        **options,
    )  # fmt: skip
    if console is not None:
        print_report(report, console, fmt)
    return report
