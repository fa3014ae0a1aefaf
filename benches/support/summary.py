#!/usr/bin/env python3
"""The run summary of scripts/bench.sh: reads the rows every benchmark appended (one JSON
object a line, written by benches/support/summary.rs), prints them as one table (bench,
figure, value, target, met?, and the change since the last run for figures both runs have)
with the machine and its load, and writes the same table to a Markdown file. The rows go
into the Markdown file too, in a comment, so the next run compares itself with this one.

Usage:
  summary.py ROWS OUT.md [--prev PREV.md] [--mode quick|full] [--load-start "1.0 0.8 0.5"]
             [--commit SHA]
  summary.py --self-test
"""
import argparse
import datetime
import json
import os
import sys

ROWS_BEGIN = "<!-- rows (JSON lines, read by the next run's comparison)"
ROWS_END = "-->"


def number(value):
    """A value as the tables show it; the same rule as `number` in summary.rs."""
    if value is None:
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1000:
        digits = f"{magnitude:.0f}"
        groups = []
        while digits:
            groups.insert(0, digits[-3:])
            digits = digits[:-3]
        return ("-" if value < 0 else "") + " ".join(groups)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def value_text(row):
    text = f"{number(row.get('value'))} {row.get('unit') or ''}".rstrip()
    if row.get("detail"):
        text += f" ({row['detail']})"
    return text


def met_text(row):
    return {True: "yes", False: "no"}.get(row.get("met"), "")


def delta_text(row, old):
    """The change from the last run's value of the same figure, and whether it is better."""
    new_value, old_value = row.get("value"), (old or {}).get("value")
    if old is None:
        return ""
    if new_value is None or old_value is None:
        return "n/a"
    if old_value == 0:
        return "was 0" if new_value != 0 else "±0"
    change = 100.0 * (new_value - old_value) / abs(old_value)
    if abs(change) < 0.05:
        return "±0"
    text = f"{change:+.1f} %"
    better = row.get("better")
    if better in ("higher", "lower"):
        improved = (change > 0) == (better == "higher")
        text += " (better)" if improved else " (worse)"
    return text


def key(row):
    return (row.get("bench", ""), row.get("figure", ""))


def read_rows(lines):
    """The rows of a summary file; lines that are not JSON objects are counted, not fatal."""
    rows, bad = [], 0
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(row, dict) and "figure" in row:
            rows.append(row)
        else:
            bad += 1
    return rows, bad


def rows_in_markdown(text):
    """The rows a previous summary.md kept in its trailing comment, and its mode."""
    mode = None
    for line in text.splitlines():
        if line.startswith("mode: "):
            mode = line[len("mode: "):].split()[0]
    if ROWS_BEGIN not in text:
        return [], mode
    block = text.split(ROWS_BEGIN, 1)[1].split(ROWS_END, 1)[0]
    return read_rows(block.splitlines())[0], mode


def table(header, cells):
    """Plain-text columns, padded to the widest cell."""
    widths = [max(len(r[c]) for r in [header] + cells) for c in range(len(header))]
    out = []
    for r in [header, ["-" * len(h) for h in header]] + cells:
        out.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    return "\n".join(out)


def markdown_table(header, cells):
    escape = lambda cell: cell.replace("|", "\\|")
    out = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    out += ["| " + " | ".join(escape(c) for c in r) + " |" for r in cells]
    return "\n".join(out)


