"""Command line: ``exodiff run | validate | presets | sweep | compare | fit | population | warm | init | docs``.

User errors (:class:`~exodiff.errors.UserError`: a bad scenario, a solver
stop caused by parameters, a missing file) print one line per problem,
``exodiff: error: FILE: dotted.key: got ...; expected ...``, and exit with
status 2, without a traceback and before anything is written.  Ctrl-C exits
with 130.  Any other exception is a bug in exodiff and keeps its traceback.

Heavy modules (numba, xarray, matplotlib) are imported only by ``run``, so
``validate`` and ``presets`` answer quickly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from exodiff._version import __version__
from exodiff.errors import UserError, one_line

__all__ = ["main", "build_parser"]

PROG = "exodiff"
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def _err(line: str) -> None:
    print(f"{PROG}: error: {one_line(line)}", file=sys.stderr)


def _validate(args: argparse.Namespace) -> int:
    from exodiff.errors import ScenarioError
    from exodiff.scenario.core import load_scenario

    status = 0
    for file in args.files:
        try:
            sc = load_scenario(file)
            extra = _validate_tables(sc, args)
        except ScenarioError as exc:
            for line in exc.lines():
                _err(line)
            status = EXIT_USER_ERROR
            continue
        r = sc.resolved
        n = len(r["skin"]["layers"])
        print(f"{file}: ok ({sc.name}, {n} layer{'s' if n != 1 else ''}, method {r['delivery']['method']}{extra})")
    return status


def _validate_tables(sc, args: argparse.Namespace) -> str:
    """Check the [sweep] and [compare] tables as ``exodiff sweep`` and ``exodiff compare`` will; a note for "ok"."""
    notes = []
    if "sweep" in sc.user:
        from exodiff.studies import sweep as sweeping

        p = sweeping.plan(sc, max_points=args.max_points)
        notes.append(f"sweep of {p.size} point{'s' if p.size != 1 else ''}")
    if "population" in sc.user:
        from exodiff.studies import population

        pp = population.plan(sc, max_points=args.max_points)
        notes.append(f"population of {pp.size}")
    if "compare" in sc.user:
        from exodiff.studies import compare

        plan = compare.prepare(sc)
        notes.append(f"compare of {len(plan.variants)} variant{'s' if len(plan.variants) != 1 else ''}")
    return "".join(f", {n}" for n in notes)


def _warm(args: argparse.Namespace) -> int:
    from exodiff import run

    done = run.warm_all(parallel=not args.no_parallel, say=lambda line: print(line, flush=True))
    for name, seconds, cached in done:
        print(f"  {name}: {seconds:.1f} s{' (cached)' if cached else ''}")
    return 0


def _presets(args: argparse.Namespace) -> int:
    from exodiff.scenario.presets import format_presets

    print(format_presets(args.kind))
    return 0


def _run(args: argparse.Namespace) -> int:
    from exodiff.scenario.core import load_scenario

    sc = load_scenario(args.file)
    # a [sweep], [compare] or [population] table is not run here, but a broken one is refused as `validate` refuses
    # it (run exited 0 and wrote results beside a table that `validate` called wrong)
    _validate_tables(sc, args)
    origin = None
    if args.output is not None:
        directory = Path(args.output)
    elif sc.resolved["output"].get("directory"):
        directory = Path(sc.resolved["output"]["directory"])
        origin = f"{args.file}: output.directory"
    else:
        directory = Path("results") / (sc.path.stem if sc.path else "run")
    plots = bool(sc.resolved["output"].get("plots", True)) and not args.no_plots

    from exodiff.report import outputs
    from exodiff import run as solve

    # claim the directory before the solve: a directory that cannot be
    # written (or that another run is writing) fails now, not after it
    with outputs.output_set(directory, origin):
        notice = None if args.quiet else solve.compile_notice(sc)
        if notice:
            print(notice, file=sys.stderr, flush=True)
            solve.warm(sc)
        ds = solve.run(sc, progress=not args.quiet)
        paths = outputs.write_outputs(ds, sc, directory, plots=plots)
    if isinstance(paths, dict):
        paths = list(paths.values())
    print(f"{sc.name}: results in {directory}/")
    for p in paths:
        print(f"  {Path(p).name}")
    print(outputs.summary_table(ds, sc.resolved["formulation"].get("target_layer")))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from exodiff.studies import compare

    times = None
    if args.times is not None:
        times = [t.strip() for item in args.times for t in item.split(",") if t.strip()] or args.times
    if args.jobs is not None and args.jobs < 1:
        raise UserError(f"--jobs: got {args.jobs}; expected a whole number >= 1")
    plan = compare.prepare(args.files if len(args.files) > 1 else args.files[0], times)
    directory = Path(args.output) if args.output is not None else compare.default_directory(plan)
    if any("population" in v.scenario.user for v in plan.variants):
        return _compare_populations(plan, args, directory)
    from exodiff.report import outputs

    for line in plan.warnings:  # before the runs, so it is seen while they run
        print(f"{PROG}: warning: {line}", file=sys.stderr)
    import warnings

    with outputs.output_set(directory), warnings.catch_warnings():  # claimed before the runs (see _run)
        warnings.simplefilter("ignore", UserWarning)  # printed above in the command line's words
        cmp = compare.execute(plan, jobs=args.jobs, progress=not args.quiet)
        paths = cmp.write(directory, plots=not args.no_plots)
    print(f"{cmp.title}: {len(cmp.variants)} variants compared; results in {directory}/")
    print(compare.format_table(cmp.table))
    print(f"written: {', '.join(p.name for p in paths if p.parent == directory)}; "
          f"per variant <variant>/result.nc, summary.json")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from exodiff.studies import sweep as sweeping
    from exodiff.report import sweep_plots as report

    for flag, given in (("--top", args.top is not None), ("--minimize", args.minimize)):
        if given and not args.best:
            # they only shape the --best table: without it they were accepted and did nothing
            raise UserError(f"sweep: {flag} given without --best; expected --best METRIC with it (the table of the "
                            "best points it shapes)")
    p = sweeping.plan(args.file, max_points=args.max_points)
    if args.dry_run:
        print(report.points_table(p), flush=True)  # "| head": main() ends a broken pipe quietly
        return 0
    res = p.base.resolved
    directory = _study_directory(args, p.base, "sweep")
    wanted = [*(args.plot or []), *([args.best] if args.best else [])]

    def check(names):  # on the first point, before the others run
        for m in wanted:
            report.check_metric(None, m, "--best" if m == args.best else "--plot", names)

    try:
        ds = sweeping.sweep(p, jobs=args.jobs, directory=directory, resume=args.resume, scheduler=args.scheduler,
                            dask_local=args.dask_local, save_profiles=args.save_profiles, progress=not args.quiet,
                            batch=args.batch, check_metrics=check if wanted else None)
    except KeyboardInterrupt:
        done = len(list((directory / "points").glob("p*.nc"))) if (directory / "points").is_dir() else 0
        again = f"{PROG} sweep {args.file} --resume" + (f" -o {args.output}" if args.output is not None else "")
        print(f"{PROG}: interrupted: {done} of {p.size} points finished and kept in {directory / 'points'}/; "
              f"continue with: {again}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        from concurrent.futures.process import BrokenProcessPool

        if not isinstance(exc, BrokenProcessPool):
            raise
        _err(f"a worker process died ({exc}); finished points are kept in {directory / 'points'}/; "
             f"continue with --resume")
        return 1
    for m in [*(args.plot or []), *([args.best] if args.best else [])]:
        report.check_metric(ds, m, "--best" if m == args.best else "--plot")
    print(report.result_text(ds, directory))
    written = ["sweep.nc", f"points/ ({p.size} point files)"]
    sens = None
    if ds.attrs.get("sweep_mode") == "sample":
        from exodiff.studies import sensitivity

        sens = sensitivity.sensitivity(ds)
        sensitivity.write_csv(sens, directory / "sensitivity.csv")
        written.append("sensitivity.csv")
        shown = list(dict.fromkeys(m for m in (*sensitivity.DEFAULT_METRICS, *([args.best] if args.best else []))
                                   if m in sens["metric"].values))
        print(f"sensitivity (PRCC over {sens.attrs['points']} points; strongest first, "
              "+ rises / - falls with the parameter, n.s. not significant at 5 %):")
        print(sensitivity.ranking_text(sens, shown))
    if bool(res["output"].get("plots", True)) and not args.no_plots:
        paths = report.write_plots(ds, directory, args.plot or None, sens,
                                   None if sens is None else list(sensitivity.DEFAULT_METRICS))
        written += [q.name for q in paths]
    print("written: " + ", ".join(written))
    if args.best:
        print(report.best_table(ds, args.best, args.top or 10, args.minimize))
    return 0


def _study_directory(args: argparse.Namespace, base, fallback: str) -> Path:
    """-o DIR, else output.directory, else results/<file stem> (``fallback`` for a scenario without a file)."""
    if args.output is not None:
        return Path(args.output)
    if base.resolved["output"].get("directory"):
        return Path(base.resolved["output"]["directory"])
    return Path("results") / (base.path.stem if base.path else fallback)


def _population(args: argparse.Namespace) -> int:
    from exodiff.studies import population as pop
    from exodiff.report import population_report as report

    p = pop.plan(args.file, max_points=args.max_points)
    if args.dry_run:
        print(p.persons_table(), flush=True)
        return 0
    res = p.base.resolved
    directory = _study_directory(args, p.base, "population")
    try:
        result = pop.population(p, jobs=args.jobs, directory=directory, resume=args.resume,
                                scheduler=args.scheduler, dask_local=args.dask_local,
                                save_profiles=args.save_profiles, progress=not args.quiet, batch=args.batch)
    except KeyboardInterrupt:
        done = len(list((directory / "points").glob("p*.nc"))) if (directory / "points").is_dir() else 0
        again = f"{PROG} population {args.file} --resume" + (f" -o {args.output}" if args.output is not None else "")
        print(f"{PROG}: interrupted: {done} of {p.size} persons finished and kept in {directory / 'points'}/; "
              f"continue with: {again}", file=sys.stderr)
        return EXIT_INTERRUPTED
    plots = bool(res["output"].get("plots", True)) and not args.no_plots
    paths = result.write(directory, plots=plots)
    print(report.bands_text(result.bands))
    print(f"results in {directory}/; written: sweep.nc, points/ ({p.size} person files), "
          + ", ".join(q.name for q in paths))
    return 0


def _compare_populations(plan, args: argparse.Namespace, directory: Path) -> int:
    """``exodiff compare`` of scenarios with [population] tables: bands side by side."""
    from exodiff.studies import population as pop
    from exodiff.report import population_report as report
    from exodiff.report.outputs import atomic_path, write_netcdf

    plans = pop.plans_of_comparison(plan)  # every population checked before anything is written
    # each population writes its persons as they finish (as a sweep does), into DIR/<variant>/
    table, _ = pop.compare_populations(plans, jobs=args.jobs, directory=directory, progress=not args.quiet,
                                       plots=not args.no_plots)
    write_netcdf(table, directory / "population_compare.nc")
    with atomic_path(directory / "population_compare.csv") as tmp:
        tmp.write_text(report.compare_csv(table), encoding="utf-8")
    print(f"{len(plans)} populations compared; results in {directory}/")
    print(report.compare_text(table))
    print("written: population_compare.csv, population_compare.nc; per variant <variant>/population.nc, sweep.nc")
    return 0


def _fit(args: argparse.Namespace) -> int:
    from exodiff.studies import fit as fitting

    if args.jobs is not None and args.jobs < 1:
        raise UserError(f"-j: got {args.jobs}; expected a number of processes >= 1")
    d = fitting.plan(args.file)
    res_out = d.base.resolved["output"]
    origin = None
    if args.output is not None:
        directory = Path(args.output)
    elif res_out.get("directory"):
        directory = Path(res_out["directory"])
        origin = f"{args.file}: output.directory"
    else:
        directory = Path("results") / ((d.base.path.stem if d.base.path else "fit") + "_fit")
    from exodiff.report import outputs

    with outputs.output_set(directory, origin):  # claimed before the fit (see _run)
        res = fitting.fit(d, jobs=args.jobs, mcmc=args.mcmc, progress=not args.quiet)
        paths = res.write(directory, plots=not args.no_plots)
    print(res.text())
    print(f"results in {directory}/: {', '.join(p.name for p in paths)}")
    return 0


def _init(args: argparse.Namespace) -> int:
    """Write the commented starting scenario (or a copy of a gallery scenario) to a new file."""
    from exodiff import data
    from exodiff.scenario.template import STARTER

    path = Path(args.file)
    if path.exists() or path.is_symlink():
        raise UserError(f"{path}: already exists; expected a new file name (exodiff init never overwrites)")
    if args.example:
        folder = data.shared_dir("scenarios")
        names = [n for n, _ in data.gallery()]
        name = args.example if args.example.endswith(".toml") else args.example + ".toml"
        if folder is None or name not in names:
            raise UserError(f"--example: got {args.example!r}; expected a scenario of the gallery: "
                            + (", ".join(n[:-5] for n in names) if names else "(this installation has none)"))
        text = (folder / name).read_text(encoding="utf-8")
    else:
        text = STARTER
    try:
        fh = open(path, "x", encoding="utf-8")  # "x": never replace a file that appeared meanwhile
    except FileExistsError:
        raise UserError(f"{path}: already exists; expected a new file name (exodiff init never overwrites)") from None
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise UserError(f"{path}: its folder does not exist; expected a file name in an existing folder") from None
        raise UserError(f"{path}: cannot be created there; expected a file name in a writable folder") from None
    except OSError as exc:  # no permission, a read-only or special file system (/sys, /proc), a directory
        raise UserError(f"{path}: cannot be created ({exc.strerror or exc}); expected a file name in a writable "
                        "folder") from None
    try:
        with fh:
            fh.write(text)
    except OSError as exc:  # a full disk: no half-written starter left behind
        path.unlink(missing_ok=True)
        raise UserError(f"{path}: could not be written ({exc.strerror or exc}); nothing was kept") from None
    print(f"wrote {path}; check it with: {PROG} validate {path}; run it with: {PROG} run {path}")
    return 0


#: ``exodiff docs`` topics: the user documentation pages (docs/<topic>.md).
DOC_TOPICS = {"scenario": "every scenario key, units, presets, outputs, result.nc",
              "compare": "the [compare] table and every metric", "sweeps": "the [sweep] table, outputs, clusters",
              "fit": "the [fit] table and the data file", "model": "the equations and their sources",
              "parameters": "every preset value with its source", "formulations": "the formulation library",
              "numerics": "the 1D solver", "numerics_rz": "the micro-channel (r-z) solver",
              "validation": "checks against analytic solutions", "validation_experiments": "checks against "
              "published measurements", "performance": "run times and memory"}


def _docs(args: argparse.Namespace) -> int:
    """Print a documentation page, or the list of pages and where they are."""
    from exodiff import data

    folder = data.shared_dir("docs")
    if folder is None:
        raise UserError("this installation has no documentation files (installed without its data files); "
                        "expected <prefix>/share/exodiff/docs: reinstall exodiff with pip")
    if args.topic is None:
        width = max(len(t) for t in DOC_TOPICS)
        print(f"exodiff documentation in {folder}/ (Markdown); print a page with: {PROG} docs TOPIC")
        for t, what in DOC_TOPICS.items():
            if (folder / f"{t}.md").is_file():
                print(f"  {t:<{width}}  {what}")
        return 0
    topic = args.topic[:-3] if args.topic.endswith(".md") else args.topic
    page = folder / f"{topic}.md"
    if topic not in DOC_TOPICS or not page.is_file():
        import difflib

        close = difflib.get_close_matches(topic, list(DOC_TOPICS), n=1)
        raise UserError(f"docs: got {args.topic!r}; expected a topic: {', '.join(DOC_TOPICS)}"
                        + (f'; did you mean "{close[0]}"?' if close else ""))
    if args.path:
        print(page)
    else:
        print(page.read_text(encoding="utf-8"), end="")
    return 0


def _preset_kinds() -> list[str]:
    from exodiff import data

    return list(data.KINDS)


def _where_options(parser: argparse.ArgumentParser) -> None:
    """Where the points of a sweep or a population run: -j, --scheduler or --dask-local (one of them)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-j", "--jobs", metavar="N", type=int,
                       help="local worker processes (default: one per core; 1: in this process)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on an existing dask.distributed cluster (needs the [distributed] extra)")
    where.add_argument("--dask-local", metavar="N", type=int,
                       help="start a dask LocalCluster of N worker processes (needs the [distributed] extra)")


