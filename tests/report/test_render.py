"""Every rendering against small golden text, plus escaping, transpose and dataset groups."""

from __future__ import annotations

import csv
import io
import re

import numpy as np
import pytest
from rich.console import Console, Group

from seqrec_bench.report import Report, escape_latex, escape_markdown
from seqrec_bench.report.render import LATEX_SHRINK, build_grid

METRICS = ["HR@10", "NDCG@10"]
EXTRA = {"ml-1m": {"SASRec": {"train s": 12.5, "params": 120000.0}, "GRU4Rec": {"train s": 3.25}}}


def rich_text(renderable, width: int = 100) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None).print(renderable)
    # rich pads lines to the table width; trailing spaces are not part of the layout
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def environments_balanced(tex: str) -> bool:
    """Every \\begin{env} is closed by its own \\end{env}, innermost first."""
    stack = []
    for kind, env in re.findall(r"\\(begin|end)\{([^}]*)\}", tex):
        if kind == "begin":
            stack.append(env)
        elif not stack or stack.pop() != env:
            return False
    return not stack


def argument(tex: str, start: int) -> tuple[int, int]:
    """The span of the brace group that opens at ``tex[start]``."""
    assert tex[start] == "{"
    depth = 0
    for i in range(start, len(tex)):
        if tex[i] == "\\":
            continue
        if tex[i] == "{" and tex[i - 1] != "\\":
            depth += 1
        elif tex[i] == "}" and tex[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return start, i
    raise AssertionError("unbalanced")


def balanced(tex: str) -> bool:
    depth = 0
    for ch in re.sub(r"\\[{}]", "", tex):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


RICH_SINGLE = """\
             ml-1m

  Model       HR@10   NDCG@10
 ─────────────────────────────
  SASRec    1.0000▲   0.8452▲
  GRU4Rec    0.7500    0.4705
  Pop       0.0000†   0.0000†

split: leave-one-out
test: paired t-test over users, two-sided, each model vs. the reference
correction: Holm, across the models of each dataset and metric column
alpha: 0.05
provenance: seqrec_bench 0.1.0
† differs from the reference (▲) at Holm-adjusted p < 0.05 (paired t-test; users: ml-1m 8).
"""


def test_rich_single_dataset(ranks):
    report = Report.from_ranks(
        ranks, metrics=METRICS, card={"split": "leave-one-out"}, provenance="seqrec_bench 0.1.0"
    )
    assert isinstance(report.to_rich(), Group)
    assert rich_text(report.to_rich()) == RICH_SINGLE
    assert rich_text(report) == RICH_SINGLE  # a Report is itself a rich renderable


def test_print_goes_to_the_given_console(ranks):
    report = Report.from_ranks(ranks, metrics=METRICS, card={"split": "leave-one-out"})
    buffer = io.StringIO()
    report.print(Console(file=buffer, width=100, color_system=None))
    assert "SASRec    1.0000▲" in buffer.getvalue()


def test_rich_styles_best_and_second(ranks):
    buffer = io.StringIO()
    console = Console(file=buffer, width=100, force_terminal=True, color_system="standard")
    console.print(Report.from_ranks(ranks, metrics=["HR@10"]).to_rich())
    out = buffer.getvalue()
    assert "\x1b[1m1.0000\x1b[0m▲" in out  # bold best, marker unstyled
    assert "\x1b[4m0.7500\x1b[0m" in out  # underlined second


RICH_MULTI = """\

  Model     ml-1m · HR@10   ml-1m · NDCG@10   ml-1m · train s   ml-1m · params   beauty · HR@10   beauty · NDCG@10
 ──────────────────────────────────────────────────────────────────────────────────────────────────────────────────
  SASRec          1.0000▲           0.8452▲             12.50          120,000           0.6000            0.3712†
  GRU4Rec          0.7500            0.4705              3.25                –          1.0000▲            0.7126▲
  Pop             0.0000†           0.0000†                 –                –                –                  –

test: paired t-test over users, two-sided, each model vs. the reference
correction: Holm, across the models of each dataset and metric column
alpha: 0.05
† differs from the reference (▲) at Holm-adjusted p < 0.05 (paired t-test; users: ml-1m 8, beauty 5).
"""


def test_rich_multi_dataset_groups_and_extra_columns(two_datasets):
    report = Report.from_ranks(two_datasets, metrics=METRICS, extra_columns=EXTRA)
    assert rich_text(report.to_rich(), width=140) == RICH_MULTI


MARKDOWN_SEEDS = """\
| Model | HR@10 | NDCG@10 |
| :--- | ---: | ---: |
| SASRec | **0.9375 ± 0.0884**▲ | **0.7784 ± 0.0945**▲ |
| GRU4Rec | <u>0.7500 ± 0.0000</u> | <u>0.4739 ± 0.0049</u>† |
| Pop | 0.0000† | 0.0000† |
| Improv. of SASRec (%) | +25.00 | +64.25 |

Mean ± std over seeds. † differs from the reference (▲) at Holm-adjusted p < 0.05 (paired t-test; users: ml-1m 8).

- test: paired t-test over users, two-sided, each model vs. the reference
- correction: Holm, across the models of each dataset and metric column
- alpha: 0.05
"""

MARKDOWN_SEEDS_T = """\
| Metric | SASRec | GRU4Rec | Pop | Improv. of SASRec (%) |
| :--- | ---: | ---: | ---: | ---: |
| HR@10 | **0.9375 ± 0.0884**▲ | <u>0.7500 ± 0.0000</u> | 0.0000† | +25.00 |
| NDCG@10 | **0.7784 ± 0.0945**▲ | <u>0.4739 ± 0.0049</u>† | 0.0000† | +64.25 |
"""


def test_markdown_with_seeds_improvement_and_transpose(seeded_ranks):
    report = Report.from_ranks(seeded_ranks, metrics=METRICS, improvement_of="SASRec")
    assert report.to_markdown() == MARKDOWN_SEEDS
    transposed = report.to_markdown(transpose=True)
    assert transposed.startswith(MARKDOWN_SEEDS_T)
    assert transposed.endswith(
        MARKDOWN_SEEDS.split("| Improv. of SASRec (%) | +25.00 | +64.25 |\n")[1]
    )


def test_transpose_default_comes_from_the_report(seeded_ranks):
    report = Report.from_ranks(
        seeded_ranks, metrics=METRICS, improvement_of="SASRec", transpose=True
    )
    assert report.to_markdown().startswith(MARKDOWN_SEEDS_T)
    assert report.to_markdown(transpose=False) == MARKDOWN_SEEDS


def test_markdown_multi_dataset_headers_and_missing_cells(two_datasets):
    lines = Report.from_ranks(two_datasets, metrics=METRICS).to_markdown().splitlines()
    assert lines[0] == (
        "| Model | ml-1m · HR@10 | ml-1m · NDCG@10 | beauty · HR@10 | beauty · NDCG@10 |"
    )
    assert lines[4] == "| Pop | 0.0000† | 0.0000† | – | – |"
    transposed = Report.from_ranks(two_datasets, metrics=METRICS).to_markdown(transpose=True)
    assert "| beauty · NDCG@10 | <u>0.3712</u>† | **0.7126**▲ | – |" in transposed


LATEX_SINGLE = r"""% seqrec_bench table; needs \usepackage{booktabs}, \usepackage{amssymb} and \usepackage{graphicx}
\begin{table}[t]
\centering
\caption{Results on ML-1M. $^{\dagger}$ differs from the reference ($^{\blacktriangle}$) at Holm-adjusted $p < 0.05$ (paired t-test; users: ml-1m 8).}
\label{tab:main}
\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%
\begin{tabular}{lcc}
\toprule
Model & HR@10 & NDCG@10 \\
\midrule
SASRec & \textbf{1.0000}$^{\blacktriangle}$ & \textbf{0.8452}$^{\blacktriangle}$ \\
GRU4Rec & \underline{0.7500} & \underline{0.4705} \\
Pop & 0.0000$^{\dagger}$ & 0.0000$^{\dagger}$ \\
\bottomrule
\end{tabular}
}
\end{table}
% test: paired t-test over users, two-sided, each model vs. the reference
% correction: Holm, across the models of each dataset and metric column
% alpha: 0.05
"""


def test_latex_single_dataset(ranks):
    # A narrow table stays a one-column `table`; the shrink-only \resizebox leaves it at its
    # natural width and would shrink it only if it were wider than the line.
    tex = Report.from_ranks(ranks, metrics=METRICS).to_latex(
        caption="Results on ML-1M.", label="tab:main"
    )
    assert tex == LATEX_SINGLE
    assert balanced(tex) and environments_balanced(tex)


def test_latex_fit_none_is_the_plain_table(ranks):
    plain = LATEX_SINGLE.replace(
        ", \\usepackage{amssymb} and \\usepackage{graphicx}",
        " and \\usepackage{amssymb}",
    )
    plain = plain.replace(LATEX_SHRINK + "\n", "").replace(
        "\\end{tabular}\n}\n", "\\end{tabular}\n"
    )
    assert "resizebox" not in plain and "graphicx" not in plain
    report = Report.from_ranks(ranks, metrics=METRICS)
    assert report.to_latex(caption="Results on ML-1M.", label="tab:main", fit="none") == plain
    forced = Report.from_ranks(ranks, metrics=METRICS, latex_fit="none")
    assert forced.to_latex(caption="Results on ML-1M.", label="tab:main") == plain
    assert forced.to_latex(caption="Results on ML-1M.", label="tab:main", fit="resize") == (
        LATEX_SINGLE
    )
    with pytest.raises(ValueError, match="latex_fit"):
        Report.from_ranks(ranks, metrics=METRICS, latex_fit="shrink")
    with pytest.raises(ValueError, match="valid: resize, none"):
        report.to_latex(fit="scale")


LATEX_MULTI_BODY = r"""\begin{tabular}{lcccccc}
\toprule
 & \multicolumn{4}{c}{ml-1m} & \multicolumn{2}{c}{beauty} \\
\cmidrule(lr){2-5} \cmidrule(lr){6-7}
Model & HR@10 & NDCG@10 & train s & params & HR@10 & NDCG@10 \\
\midrule
SASRec & \textbf{1.0000}$^{\blacktriangle}$ & \textbf{0.8452}$^{\blacktriangle}$ & 12.50 & 120,000 & \underline{0.6000} & \underline{0.3712}$^{\dagger}$ \\
GRU4Rec & \underline{0.7500} & \underline{0.4705} & 3.25 & -- & \textbf{1.0000}$^{\blacktriangle}$ & \textbf{0.7126}$^{\blacktriangle}$ \\
Pop & 0.0000$^{\dagger}$ & 0.0000$^{\dagger}$ & -- & -- & -- & -- \\
\bottomrule
\end{tabular}
"""

LATEX_MULTI_T_BODY = r"""\begin{tabular}{lccc}
\toprule
Metric & SASRec & GRU4Rec & Pop \\
\midrule
\multicolumn{4}{l}{\textit{ml-1m}} \\
HR@10 & \textbf{1.0000}$^{\blacktriangle}$ & \underline{0.7500} & 0.0000$^{\dagger}$ \\
NDCG@10 & \textbf{0.8452}$^{\blacktriangle}$ & \underline{0.4705} & 0.0000$^{\dagger}$ \\
train s & 12.50 & 3.25 & -- \\
params & 120,000 & -- & -- \\
\midrule
\multicolumn{4}{l}{\textit{beauty}} \\
HR@10 & \underline{0.6000} & \textbf{1.0000}$^{\blacktriangle}$ & -- \\
NDCG@10 & \underline{0.3712}$^{\dagger}$ & \textbf{0.7126}$^{\blacktriangle}$ & -- \\
\bottomrule
\end{tabular}
"""


def test_latex_multi_dataset_groups(two_datasets):
    report = Report.from_ranks(two_datasets, metrics=METRICS, extra_columns=EXTRA)
    tex = report.to_latex()
    assert LATEX_MULTI_BODY in tex
    assert "(paired t-test; users: ml-1m 8, beauty 5).}" in tex
    assert balanced(tex)
    tex_t = report.to_latex(transpose=True)
    assert LATEX_MULTI_T_BODY in tex_t
    assert balanced(tex_t)
    # Datasets side by side make a wide table (table*); transposed, three model columns fit
    # a column of a two-column paper (table). Both are shrunk to the line width if need be.
    assert "\\begin{table*}[t]" in tex and tex.count("\\end{table*}") == 1
    assert "\\begin{table}[t]" in tex_t and "table*" not in tex_t
    assert tex.count(LATEX_SHRINK) == tex_t.count(LATEX_SHRINK) == 1


def wide_ranks(datasets=("ml-1m", "amazon-beauty"), n_users=40, seeds=3):
    """Several data sets, long model names and seeds (so cells read "0.0539 ± 0.0005†")."""
    rng = np.random.default_rng(0)
    models = ["transformer-bce-long", "gru4rec-bpr-max", "markov", "pop"]
    return {
        d: {
            m: [rng.geometric(0.05 + 0.07 * i, size=n_users) for _ in range(seeds)]
            for i, m in enumerate(models)
        }
        for d in datasets
    }


WIDE_METRICS = ["HR@5", "HR@10", "NDCG@5", "NDCG@10", "MRR@5", "MRR@10"]


def test_latex_two_datasets_three_metrics_two_ks_cannot_exceed_the_text_width():
    report = Report.from_ranks(wide_ranks(), metrics=WIDE_METRICS, bootstrap=True)
    tex = report.to_latex(caption="Main results.", label="tab:main")
    assert balanced(tex) and environments_balanced(tex)
    assert tex.splitlines()[0] == (
        "% seqrec_bench table; needs \\usepackage{booktabs}, \\usepackage{amssymb} and "
        "\\usepackage{graphicx}"
    )
    # A full-width float, whose only tabular is the third argument of a shrink-only
    # \resizebox: \ifdim\width>\linewidth gives \linewidth (<= \textwidth) for a wider table.
    assert tex.count("\\begin{table*}[t]") == 1 and tex.count("\\end{table*}") == 1
    assert tex.count("\\begin{tabular}") == 1
    box = tex.index(LATEX_SHRINK)
    start, end = argument(tex, box + len(LATEX_SHRINK) - 2)
    inside, outside = tex[start + 1 : end], tex[:start] + tex[end:]
    assert inside.lstrip("%\n").startswith("\\begin{tabular}{l" + "c" * 12 + "}")
    assert inside.rstrip().endswith("\\end{tabular}")
    assert "tabular" not in outside
    assert tex.index("\\begin{table*}") < box < tex.index("\\end{table*}")
    # The 12 value columns are all there, grouped by dataset.
    assert "\\multicolumn{6}{c}{ml-1m} & \\multicolumn{6}{c}{amazon-beauty}" in inside
    assert "$\\pm$" in inside and "\\scriptsize $[" in inside


def rendered_cells(report, transpose=False):
    """Every cell's text as the console shows it (value ± std + marker), and every CI line."""
    grid = build_grid(report, transpose)
    marks = {"sig": "†", "ref": "▲", None: ""}
    values, cis = set(), set()
    for _, cells in grid.flat_rows():
        for c in cells:
            if c.text:
                values.add((c.text if c.std is None else f"{c.text} ± {c.std}") + marks[c.marker])
            if c.ci:
                cis.add(f"[{c.ci[0]}, {c.ci[1]}]")
    return values, cis


def console_lines(report, width, **kwargs):
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    report.print(console, **kwargs)
    return console.export_text().splitlines()


@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("bootstrap", [False, True])
def test_console_table_never_splits_a_cell_in_a_narrow_console(transpose, bootstrap):
    report = Report.from_ranks(wide_ranks(), metrics=WIDE_METRICS, bootstrap=bootstrap)
    lines = console_lines(report, 80, transpose=transpose)
    assert max(len(line.rstrip()) for line in lines) <= 80
    assert not any("…" in line for line in lines)
    values, cis = rendered_cells(report, transpose)
    assert len(values) > 20
    for text in values | cis:
        assert any(text in line for line in lines), f"{text!r} is split or missing"
    assert bool(cis) == bootstrap
    for name in ("transformer-bce-long", "gru4rec-bpr-max", "markov", "pop"):
        assert any(name in line for line in lines), f"{name!r} is cut"
    if not transpose:
        # every (dataset, metric) column is printed exactly once, in some table
        words = [w for line in lines for w in line.split()]
        for metric in WIDE_METRICS:
            assert words.count(metric) == 2


def test_console_fallback_one_table_per_dataset_then_parts():
    report = Report.from_ranks(wide_ranks(), metrics=WIDE_METRICS)
    wide = console_lines(report, 400)
    assert any("ml-1m · HR@5" in line for line in wide)  # everything in one table
    per_dataset = [line.strip() for line in console_lines(report, 160)]
    assert "ml-1m" in per_dataset and "amazon-beauty" in per_dataset
    assert not any("·" in line for line in per_dataset)  # the dataset is the title
    parts = [line.strip() for line in console_lines(report, 80)]
    titles = [line for line in parts if "(part " in line]
    assert titles[0] == "ml-1m (part 1 of 3)" and titles[-1] == "amazon-beauty (part 3 of 3)"
    assert len(titles) == 6


def test_console_folds_rather_than_hides_below_one_column():
    # Narrower than the model column plus one value column: cells fold, nothing is cut off.
    report = Report.from_ranks(wide_ranks(datasets=("d",), seeds=1), metrics=["HR@10"])
    lines = console_lines(report, 24)
    assert not any("…" in line for line in lines)
    assert max(len(line.rstrip()) for line in lines) <= 24
    # The model column's pieces, line after line, spell every name in full.
    labels = "".join(line.split()[0] for line in lines if line.startswith("  ") and line.strip())
    for name in ("transformer-bce-long", "gru4rec-bpr-max", "markov", "pop"):
        assert name in labels


def test_latex_seeds_ci_and_improvement(seeded_ranks):
    report = Report.from_ranks(
        seeded_ranks, metrics=["HR@10"], improvement_of="GRU4Rec", bootstrap=True
    )
    tex = report.to_latex()
    assert r"\textbf{0.9375 $\pm$ 0.0884}$^{\blacktriangle}$ \\" in tex
    cell = report.cell("Pop", "HR@10")
    assert f"{{\\scriptsize $[{cell.ci_low:+.4f}, {cell.ci_high:+.4f}]$}}" in tex
    assert "\\midrule\nImprov. of GRU4Rec (\\%) & $-20.00$ \\\\" in tex
    assert tex.count(r"\midrule") == 2
    assert "Mean $\\pm$ std over seeds." in tex and "95\\% bootstrap CI" in tex
    assert balanced(tex)


NASTY = "A_b & 50% #1 $x$ {y} ~z^ \\q"


def test_latex_escapes_names_and_keeps_braces_balanced():
    ranks = {
        NASTY: {
            NASTY: [np.array([1, 2, 30])],
            "ok": [np.array([5, 40, 50])],
        },
        "d_2": {NASTY: [np.array([1, 1])], "ok": [np.array([2, 3])]},
    }
    report = Report.from_ranks(
        ranks, metrics=["HR@10"], improvement_of=NASTY, card={"note": "multi\nline"}
    )
    escaped = r"A\_b \& 50\% \#1 \$x\$ \{y\} \textasciitilde{}z\textasciicircum{} \textbackslash{}q"
    assert escape_latex(NASTY) == escaped
    for transpose in (False, True):
        tex = report.to_latex(transpose=transpose)
        assert balanced(tex)
        assert NASTY not in tex
        assert escaped in tex
        assert "d\\_2" in tex
    assert f"\\multicolumn{{1}}{{c}}{{{escaped}}}" in report.to_latex()
    assert "% note: multi line" in report.to_latex()


def test_markdown_escapes_table_syntax():
    assert escape_markdown("a|b_c*d") == r"a\|b\_c\*d"
    ranks = {"d": {"x|y": [np.array([1, 2])], "z": [np.array([3, 30])]}}
    md = Report.from_ranks(ranks, metrics=["HR@10"]).to_markdown()
    assert "| x\\|y | **1.0000**▲ |" in md


CSV_GOLDEN = """\
dataset,model,metric,mean,std,n_seeds,pvalue,pvalue_adj,significant,reference,rel_diff_pct,ci_low,ci_high
ml-1m,SASRec,HR@10,1.0,,1,,,,SASRec,0.0,,
ml-1m,SASRec,MRR@10,0.7916666666666666,,1,,,,SASRec,0.0,,
ml-1m,GRU4Rec,HR@10,0.75,,1,0.5,0.5,false,SASRec,-25.0,-0.625,0.0
ml-1m,GRU4Rec,MRR@10,0.384375,,1,0.1171875,0.1171875,false,SASRec,-51.447368421052616,-0.778125,0.041666666666666685
ml-1m,Pop,HR@10,0.0,,1,0.0078125,0.015625,true,SASRec,-100.0,-1.0,-1.0
ml-1m,Pop,MRR@10,0.0,,1,0.0078125,0.015625,true,SASRec,-100.0,-0.9375,-0.5833333333333333
"""

#: CSV fields that come out of float sums whose order may vary with the CPU's vector width.
ROUNDED = ("ci_low", "ci_high")


def test_csv_golden(ranks):
    # The permutation test is exact here (2**8 swaps), so every number is reproducible to the
    # last digit: p = k / 256, means of HR and MRR are exact sums of fractions. The bootstrap
    # CI (seed 0, always in the CSV) is exact for HR (sums of 0 and -1) and compared to float
    # rounding for MRR.
    report = Report.from_ranks(ranks, metrics=["HR@10", "MRR@10"], test="permutation")
    got = list(csv.DictReader(io.StringIO(report.to_csv())))
    expected = list(csv.DictReader(io.StringIO(CSV_GOLDEN)))
    assert report.to_csv().splitlines()[0] == CSV_GOLDEN.splitlines()[0]
    assert len(got) == len(expected)
    for row, want in zip(got, expected, strict=True):
        exact = want["metric"].startswith("HR")
        for field, value in want.items():
            if field in ROUNDED and value and not exact:
                assert float(row[field]) == pytest.approx(float(value), rel=1e-12, abs=1e-15)
            else:
                assert row[field] == value, (want["model"], want["metric"], field)


def test_csv_is_tidy_and_carries_extras_and_cis(two_datasets):
    report = Report.from_ranks(two_datasets, metrics=METRICS, extra_columns=EXTRA, bootstrap=True)
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    metric_rows = [r for r in rows if r["metric"] in METRICS]
    assert len(metric_rows) == 10  # 3 models x 2 metrics on ml-1m, 2 x 2 on beauty
    beauty_sas = next(
        r for r in rows if (r["dataset"], r["model"], r["metric"]) == ("beauty", "SASRec", "HR@10")
    )
    assert beauty_sas["reference"] == "GRU4Rec"
    assert float(beauty_sas["ci_low"]) <= float(beauty_sas["ci_high"])
    extras = [(r["model"], r["metric"], r["mean"]) for r in rows if r["metric"] not in METRICS]
    assert extras == [
        ("SASRec", "train s", "12.5"),
        ("SASRec", "params", "120000.0"),
        ("GRU4Rec", "train s", "3.25"),
    ]


def test_extra_columns_have_one_format_per_column(ranks):
    extra = {
        "ml-1m": {
            "SASRec": {"train s": 0.0, "params": 1200.0},
            "GRU4Rec": {"train s": 0.012, "params": 30.0},
            "Pop": {"train s": float("nan"), "params": 0.0},
        }
    }
    md = Report.from_ranks(ranks, metrics=["HR@10"], extra_columns=extra).to_markdown()
    assert "| SASRec | **1.0000**▲ | 0.00 | 1,200 |" in md
    assert "| GRU4Rec | <u>0.7500</u> | 0.01 | 30 |" in md
    assert "| Pop | 0.0000† | – | 0 |" in md
