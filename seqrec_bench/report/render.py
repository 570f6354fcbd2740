"""Renderers of a :class:`~seqrec_bench.report.Report`: rich, Markdown, LaTeX and CSV.

All table formats go through one format-neutral :class:`Grid` (header, column groups, row
sections, cells with their emphasis and marker), so that rich, Markdown and LaTeX cannot
disagree about what is bold, what is marked or where a dataset group starts. Each renderer only
decides how to spell those things.

Tables fit their medium. The console table (:class:`FittedTable`) keeps every cell on one line
and every name whole: when it is wider than the console it is printed as one table per dataset,
and a dataset still too wide as several consecutive tables of its columns. The LaTeX table is
shrunk to the line width when it is wider (``\\resizebox``, needs ``graphicx``) and set as a
``table*`` when wide; ``fit="none"`` (``Report(latex_fit="none")``) keeps the natural width.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from seqrec_bench.stats import CORRECTIONS, TESTS

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, Group, RenderResult
    from rich.table import Table
    from rich.text import Text

    from seqrec_bench.report.report import Report

__all__ = [
    "Grid",
    "GridCell",
    "build_grid",
    "FittedTable",
    "footnote_text",
    "escape_latex",
    "escape_markdown",
    "render_rich",
    "render_markdown",
    "render_latex",
    "render_csv",
    "SIGNIFICANT",
    "REFERENCE",
    "MISSING",
]

#: Marker of a cell that differs from the reference at adjusted p < alpha.
SIGNIFICANT = "†"
#: Marker of the reference cell of a column.
REFERENCE = "▲"
#: A model without results on a dataset, or an undefined value.
MISSING = "–"
#: Joins a group name and a column name in formats without column groups.
GROUP_SEP = " · "

#: How a LaTeX table is made to fit its page (``Report(latex_fit=...)``).
LATEX_FITS = ("resize", "none")
#: A LaTeX table with more value columns than this (or with dataset column groups) is set as a
#: ``table*``, spanning both columns of a two-column paper.
LATEX_WIDE_COLUMNS = 6
#: Shrinks its argument to the line width when it is wider, and leaves it alone otherwise.
LATEX_SHRINK = r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%"

CSV_FIELDS = (
    "dataset",
    "model",
    "metric",
    "mean",
    "std",
    "n_seeds",
    "pvalue",
    "pvalue_adj",
    "significant",
    "reference",
    "rel_diff_pct",
    "ci_low",
    "ci_high",
)


@dataclass(frozen=True)
class GridCell:
    """One formatted cell: its text and what the renderer should add around it.

    Attributes:
        text: the value (``"0.1234"``), signed percent (``"+3.21"``) or ``"–"``.
        std: the standard deviation over seeds, formatted, or ``None``.
        ci: the bootstrap interval of the difference to the reference, formatted; ``None``
            unless the report shows CIs (``bootstrap=True``).
        place: 1 (best, bold), 2 (second, underlined) or ``None``.
        marker: ``"sig"``, ``"ref"`` or ``None``.
        signed: the text is a signed number (LaTeX sets it in math mode for a real minus).
    """

    text: str
    std: str | None = None
    ci: tuple[str, str] | None = None
    place: int | None = None
    marker: str | None = None
    signed: bool = False


@dataclass(frozen=True)
class GridSection:
    """Consecutive body rows; ``title`` names a row group (a dataset when transposed)."""

    title: str | None
    rows: tuple[tuple[str, tuple[GridCell, ...]], ...]


@dataclass(frozen=True)
class Grid:
    """A format-neutral table.

    Attributes:
        corner: header of the label column (``"Model"`` or ``"Metric"``).
        columns: header of every value column.
        groups: ``(name, span)`` column groups covering ``columns`` in order, or ``None``.
        sections: body rows in sections; renderers separate sections by a rule.
        title: a table title (the dataset of a single-dataset report), or ``None``.
    """

    corner: str
    columns: tuple[str, ...]
    groups: tuple[tuple[str, int], ...] | None
    sections: tuple[GridSection, ...]
    title: str | None = None

    def flat_columns(self) -> list[str]:
        """Column headers with their group name prefixed (``"Beauty · HR@10"``)."""
        if self.groups is None:
            return list(self.columns)
        prefixes = [name for name, span in self.groups for _ in range(span)]
        return [f"{g}{GROUP_SEP}{c}" for g, c in zip(prefixes, self.columns, strict=True)]

    def flat_rows(self) -> list[tuple[str, tuple[GridCell, ...]]]:
        """Body rows with their section title prefixed to the label."""
        return [
            (label if s.title is None else f"{s.title}{GROUP_SEP}{label}", cells)
            for s in self.sections
            for label, cells in s.rows
        ]


# ---------------------------------------------------------------------- grid


def _format_extra(value: float, integral: bool) -> str:
    if not math.isfinite(value):
        return MISSING
    return f"{value:,.0f}" if integral else f"{value:,.2f}"


def _improvement_label(report: Report) -> str:
    return f"Improv. of {report.improvement_of} (%)"


def _metric_cell(report: Report, dataset: str, model: str, metric: str) -> GridCell:
    c = report._cells.get((dataset, model, metric))
    if c is None:
        return GridCell(MISSING)
    d = report.decimals
    return GridCell(
        text=f"{c.mean:.{d}f}",
        std=None if c.std is None else f"{c.std:.{d}f}",
        # The CI is always computed (CSV, JSON); the tables show it only with bootstrap=True.
        ci=(
            (f"{c.ci_low:+.{d}f}", f"{c.ci_high:+.{d}f}")
            if report.bootstrap and c.ci_low is not None and c.ci_high is not None
            else None
        ),
        place=c.place,
        marker="ref" if c.is_reference else ("sig" if c.significant else None),
    )


def _improvement_cell(report: Report, dataset: str, metric: str) -> GridCell:
    imp = report._improvements.get((dataset, metric))
    if imp is None or imp.pct is None or not math.isfinite(imp.pct):
        return GridCell(MISSING)
    return GridCell(f"{imp.pct:+.2f}", signed=True)


def _extra_cell(report: Report, dataset: str, model: str, column: str) -> GridCell:
    per_model = report.extra_columns.get(dataset, {})
    value = per_model.get(model, {}).get(column)
    if value is None:
        return GridCell(MISSING)
    # One format per column: parameter counts print as integers, timings all with 2 decimals
    # (a timing that happens to be 0.0 must not print as "0" beside "0.01").
    column_values = [v for cols in per_model.values() if math.isfinite(v := cols.get(column, 0.0))]
    integral = all(float(v).is_integer() for v in column_values)
    return GridCell(_format_extra(value, integral))


def build_grid(report: Report, transpose: bool = False) -> Grid:
    """Lay the report out as a :class:`Grid`.

    Default: models as rows, ``(dataset, metric)`` and then ``(dataset, extra column)`` as
    columns, grouped by dataset when there are several; the improvement row, if any, forms a
    last section. Transposed: models (and the improvement) as columns, metric and extra-column
    rows in one section per dataset.
    """
    multi = report.multi_dataset
    title = None if multi else report.datasets[0]
    improv = report.improvement_of is not None
    if not transpose:
        specs = [
            (d, kind, name)
            for d in report.datasets
            for kind, names in (("metric", report.metrics), ("extra", report.extra_names(d)))
            for name in names
        ]
        groups = None
        if multi:
            groups = tuple((d, sum(1 for s in specs if s[0] == d)) for d in report.datasets)

        def cell(model: str, d: str, kind: str, name: str) -> GridCell:
            if kind == "metric":
                return _metric_cell(report, d, model, name)
            return _extra_cell(report, d, model, name)

        body = GridSection(
            None,
            tuple((model, tuple(cell(model, *spec) for spec in specs)) for model in report.models),
        )
        sections = [body]
        if improv:
            row = tuple(
                _improvement_cell(report, d, name) if kind == "metric" else GridCell("")
                for d, kind, name in specs
            )
            sections.append(GridSection(None, ((_improvement_label(report), row),)))
        return Grid("Model", tuple(s[2] for s in specs), groups, tuple(sections), title)

    columns = list(report.models) + ([_improvement_label(report)] if improv else [])
    sections = []
    for d in report.datasets:
        rows = []
        for metric in report.metrics:
            cells = [_metric_cell(report, d, m, metric) for m in report.models]
            if improv:
                cells.append(_improvement_cell(report, d, metric))
            rows.append((metric, tuple(cells)))
        for name in report.extra_names(d):
            cells = [_extra_cell(report, d, m, name) for m in report.models]
            if improv:
                cells.append(GridCell(""))
            rows.append((name, tuple(cells)))
        sections.append(GridSection(d if multi else None, tuple(rows)))
    return Grid("Metric", tuple(columns), None, tuple(sections), title)


# ---------------------------------------------------------------------- footnote


def footnote_text(
    report: Report, *, latex: bool = False, escape: Callable[[str], str] | None = None
) -> str:
    """The one-line footnote: markers, test, correction, alpha and the number of users.

    Args:
        report: the report.
        latex: spell markers and math for LaTeX (and escape dataset names for it).
        escape: escapes dataset names (the only free text in the footnote); default: LaTeX
            escaping with ``latex=True``, none otherwise.
    """
    esc = escape or (escape_latex if latex else str)
    sig, ref = (r"$^{\dagger}$", r"$^{\blacktriangle}$") if latex else (SIGNIFICANT, REFERENCE)
    pm = r"$\pm$" if latex else "±"
    lt = f"$p < {report.alpha:g}$" if latex else f"p < {report.alpha:g}"
    adjusted = (
        "unadjusted"
        if report.correction == "none"
        else f"{CORRECTIONS.title(report.correction)}-adjusted"
    )
    users = ", ".join(f"{esc(d)} {report.n_users[d]:,}" for d in report.datasets)
    parts = []
    if any(c.std is not None for c in report.cells()):
        parts.append(f"Mean {pm} std over seeds.")
    parts.append(
        f"{sig} differs from the reference ({ref}) at {adjusted} {lt} "
        f"({TESTS.title(report.test)}; users: {users})."
    )
    if report.bootstrap:
        pct = r"95\%" if latex else "95%"
        parts.append(
            f"[low, high]: {pct} bootstrap CI of the paired mean difference to the reference."
        )
    parts.extend(esc(note) for note in getattr(report, "notes", ()))
    return " ".join(parts)


def _card_lines(report: Report) -> list[tuple[str, str]]:
    lines = list(report.card.items())
    if report.provenance:
        lines.append(("provenance", report.provenance))
    # Card values are one-liners; a stray newline would break Markdown lists and LaTeX comments.
    return [(str(k), " ".join(str(v).split())) for k, v in lines]


# ---------------------------------------------------------------------- rich


def _rich_value(cell: GridCell) -> str:
    return cell.text if cell.std is None else f"{cell.text} ± {cell.std}"


def _rich_text(cell: GridCell) -> Text:
    from rich.text import Text

    # Styled as a span, not as the Text's base style: the marker and the padding rich adds
    # when justifying must stay plain.
    out = Text()
    out.append(_rich_value(cell), style={1: "bold", 2: "underline"}.get(cell.place or 0))
    out.append({"sig": SIGNIFICANT, "ref": REFERENCE}.get(cell.marker or "", ""))
    if cell.ci:
        # On its own line: the interval is secondary and would double the column width.
        out.append(f"\n[{cell.ci[0]}, {cell.ci[1]}]", style="dim")
    return out


@dataclass(frozen=True)
class _Page:
    """The value columns ``columns`` (indices into the grid) of one console table."""

    title: str | None
    columns: tuple[int, ...]
    headers: tuple[str, ...]


class FittedTable:
    """The report's rich table, laid out for the width of the console it is printed on.

    A cell is never split over two lines and a model name is never cut: the columns are kept
    at their natural width, and when the whole table is wider than the console it is printed
    as several tables instead, each with every row and a share of the columns:

    1. the whole table, if it fits (dataset groups as ``"ml-1m · HR@10"`` headers);
    2. otherwise one table per dataset group (the dataset as title, plain metric headers),
       and a group that is still too wide is cut into as many consecutive tables as needed
       (``"ml-1m (part 1 of 2)"``); without groups (one dataset, or transposed) the columns
       are cut the same way.

    Only a console narrower than the label column and a single value column (some 40
    characters) folds cells there, and still hides no character.
    """

    def __init__(self, grid: Grid) -> None:
        self.grid = grid

    def _table(self, page: _Page) -> Table:
        from rich import box
        from rich.table import Table
        from rich.text import Text

        grid = self.grid
        table = Table(title=page.title, box=box.SIMPLE_HEAD, title_style="bold")
        # "fold" rather than rich's default ellipsis: only in a console too narrow for one
        # value column may a name or number break across lines, and no character is hidden.
        table.add_column(grid.corner, justify="left", overflow="fold")
        for header in page.headers:
            table.add_column(header, justify="right", overflow="fold")
        for i, section in enumerate(grid.sections):
            if i:
                table.add_section()
            for label, cells in section.rows:
                shown = label if section.title is None else f"{section.title}{GROUP_SEP}{label}"
                table.add_row(Text(shown), *(_rich_text(cells[j]) for j in page.columns))
        return table

    def pages(self, console: Console, max_width: int) -> list[_Page]:
        """The tables to print on ``console`` within ``max_width`` characters."""
        from rich.measure import Measurement

        grid = self.grid
        options = console.options.update_width(1 << 20)

        def fits(page: _Page) -> bool:
            width = Measurement.get(console, options, self._table(page)).maximum
            return width <= max_width

        everything = _Page(grid.title, tuple(range(len(grid.columns))), tuple(grid.flat_columns()))
        if fits(everything):
            return [everything]
        units: list[tuple[str | None, range]] = []
        start = 0
        for name, span in grid.groups or ((grid.title, len(grid.columns)),):
            units.append((name, range(start, start + span)))
            start += span
        pages: list[_Page] = []
        for name, unit in units:
            cuts: list[list[int]] = [[]]
            for j in unit:
                trial = [*cuts[-1], j]
                if cuts[-1] and not fits(_Page(name, tuple(trial), tuple(self._headers(trial)))):
                    cuts.append([j])
                else:
                    cuts[-1] = trial
            for k, cut in enumerate(cuts, 1):
                title = name if len(cuts) == 1 else _part(name, k, len(cuts))
                pages.append(_Page(title, tuple(cut), tuple(self._headers(cut))))
        return pages

    def _headers(self, columns: list[int]) -> list[str]:
        return [self.grid.columns[j] for j in columns]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # SIMPLE_HEAD tables end on a blank line, which separates one table from the next.
        for page in self.pages(console, options.max_width):
            yield self._table(page)


def _part(name: str | None, k: int, n: int) -> str:
    return f"{name} (part {k} of {n})" if name else f"part {k} of {n}"


def render_rich(report: Report, transpose: bool = False) -> Group:
    """A rich Group: the table (a :class:`FittedTable`: one table, or several when the console
    is too narrow for it), the protocol card (dim) and the footnote."""
    from rich.console import Group
    from rich.text import Text

    lines = [Text(f"{k}: {v}", style="dim") for k, v in _card_lines(report)]
    return Group(FittedTable(build_grid(report, transpose)), *lines, Text(footnote_text(report)))


# ---------------------------------------------------------------------- Markdown

_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_|<>"})


def escape_markdown(text: str) -> str:
    """Escape characters that Markdown would read as formatting or table syntax."""
    return str(text).translate(_MD_SPECIAL)


def _md_cell(cell: GridCell) -> str:
    core = escape_markdown(cell.text)
    if cell.std is not None:
        core = f"{core} ± {cell.std}"
    if cell.place == 1:
        core = f"**{core}**"
    elif cell.place == 2:
        core = f"<u>{core}</u>"
    if cell.marker:
        core += SIGNIFICANT if cell.marker == "sig" else REFERENCE
    if cell.ci:
        core += f" [{cell.ci[0]}, {cell.ci[1]}]"
    return core


def render_markdown(report: Report, transpose: bool = False) -> str:
    """GitHub-flavoured Markdown: the table, the footnote, then the card as a list."""
    grid = build_grid(report, transpose)
    header = [grid.corner, *grid.flat_columns()]
    lines = [
        "| " + " | ".join(escape_markdown(h) for h in header) + " |",
        "| :--- |" + " ---: |" * (len(header) - 1),
    ]
    for label, cells in grid.flat_rows():
        lines.append("| " + " | ".join([escape_markdown(label), *map(_md_cell, cells)]) + " |")
    lines += ["", footnote_text(report, escape=escape_markdown)]
    card = _card_lines(report)
    if card:
        lines.append("")
        lines += [f"- {escape_markdown(k)}: {escape_markdown(v)}" for k, v in card]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- LaTeX

_LATEX_SPECIAL = str.maketrans(
    {
        "\\": r"\textbackslash{}",
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
        "<": r"\textless{}",
        ">": r"\textgreater{}",
        "|": r"\textbar{}",
    }
)


def escape_latex(text: str) -> str:
    r"""Escape LaTeX's special characters in plain text (``a_b & 5%`` -> ``a\_b \& 5\%``).

    One pass over the characters, so an escape is never escaped again.
    """
    return str(text).translate(_LATEX_SPECIAL)


def _latex_cell(cell: GridCell) -> str:
    if cell.signed:
        core = f"${cell.text}$"
    elif cell.text == MISSING:
        core = "--"
    else:
        core = escape_latex(cell.text)
    if cell.std is not None:
        core = f"{core} $\\pm$ {cell.std}"
    if cell.place == 1:
        core = f"\\textbf{{{core}}}"
    elif cell.place == 2:
        core = f"\\underline{{{core}}}"
    if cell.marker == "sig":
        core += r"$^{\dagger}$"
    elif cell.marker == "ref":
        core += r"$^{\blacktriangle}$"
    if cell.ci:
        core += f" {{\\scriptsize $[{cell.ci[0]}, {cell.ci[1]}]$}}"
    return core


def render_latex(
    report: Report,
    transpose: bool = False,
    *,
    caption: str | None = None,
    label: str | None = None,
    fit: str = "resize",
) -> str:
    r"""A booktabs table environment; the protocol card follows as ``%`` comments.

    With ``fit="resize"`` (the default) the table cannot run past the text block: the
    ``tabular`` sits in ``\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}``,
    which shrinks it to the line width when it is wider and leaves a narrow table at its
    natural size, and a wide table (several datasets side by side, or more than
    :data:`LATEX_WIDE_COLUMNS` value columns) is a ``table*``, the full text width of a
    two-column paper (in a one-column document ``table*`` is an ordinary ``table``). This
    needs ``graphicx``, which the first comment line says. A very wide table shrinks a lot:
    the transposed layout (models as columns) is usually narrower. ``fit="none"`` gives the
    plain ``table`` at its natural width.
    """
    if fit not in LATEX_FITS:
        raise ValueError(f"unknown latex fit {fit!r}; valid: {', '.join(LATEX_FITS)}")
    grid = build_grid(report, transpose)
    n = len(grid.columns) + 1
    resize = fit == "resize"
    wide = resize and (grid.groups is not None or len(grid.columns) > LATEX_WIDE_COLUMNS)
    env = "table*" if wide else "table"
    caption_text = footnote_text(report, latex=True)
    if caption:
        caption_text = f"{caption} {caption_text}"
    packages = (
        r"\usepackage{booktabs}, \usepackage{amssymb} and \usepackage{graphicx}"
        if resize
        else r"\usepackage{booktabs} and \usepackage{amssymb}"
    )
    out = [
        f"% seqrec_bench table; needs {packages}",
        f"\\begin{{{env}}}[t]",
        r"\centering",
        f"\\caption{{{caption_text}}}",
    ]
    if label:
        out.append(f"\\label{{{label}}}")
    if resize:
        out.append(LATEX_SHRINK)
    out += [f"\\begin{{tabular}}{{l{'c' * (n - 1)}}}", r"\toprule"]
    if grid.groups is not None:
        spans, rules, start = [], [], 2
        for name, span in grid.groups:
            spans.append(f"\\multicolumn{{{span}}}{{c}}{{{escape_latex(name)}}}")
            rules.append(f"\\cmidrule(lr){{{start}-{start + span - 1}}}")
            start += span
        out.append(" & " + " & ".join(spans) + r" \\")
        out.append(" ".join(rules))
    header = [grid.corner, *grid.columns]
    out.append(" & ".join(escape_latex(h) for h in header) + r" \\")
    for section in grid.sections:
        out.append(r"\midrule")
        if section.title is not None:
            out.append(
                f"\\multicolumn{{{n}}}{{l}}{{\\textit{{{escape_latex(section.title)}}}}} \\\\"
            )
        for row_label, cells in section.rows:
            out.append(" & ".join([escape_latex(row_label), *map(_latex_cell, cells)]) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    if resize:
        out.append("}")
    out.append(f"\\end{{{env}}}")
    out += [f"% {k}: {v}" for k, v in _card_lines(report)]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------- CSV


def _csv_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # repr is the shortest text that reads back to the same float.
        return repr(value) if math.isfinite(value) else ""
    return str(value)


def render_csv(report: Report) -> str:
    """The tidy CSV of :meth:`Report.to_csv`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for c in report.cells():
        writer.writerow([_csv_value(getattr(c, f)) for f in CSV_FIELDS])
    for d in report.datasets:
        for m in report.models:
            for name, value in report.extra_columns.get(d, {}).get(m, {}).items():
                row = dict.fromkeys(CSV_FIELDS)
                row.update(dataset=d, model=m, metric=name, mean=value)
                writer.writerow([_csv_value(row[f]) for f in CSV_FIELDS])
    return buffer.getvalue()
