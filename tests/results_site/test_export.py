"""The site's data (looped_hrm/report/site/export.py): the same frames the Markdown tables print."""

from __future__ import annotations

import json

import pytest
from bench.test_tables import record

from looped_hrm.evaluation.catalogue import key
from looped_hrm.report import cells, tables
from looped_hrm.report.site.export import site_data


@pytest.fixture
def records():
    out = []
    for seed in range(3):
        out.append(record("sudoku", "hrm", "act_q", seed, correct=[1, 1, 0, 1] * 30, bucket=[0, 1, 2, 2] * 30))
        out.append(record("sudoku", "baseline", "act_q", seed, correct=[0, 1, 0, 0] * 30, bucket=[0, 1, 2, 2] * 30))
    out.append(record("sudoku", "trm", "fixed", 0, status="failed"))
    for r in out:
        r["environment"] = {"git_commit": "abc123", "hostname": "h", "torch": "2.13.0"}
    return out


def test_tables_are_the_markdown_frames_cell_for_cell(records):
    data = site_data(records, title="t", meta={"command": "cmd"}, scope="all", puzzles=[])
    cell_list = cells.cells(records)
    for name, frame in [
        ("summary", tables.summary(cell_list)),
        ("leaderboard", tables.leaderboard(cell_list)),
        ("margins", tables.margins(cell_list)),
        ("comparisons", tables.comparisons(cell_list)),
        ("buckets", tables.buckets(cell_list)),
    ]:
        table = data["tables"][name]
        assert table["columns"] == list(frame.columns)
        assert table["rows"] == frame.astype(str).values.tolist()
    board = data["tables"]["leaderboard"]
    assert board["column_keys"]["hrm (act_q)"] == {"model": "hrm", "halting": "act_q"}
    assert data["tables"]["margins"]["column_keys"] == board["column_keys"]
    assert any(v.startswith("**") for v in board["rows"][0])  # the best cell keeps its bold
    runs = data["tables"]["runs"]
    assert len(runs["rows"]) == len(records) and runs["columns"][:4] == ["task", "model", "halting", "seed"]
    json.dumps(data, allow_nan=False)  # what write_site stores


def test_charts_read_the_estimates_and_provenance_stores_each_config_once(records):
    data = site_data(records, title="t", meta={"command": "cmd"}, scope="all", puzzles=[])
    by_bucket = data["charts"]["by_bucket"]
    assert set(by_bucket["metric"]) == {key("exact_accuracy", "policy", bucket=b) for b in ("<7", "7-13", "14-27")}
    assert set(by_bucket["measure"]) == {"exact_accuracy"} and sorted(set(by_bucket["bucket_index"])) == [0, 1, 2]
    expected = cells.estimates(cells.cells(records))
    metric = key("exact_accuracy", "policy", bucket="<7")
    row = expected[(expected.metric == metric) & (expected.model == "hrm")].iloc[0]
    i = next(i for i, (m, mo) in enumerate(zip(by_bucket["metric"], by_bucket["model"])) if m == metric and mo == "hrm")
    assert (by_bucket["mean"][i], by_bucket["ci_low"][i], by_bucket["ci_high"][i]) == (
        row["mean"],
        row.ci_low,
        row.ci_high,
    )
    prov = data["provenance"]
    assert prov["command"] == "cmd" and len(prov["runs"]) == len(records)
    assert len(prov["configs"]) == 3  # three cells, their seeds share a config
    assert prov["runs"][0]["environment"]["git_commit"] == "abc123"


def test_charts_leave_out_the_extrapolation_test_splits(records):
    """A record's ``extrapolate/<key>=<value>/`` metrics (another test size) have their own figures; the
    site's bucket and scaling charts show the task's own test split only."""
    other = "test_size=27"
    for r in records:
        if r["status"] == "ok":
            r["metrics"][key("exact_accuracy", "policy", bucket="<7", variant=other)] = 0.5
            r["metrics"][key("exact_accuracy", "fixed", at=2, variant=other)] = 0.5
    assert any("extrapolate/" in m for m in cells.estimates(cells.cells(records)).metric)  # the records hold them
    charts = site_data(records, title="t", meta={}, scope="all", puzzles=[])["charts"]
    assert not [m for chart in ("by_bucket", "scaling") for m in charts[chart]["metric"] if "extrapolate/" in m]