def _whole_at_least_1(text: str) -> int:
    """An option's whole number >= 1 (``--max-points``, ``--top``): 0 and negatives were taken."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"got {text!r}; expected a whole number >= 1")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors, like every other user error: ``exodiff: error: <what>; see <prog> --help``
    (argparse prints its usage first: 2-4 lines), exit status 2."""

    def error(self, message: str):  # noqa: D102 (argparse's)
        command = self.prog[len(PROG):].strip()  # "run" of "exodiff run"; "" for the top level
        _err(f"{command + ': ' if command else ''}{message}; see {self.prog} --help")
        raise SystemExit(EXIT_USER_ERROR)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    p = _Parser(
        prog=PROG,
        description="Transport of vesicles and small molecules through human skin.",
        epilog="New here: exodiff init my.toml writes a commented scenario to start from.  Documentation: "
               "exodiff docs (the pages), exodiff docs scenario (every key).  Exit status: 0 ok, 2 bad input or "
               "solver stop, 130 interrupted.",
    )
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    # options of every command that reads scenario files
    limits = argparse.ArgumentParser(add_help=False)
    limits.add_argument("--allow-outside", action="store_true",
                        help="let scenario files name an output.directory, size_distribution or fit data file "
                             "outside their own folder (refused by default: exodiff docs scenario, 'Paths')")
    limits.add_argument("--max-memory", metavar="SIZE", type=_memory,
                        help='most memory a run may need, e.g. "16 GiB" (default: simulation.max_memory, else '
                             'EXODIFF_MAX_MEMORY, else 4 GiB)')
    limits.add_argument("--max-points", metavar="N", type=_whole_at_least_1,
                        help="most points a sweep may have (default: EXODIFF_MAX_POINTS, else 100000)")

    r = sub.add_parser("run", parents=[limits], help="run one scenario: result.nc, summary.json, plots",
                       description="Run one scenario and write result.nc, summary.json and plots.")
    r.add_argument("file", metavar="FILE", help="scenario file (TOML)")
    r.add_argument("-o", "--output", metavar="DIR",
                   help="output directory (default: output.directory, else results/<file stem>)")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    r.set_defaults(func=_run)

    v = sub.add_parser("validate", parents=[limits], help="check scenario files without running",
                       description="Check scenario files without running them: everything run, sweep and compare check, "
                                    "including the [sweep] and [compare] tables and the memory a run needs.")
    v.add_argument("files", metavar="FILE", nargs="+", help="scenario files (TOML)")
    v.set_defaults(func=_validate)

    w = sub.add_parser("warm", help="compile every solver kernel now (or check they are cached)",
                       description="Compile every kernel variant a run, sweep or fit may use, so no run meets a "
                                   "first-time compile (the unit cell's take tens of seconds); later calls load "
                                   "them from Numba's cache.")
    w.add_argument("--no-parallel", action="store_true", help="skip the parallel unit-cell kernel")
    w.set_defaults(func=_warm)

    kinds = _preset_kinds()
    pr = sub.add_parser("presets", help="list presets with values, ranges and sources",
                        description="List presets with values, ranges and sources.")
    pr.add_argument("kind", nargs="?", choices=kinds, help="only this kind (default: all)")
    pr.set_defaults(func=_presets)

    s = sub.add_parser(
        "sweep", parents=[limits], help="run a parameter sweep: grid, zip or Latin-hypercube sample of scenario keys",
        description="Run every point of the scenario's [sweep] table (grid, zip or Latin-hypercube sample) and "
                    "write one NetCDF per finished point (DIR/points/), the combined sweep.nc, plots, and for a "
                    "sample the sensitivity ranking (sensitivity.csv).",
        epilog="The [sweep] table, outputs, resume and clusters: exodiff docs sweeps.")
    s.add_argument("file", metavar="FILE", help="scenario file (TOML) with a [sweep] table")
    s.add_argument("-o", "--output", metavar="DIR",
                   help="output directory (default: output.directory, else results/<file stem>)")
    _where_options(s)
    s.add_argument("--batch", action=argparse.BooleanOptionalAction, default=None,
                   help="1D points many per compiled call on -j threads of this process (default: when every "
                        "point is a one-column 1D point and -j is not 1; --no-batch: a process pool)")
    s.add_argument("--resume", action="store_true",
                   help="keep the finished points in DIR and run the rest (refused if the scenario changed)")
    s.add_argument("--dry-run", action="store_true", help="print the points and exit")
    s.add_argument("--save-profiles", action="store_true",
                   help="keep amount and fraction over time for every point in sweep.nc")
    s.add_argument("--best", metavar="METRIC", help="print the best points for this metric")
    s.add_argument("--top", metavar="K", type=_whole_at_least_1, default=None,
                   help="rows of the --best table (default 10)")
    s.add_argument("--minimize", action="store_true", help="with --best: smallest values first")
    s.add_argument("--plot", metavar="METRIC", action="append",
                   help="plot this metric (repeatable; default: delivered to the target layer and its AUC)")
    s.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_sweep)

    c = sub.add_parser(
        "compare", parents=[limits], help="compare formulations or delivery methods side by side",
        description="Run scenarios side by side and write a metrics table (console, CSV, Markdown), overlay "
                    "plots, per-variant results and one self-contained HTML report. Give several scenario "
                    "files (one variant each), or one file with a [compare] table of variants.",
        epilog="The [compare] table and every metric: exodiff docs compare.")
    c.add_argument("files", metavar="FILE", nargs="+", help="scenario files (TOML)")
    c.add_argument("-o", "--output", metavar="DIR",
                   help="output directory (default: output.directory of a file with a [compare] table, else "
                        "results/<file stem>; results/compare for several files)")
    c.add_argument("--times", metavar="TIME", nargs="+",
                   help='times at which to tabulate the fraction of dose in each compartment, e.g. --times "6 h" '
                        '"24 h" (or "6 h, 24 h"); replaces [compare] times; default: the end of each run')
    c.add_argument("-j", "--jobs", metavar="N", type=int,
                   help="worker processes (default: one per core, at most one per variant; 1: serial)")
    c.add_argument("--quiet", action="store_true", help="no progress output")
    c.add_argument("--no-plots", action="store_true", help="no plots (the report then has none)")
    c.set_defaults(func=_compare)

    po = sub.add_parser(
        "population", parents=[limits], help="run a virtual population: persons drawn from sourced variability",
        description="Draw the persons of the scenario's [population] table (layer thicknesses and follicle density "
                    "of the body site, age and sex groups, your own distributions), run each as a sweep point, and "
                    "write every person's metrics (sweep.nc, points/), the 5/50/95 %% bands (population.nc, "
                    "population.csv), plots with bands and report.html.",
        epilog="The [population] table, the data and the outputs: docs/population.md.")
    po.add_argument("file", metavar="FILE", help="scenario file (TOML) with a [population] table")
    po.add_argument("-o", "--output", metavar="DIR",
                    help="output directory (default: output.directory, else results/<file stem>)")
    _where_options(po)
    po.add_argument("--batch", action=argparse.BooleanOptionalAction, default=None,
                    help="1D persons many per compiled call (default: when every person is a one-column 1D point)")
    po.add_argument("--resume", action="store_true",
                    help="keep the finished persons in DIR and run the rest (refused if the scenario changed)")
    po.add_argument("--dry-run", action="store_true", help="print the distributions and every person, and exit")
    po.add_argument("--save-profiles", action="store_true",
                    help="keep fraction and amount over time for everyone: bands over time (slower: no batch)")
    po.add_argument("--no-plots", action="store_true", help="no plots and no report.html")
    po.add_argument("--quiet", action="store_true", help="no progress bar")
    po.set_defaults(func=_population)

    f = sub.add_parser(
        "fit", parents=[limits], help="fit scenario parameters to measured data ([fit] table)",
        description="Fit the free parameters of the scenario's [fit] table to measured data by weighted least "
                    "squares in log-parameters (multi-start, in parallel), with 95 %% intervals from the Jacobian "
                    "and likelihood profiles, and with --mcmc a Bayesian posterior (emcee). Writes fit.json, "
                    "fitted.toml, result.nc, plots and report.html, all or nothing.",
        epilog="The [fit] table and the data file format: exodiff docs fit.")
    f.add_argument("file", metavar="FILE", help="scenario file (TOML) with a [fit] table")
    f.add_argument("-o", "--output", metavar="DIR",
                   help="output directory (default: output.directory, else results/<file stem>_fit)")
    f.add_argument("-j", "--jobs", metavar="N", type=int,
                   help="worker processes (default: one per core; 1: in this process)")
    f.add_argument("--mcmc", action="store_true", help="also sample the posterior with emcee (optional extra)")
    f.add_argument("--quiet", action="store_true", help="no progress output")
    f.add_argument("--no-plots", action="store_true", help="no plots and no report.html")
    f.set_defaults(func=_fit)

    i = sub.add_parser("init", help="write a commented starting scenario (or a gallery example) to a new file",
                       description="Write a commented starting scenario to FILE (never over an existing file); "
                                   "with --example, a copy of a scenario of the gallery (exodiff presets lists "
                                   "them).")
    i.add_argument("file", metavar="FILE", help="the new scenario file, e.g. my_scenario.toml")
    i.add_argument("--example", metavar="NAME", help="copy this gallery scenario instead, e.g. topical_caffeine")
    i.set_defaults(func=_init)

    d = sub.add_parser("docs", help="print the documentation (installed with exodiff)",
                       description="Print a page of the documentation installed with exodiff; without TOPIC, "
                                   "list the pages and where they are.")
    d.add_argument("topic", metavar="TOPIC", nargs="?", help="a page, e.g. scenario, compare, sweeps, fit")
    d.add_argument("--path", action="store_true", help="print the page's file path instead of its text")
    d.set_defaults(func=_docs)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``exodiff`` console script and ``python -m exodiff``.

    Returns
    -------
    int
        Exit status: 0, 2 (user error) or 130 (interrupted).
    """
    sys.stdout = _GuardedStdout(sys.stdout)
    try:
        args = build_parser().parse_args(argv)
        if argv is None:
            _forgo_dask(args)
            from exodiff.units import hide_pint

            hide_pint()
        with _limits(args):
            status = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except UserError as exc:
        for line in exc.lines():
            _err(line)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # "exodiff presets | head": the reader has what it wanted; no traceback,
        # and nothing more to write (stdout to devnull, so the exit flush is quiet)
        _quiet_stdout()
        return 0
    except StdoutFailed as exc:
        # "exodiff run ... > /dev/full": what the command writes to files is whole by then; the summary is lost
        _quiet_stdout()
        _err(f"standard output: cannot be written ({exc.strerror or exc}); expected a writable stream (files "
             "written before this are whole)")
        return EXIT_USER_ERROR
    finally:
        if isinstance(sys.stdout, _GuardedStdout):
            sys.stdout = sys.stdout.stream


class StdoutFailed(OSError):
    """Standard output refused a write (a full disk, an I/O error; a closed pipe stays a BrokenPipeError)."""


class _GuardedStdout:
    """``sys.stdout`` whose failed writes are :class:`StdoutFailed`, so :func:`main` can tell them from the
    command's own ``OSError`` (a file it could not write is a user error it reports itself)."""

    def __init__(self, stream):
        self.stream = stream

    def _guard(self, fn, *args):
        try:
            return fn(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StdoutFailed(exc.errno, exc.strerror) from exc

    def write(self, text):
        return self._guard(self.stream.write, text)

    def flush(self):
        return self._guard(self.stream.flush)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _quiet_stdout() -> None:
    """Standard output to the null device, so the exit flush cannot fail again."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (tests capture it)
        pass


def _terminated(signum, frame):
    raise KeyboardInterrupt


def console() -> None:
    """The ``exodiff`` console script and ``python -m exodiff``: :func:`main`, then end the process at once.

    When :func:`main` returns every output is written and closed; what is
    left is the interpreter tearing down the ~1100 modules a run has loaded
    (numba, llvmlite, xarray, pandas), 0.25-0.3 s of a 1 s warm run, which
    frees memory the process is about to give back anyway.  So the exit
    handlers run (a memo of unit answers, multiprocessing's), the streams are
    flushed and the process exits with ``os._exit``, as mypy's
    ``util.hard_exit`` does.  A program calling ``main([...])`` is not
    affected.
    """
    import atexit
    import os
    import signal

    # a job scheduler or `kill` ends a run with SIGTERM: stop as Ctrl-C does (temporaries removed, locks
    # released, a sweep resumable, exit 130) instead of dying mid-write (a fit left .out.lock and .out.tmp-*)
    signal.signal(signal.SIGTERM, _terminated)
    status = main()
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said there
                pass
        os._exit(status)


#: packages that xarray (on every Dataset it builds and every netCDF file it writes) and pint (at
#: import) look for and import when installed, although only ``--scheduler`` and ``--dask-local`` use
#: them: 0.5 s of a 1 s warm run (docs/performance.md, start-up)
PROBED_ONLY = ("dask", "distributed")


def _forgo_dask(args: argparse.Namespace) -> None:
    """Mark dask and distributed absent in this process unless the command was asked to use them.

    Called only when :func:`main` owns the process (the console script and
    ``python -m exodiff``), never for a caller's ``main([...])``: a ``None``
    entry in ``sys.modules`` makes ``import dask`` fail and
    ``importlib.util.find_spec("dask")`` answer None, for the rest of the
    process, so xarray and pint see dask as not installed instead of
    importing it.  Modules already imported are left alone.  Process-pool
    workers (``-j``) fork from here and do not use dask either.
    """
    if getattr(args, "scheduler", None) is not None or getattr(args, "dask_local", None) is not None:
        return
    for name in PROBED_ONLY:
        sys.modules.setdefault(name, None)


def _memory(text: str) -> float:
    """``--max-memory`` as bytes (argparse type: a bad value is a usage error, exit 2)."""
    from exodiff import units

    try:
        float(text)
    except ValueError:
        pass
    else:  # "4" was read as 4 bytes (and refused every run as needing more than "0 bytes")
        raise argparse.ArgumentTypeError(f'got {text!r} without a unit; expected an amount of memory, e.g. "16 GiB"')
    try:
        value = units.to_si(text, "B")
    except (units.UnitParseError, units.DimensionError) as exc:
        raise argparse.ArgumentTypeError(f'got {text!r} ({exc}); expected an amount of memory, e.g. "16 GiB"')
    if not value >= MIN_MEMORY:
        raise argparse.ArgumentTypeError(f'got {text!r}; expected an amount of memory of at least 1 MiB, e.g. '
                                         '"16 GiB"')
    return value


#: the least ``--max-memory`` (bytes): below it no run fits, so a smaller value is a slip of the unit
MIN_MEMORY = 1 << 20


def _limits(args: argparse.Namespace):
    """The command-line limits (--allow-outside, --max-memory) around the command, when given."""
    import contextlib

    stack = contextlib.ExitStack()
    if getattr(args, "allow_outside", False):
        from exodiff.scenario.core import outside_paths_allowed

        stack.enter_context(outside_paths_allowed())
    if getattr(args, "max_memory", None) is not None:
        from exodiff.scenario.budget import memory_limit

        stack.enter_context(memory_limit(args.max_memory))
    return stack
