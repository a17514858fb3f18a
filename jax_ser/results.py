"""Regenerate the measured-results pages, results/*.md, from the CSV files beside them.

    python -m jax_ser.results [--dir results]

Why: a result that is typed into a page by hand drifts from the runs it came from, and a mean
typed beside its rows can disagree with them. Here each run is one CSV row, written once, and
every page, table and mean ± std is printed from the rows by this one command, so the pages can
be checked (tests/test_results.py regenerates them and compares byte for byte).

A CSV opens with `# key: value` lines, then a header row and one row per run. Keys: title,
command (repeatable) and environment (device, CPU, JAX version) are required; page (default: the
file's name; files of one page go in name order, the page's own file first), page_title,
protocol and note (repeatable) are optional; mean names the columns to average, and each summary
line (`all`, or columns to group by) adds a table of mean ± sample std. With a `kind` column only
rows of kind `run` are averaged; other rows (a mean recorded without its runs) print as they are.
"""

import argparse
import sys

from jax_ser.evaluate import results_pages


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="results", help="folder of the CSV files and pages")
    args = parser.parse_args(argv)
    try:
        for path in results_pages.generate(args.dir):
            print(path)
    except results_pages.ResultsError as error:
        sys.exit(f"jax_ser.results: {error}")


def run():
    """The jax-ser-results command."""
    main()


if __name__ == "__main__":
    run()