def machine():
    model, mem_kib = "unknown CPU", 0
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kib = int(line.split()[1])
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cores} CPUs, {model}, {mem_kib / 1048576:.1f} GiB RAM"


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def render(rows, prev_rows, prev_mode, mode, head):
    """The terminal text and the Markdown text of one run's summary."""
    previous = {key(r): r for r in prev_rows}
    compare = bool(prev_rows)
    header = ["bench", "figure", "value", "target", "met?"] + (["vs last run"] if compare else [])
    cells = []
    for row in rows:
        cell = [row.get("bench", ""), row["figure"], value_text(row), row.get("target", ""), met_text(row)]
        if compare:
            cell.append(delta_text(row, previous.get(key(row))))
        cells.append(cell)
    judged = [r for r in rows if r.get("met") is not None]
    missed = [r for r in judged if r.get("met") is False]
    lines = list(head)
    lines.append(f"targets: {len(judged) - len(missed)} of {len(judged)} met")
    if compare and prev_mode and prev_mode != mode:
        lines.append(f"note: the last run was {prev_mode}, this one {mode}: sizes differ")
    if compare:
        gone = [k for k in previous if k not in {key(r) for r in rows}]
        if gone:
            lines.append(f"figures of the last run missing from this one: {len(gone)}")
    terminal = "\n".join(lines + ["", table(header, cells)])
    md = "\n".join(
        ["# PettySync benchmark summary", ""]
        + [f"{line}  " for line in lines]
        + ["", markdown_table(header, cells), "", ROWS_BEGIN]
        # "-->" inside a row would end the comment: JSON may spell ">" as an escape.
        + [json.dumps(r, ensure_ascii=False).replace("-->", "--\\u003e") for r in rows]
        + [ROWS_END, ""]
    )
    return terminal, md


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="?")
    parser.add_argument("out", nargs="?")
    parser.add_argument("--prev")
    parser.add_argument("--mode", default="full")
    parser.add_argument("--load-start", default="unknown")
    parser.add_argument("--commit", default="unknown")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args(argv)
    if args.self_test:
        return self_test()
    if not args.rows or not args.out:
        parser.error("ROWS and OUT.md are needed")
    try:
        with open(args.rows) as f:
            rows, bad = read_rows(f)
    except FileNotFoundError:
        rows, bad = [], 0
    prev_rows, prev_mode = [], None
    if args.prev and os.path.exists(args.prev):
        with open(args.prev) as f:
            prev_rows, prev_mode = rows_in_markdown(f.read())
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = [
        f"mode: {args.mode}",
        f"run: {now}, commit {args.commit}",
        f"machine: {machine()}",
        f"load average: {args.load_start} at the start, {load_average()} at the end",
    ]
    if bad:
        head.append(f"note: {bad} lines of the rows file were not rows")
    terminal, md = render(rows, prev_rows, prev_mode, args.mode, head)
    print(terminal)
    with open(args.out, "w") as f:
        f.write(md)
    return 0


def self_test():
    """Checks of the formatting and the comparison; `scripts/bench.sh` runs them first."""
    assert number(2412.4) == "2 412", number(2412.4)
    assert number(1234567) == "1 234 567"
    assert number(-4321) == "-4 321"
    assert number(150) == "150" and number(12.34) == "12.3" and number(0.256) == "0.26"
    assert number(None) == "n/a"
    row = {"bench": "feed", "figure": "p99", "value": 4.0, "unit": "ms", "better": "lower"}
    assert delta_text(row, None) == ""
    assert delta_text(row, {"value": 5.0}) == "-20.0 % (better)", delta_text(row, {"value": 5.0})
    assert delta_text(dict(row, better="higher"), {"value": 5.0}) == "-20.0 % (worse)"
    assert delta_text(dict(row, better=None), {"value": 2.0}) == "+100.0 %"
    assert delta_text(row, {"value": 4.0}) == "±0"
    assert delta_text(row, {"value": 0}) == "was 0"
    assert delta_text(dict(row, value=None), {"value": 1.0}) == "n/a"
    rows, bad = read_rows([json.dumps(row), "not json", "", json.dumps([1])])
    assert rows == [row] and bad == 2
    # A run's Markdown keeps its rows: the next run reads them back and compares.
    first = [dict(row, met=True, target="≤ 5 ms", detail="a | b")]
    _, md = render(first, [], None, "quick", ["mode: quick"])
    assert "a \\| b" in md and "| feed | p99 | 4.00 ms (a \\| b) | ≤ 5 ms | yes |" in md, md
    again, mode = rows_in_markdown(md)
    assert again == first and mode == "quick", (again, mode)
    second = [dict(first[0], value=6.0, met=False)]
    terminal, md = render(second, again, mode, "full", ["mode: full"])
    assert "+50.0 % (worse)" in terminal, terminal
    assert "the last run was quick, this one full" in terminal
    assert "targets: 0 of 1 met" in terminal
    assert "| bench | figure | value | target | met? | vs last run |" in md, md
    # A detail that would end the comment early is escaped inside it.
    tricky = [dict(row, detail="a --> b")]
    _, md = render(tricky, [], None, "full", [])
    assert rows_in_markdown(md)[0] == tricky, md
    print("summary.py: self-test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
