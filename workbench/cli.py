"""`workbench` / `python -m workbench`: models, one image, batches, evaluation, exports and run history.

    workbench models
    workbench run photo.jpg --task pothole_severity --model "GPT-4o mini (OpenAI)"
    workbench batch --path scans/ --task pii_detection --model llava --api-base http://localhost:8000/v1
    workbench batch --path scans/ --task pii_detection --model llava --engine ray --ray-address auto
    workbench eval RUN --labels labels.csv
    workbench recommend RUN [RUN …] --bar "accuracy>=0.9" [--human-cost 0.05]
    workbench export RUN --format jsonl
    workbench report RUN -o run.html
    workbench runs

Exit codes (stable; scripts may rely on them):
    0    done: every item has a model answer
    1    done, but some items are stored as failures — `workbench retry RUN` re-sends only those
    2    usage or configuration error (bad argument, unknown model, task or run, unreadable input): nothing sent
    3    nothing answered: every item failed (key rejected, server unreachable, model unavailable)
    4    the run store could not be written: fix it (disk, permissions), then rerun the same command to resume
    130  interrupted (Ctrl-C): every stored result is kept — rerun the same command to resume
Errors go to stderr as one line, `workbench: error: …`. With --json, stdout is one JSON object.

Importing this module is light: the workbench itself loads inside the command that needs it.
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import sys

EXIT_OK, EXIT_FAILED_ITEMS, EXIT_USAGE, EXIT_NOTHING_ANSWERED, EXIT_STORE, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with 2 on a usage error, as argparse does
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from .errors import WorkbenchError

    if getattr(args, "no_progress", False):
        _quiet_progress_bars()
    try:
        return args.handler(args)
    except BrokenPipeError:  # `workbench runs | head`: the reader has seen enough; end quietly
        _stop_writing_stdout()
        return EXIT_OK
    except KeyboardInterrupt:
        _error("interrupted — stored results are kept; rerun the same command to resume")
        return EXIT_INTERRUPTED
    except WorkbenchError as e:
        from .errors import ConfigError, ImageError
        from .wording import error_message

        _error(error_message(e, "cli"))
        return EXIT_USAGE if isinstance(e, (ConfigError, ImageError)) else EXIT_STORE
    except sqlite3.Error as e:
        _error(f"the run store failed: {e} — rerun the same command to resume once it is fixed")
        return EXIT_STORE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench", description="Compare vision-language models on image tasks: quality, cost and speed.",
        epilog="Exit codes: 0 ok, 1 some items failed, 2 usage/config error, 3 nothing answered, 4 store error, "
               "130 interrupted.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list the models and whether each can run here")
    p.add_argument("--models-file", help="a models TOML file (default: $WORKBENCH_MODELS, ./models.toml, built-in)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_models)


def _add_run(sub) -> None:
    p = sub.add_parser("run", help="one image through one or more models")
    p.add_argument("image")
    _model_options(p)
    _call_options(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_run)


def _add_batch(sub) -> None:
    p = sub.add_parser("batch", help="a folder, images or a CSV through models × prompt versions, stored")
    p.add_argument("--path", "--input", dest="paths", action="append", required=True, metavar="PATH",
                   help="a folder (recursive), an image, or a CSV with path[,label][,task][,variables] (repeatable)")
    p.add_argument("--labels", metavar="CSV", help="expected labels (path|file, label[, task][, tag…]), stored with "
                   "the results for `workbench eval`")
    _model_options(p)
    _call_options(p)
    p.add_argument("--prompt-file", action="append", default=[], metavar="[VERSION=]FILE",
                   help="a prompt version from a file (repeatable; the version is the file's stem unless given)")
    p.add_argument("--workers", type=_positive_int, default=8, help="concurrent calls per server (default 8)")
    p.add_argument("--batch-size", type=_positive_int, default=1, help="images per call for local models")
    p.add_argument("--mode", choices=("generate", "score"), default="generate")
    p.add_argument("--force", action="store_true", help="send every call, even those the store already holds")
    p.add_argument("--run-id", help="continue this run (default: continue an unfinished run of the same batch)")
    p.add_argument("--new-run", action="store_true",
                   help="start a new run even if the same batch is unfinished, or done and up to date")
    p.add_argument("--batch-api", action="store_true",
                   help="send through the provider's Batch API (OpenAI): half price, answers within 24 h; "
                        "run the same command again to resume polling")
    p.add_argument("--poll-s", type=_positive_float, default=30.0, metavar="S",
                   help="seconds between polls of a Batch API batch (default 30)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: this process (default); ray: Ray Data actors on a cluster or a new local Ray "
                        "(the [ray] extra)")
    p.add_argument("--ray-address", metavar="ADDRESS",
                   help="with --engine ray: auto (the cluster this machine belongs to) or ray://HOST:10001; "
                        "default: a new local Ray on 127.0.0.1")
    p.add_argument("--ray-actors", type=_positive_int, metavar="N", help="with --engine ray: HTTP worker actors "
                   "(default 2); --workers stays the limit of calls per server across all of them")
    _store_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the run's summary as JSON")
    p.set_defaults(handler=cmd_batch)


def _add_retry(sub) -> None:
    p = sub.add_parser("retry", help="re-send only the items of a run stored as failures")
    p.add_argument("run")
    p.add_argument("--workers", type=_positive_int, default=8)
    _store_options(p)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_retry)


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="metrics of a run (against labels when given)")
    p.add_argument("run")
    _labels_option(p)
    p.add_argument("--out", help="also write every table (CSV) and figure (PNG) to this folder")
    _store_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_eval)


def _add_export(sub) -> None:
    p = sub.add_parser("export", help="write a run's results to CSV, JSONL or Parquet")
    p.add_argument("run")
    p.add_argument("--format", choices=("csv", "jsonl", "parquet"), default="csv")
    p.add_argument("--output", "-o", help="file to write (default: next to the store, named after the run)")
    _store_options(p)
    p.set_defaults(handler=cmd_export)


def _add_runs(sub) -> None:
    p = sub.add_parser("runs", help="the run history, newest first")
    p.add_argument("--limit", type=_positive_int, default=20)
    _store_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_runs)


def _add_show(sub) -> None:
    p = sub.add_parser("show", help="the results of one run")
    p.add_argument("run")
    _store_options(p)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(handler=cmd_show)


def _add_compare(sub) -> None:
    p = sub.add_parser("compare", help="two runs side by side: the items whose verdict changed")
    p.add_argument("run_a")
    p.add_argument("run_b")
    p.add_argument("--all", action="store_true", help="every item, not only the changed ones")
    _store_options(p)
    p.set_defaults(handler=cmd_compare)


def _add_recommend(sub) -> None:
    p = sub.add_parser("recommend", help="the cheapest configuration (or cascade) that meets a bar, and how sure")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--bar", action="append", default=[], help='e.g. "accuracy>=0.9", "mae<=0.5", '
                   '"recall[severe]>=0.95", "p95<=2s", "cost<=1.5" (repeatable: every bar must be met)')
    p.add_argument("--human-cost", type=float, metavar="USD", help="$ per human review: adds person-review cascades")
    _labels_option(p)
    p.add_argument("--out", help="also write the points (CSV) and the frontier and cascade plots (PNG) here")
    _store_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_recommend)


def _add_report(sub) -> None:
    p = sub.add_parser("report", help="one self-contained HTML file of a run, to share (opens offline)")
    p.add_argument("run")
    p.add_argument("--output", "-o", help="file to write (default: next to the store, named after the run)")
    _labels_option(p, " (for a run stored without them)")
    _store_options(p)
    p.set_defaults(handler=cmd_report)


# Each subcommand adds its own parser; `workbench --help` lists them in this order.
COMMANDS = (_add_models, _add_run, _add_batch, _add_retry, _add_eval, _add_export, _add_runs, _add_show, _add_compare,
            _add_recommend, _add_report)


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, help="moderation, pii_detection, tag_rating, pothole_severity, ask")
    p.add_argument("--model", "--multimodal-model", dest="models", action="append", required=True, metavar="NAME",
                   help="a model from the models file; with --api-base, a model id on that server (repeatable)")
    p.add_argument("--api-base", "--multimodal-api-base", dest="api_base", metavar="URL",
                   help="an OpenAI-compatible server (API root ending in /v1): --model names its models")
    p.add_argument("--api-key-env", metavar="ENV", help="environment variable holding that server's key, if any")
    p.add_argument("--timeout", "--multimodal-timeout", dest="timeout", type=_positive_float, metavar="S",
                   help="seconds per call")
    p.add_argument("--models-file", help="a models TOML file")


def _call_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prompt", help="a prompt template instead of the task's own ({variables} are filled)")
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="a prompt variable, e.g. tag=beach")
    p.add_argument("--max-tokens", type=_positive_int, default=512)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--max-edge", type=_positive_int, help="long edge of the image sent, in pixels")


def _labels_option(p: argparse.ArgumentParser, when: str = "") -> None:
    p.add_argument("--labels", help=f"CSV with path (or file), label[, task][, variables such as tag]{when}")


def _store_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="the run store (default: $WORKBENCH_DB or runs/workbench.db)")


# --- commands ---------------------------------------------------------------------------------------------


def cmd_models(args) -> int:
    from .calls import availability
    from .models import load_models
    from .wording import reworded

    rows = []
    for spec in load_models(args.models_file):
        status = availability(spec)
        rows.append({"name": spec.name, "backend": spec.backend, "model": spec.model, "status": status.status,
                     "message": reworded(status.message, "cli")})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print_table(rows, ["name", "backend", "model", "status", "message"])
    return EXIT_OK


def cmd_run(args) -> int:
    from .comparison import compare_results
    from .wording import reworded

    specs = _specs(args)
    results = compare_results(args.image, args.task, specs, prompt=args.prompt, variables=_variables(args.var),
                              max_tokens=args.max_tokens, temperature=args.temperature, max_edge=args.max_edge)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2, default=str))
    else:
        from .costs import format_usd

        for r in results:
            what = r.label if r.label is not None else (reworded(r.error, "cli") or r.status)
            latency = f"{r.latency_s:.2f} s" if r.latency_s is not None else "—"
            print(f"{r.model}: {r.status} · {what} · {latency} · {format_usd(r.cost)}")
            if r.raw_text:
                print("  " + r.raw_text.strip().replace("\n", "\n  ")[:2000])
    answered = sum(r.status != "error" for r in results)
    return _exit_code(answered, len(results))


def cmd_batch(args) -> int:
    from .batch import run_batch

    specs = _specs(args)
    prompts = _prompts(args)
    if prompts is None and args.prompt:
        prompts = {"custom": args.prompt}
    run = run_batch(args.paths if len(args.paths) > 1 else args.paths[0], args.task, specs, prompts=prompts,
                    variables=_variables(args.var), labels=args.labels, db=args.db, workers=args.workers, max_tokens=args.max_tokens,
                    temperature=args.temperature, max_edge=args.max_edge, mode=args.mode, force=args.force,
                    run_id=args.run_id, resume=not args.new_run, batch_size=args.batch_size,
                    progress=not args.no_progress, source=" ".join(args.paths),
                    via="batch_api" if args.batch_api else "chat", poll_s=args.poll_s, engine=args.engine,
                    ray_address=args.ray_address, ray_actors=args.ray_actors)
    return _report(run, args.json)


def cmd_retry(args) -> int:
    from .batch import retry_failed

    run = retry_failed(args.run, db=args.db, workers=args.workers, progress=not args.no_progress)
    return _report(run, args.json)


def cmd_eval(args) -> int:
    from .evaluate import evaluate_run

    evaluation = evaluate_run(args.run, labels=args.labels, db=args.db)
    tables = evaluation.tables()
    if args.out:
        from pathlib import Path

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, table in tables.items():
            table.to_csv(out / f"{_slug(name)}.csv", index=False)
        for name, figure in evaluation.figures().items():
            figure.savefig(out / f"{name}.png", dpi=120)
    if args.json:
        print(json.dumps({name: json.loads(table.to_json(orient="records")) for name, table in tables.items()},
                         indent=2))
    else:
        import pandas as pd

        tables = {name: _dollars_shown(table) for name, table in tables.items()}
        with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_colwidth", 60):
            for name in ("summary", "per_class", "ratings", "calibration", "agreement", "prompt_changes"):
                if name in tables:
                    print(f"\n## {name}\n{tables[name].to_string(index=False, float_format=lambda x: f'{x:.3f}')}")
            for name, table in tables.items():
                if name.startswith("confusion"):
                    print(f"\n## {name}\n{table.to_string(index=False)}")
    if args.labels is None and evaluation.results["expected"].isna().all():
        _note("no labels: only format, latency, cost and agreement — pass --labels CSV for accuracy")
    return EXIT_OK


def cmd_recommend(args) -> int:
    from .decide import parse_bars, recommend

    bars = parse_bars(args.bar)  # a bad bar is a usage error before any run is read
    rec = recommend(args.runs, bars, labels=args.labels, db=args.db, human_cost=args.human_cost)
    if args.out:
        from pathlib import Path

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        rec.points.to_csv(out / "points.csv", index=False)
        rec.plot().savefig(out / "frontier.png", dpi=120)
        rec.plot_cascades().savefig(out / "cascades.png", dpi=120)
    if args.json:
        print(json.dumps({"pick": rec.pick, "reason": rec.reason, "metric": rec.metric,
                          "points": json.loads(rec.points.to_json(orient="records")),
                          "comparisons": json.loads(rec.comparisons_table().to_json(orient="records"))}, indent=2))
        return EXIT_OK
    import pandas as pd

    columns = ["configuration", "kind", "n", "quality", "quality_low", "quality_high", "cost_per_1k_usd",
               "latency_p95_s", "on_frontier", "meets"]
    with pd.option_context("display.width", 200, "display.max_colwidth", 70):
        print(rec.points[columns].rename(columns={"quality": rec.metric}).to_string(
            index=False, float_format=lambda x: f"{x:.3g}", na_rep="—"))
    print(f"\n{rec.reason}")
    return EXIT_OK


def cmd_export(args) -> int:
    from .exports import export_run

    path = export_run(args.run, args.output, args.format, args.db)
    print(path)
    return EXIT_OK


def cmd_runs(args) -> int:
    from .store import list_runs

    frame = list_runs(args.db, args.limit)
    if args.json:
        print(frame.to_json(orient="records", indent=2))
    elif frame.empty:
        _note("no runs yet — `workbench batch --path DIR --task TASK --model NAME` starts one")
    else:
        from .costs import format_usd

        frame["spent_usd"] = [format_usd(v) for v in frame["spent_usd"]]
        frame["finished_at"] = frame["finished_at"].fillna("(unfinished)")
        print(frame.drop(columns=["prompts", "source"]).to_string(index=False))
    return EXIT_OK


def cmd_show(args) -> int:
    from .store import open_run

    frame = open_run(args.run, args.db)
    if args.json:
        from .exports import _plain

        for record in frame.to_dict("records"):
            print(json.dumps({k: _plain(v) for k, v in record.items()}, ensure_ascii=False, default=str))
    else:
        columns = ["image_path", "model", "prompt_version", "status", "label", "expected", "cached", "latency_s",
                   "cost", "error_type"]
        print(frame[columns].to_string(index=False))
    return EXIT_OK


def cmd_compare(args) -> int:
    from .store import compare_runs

    frame = compare_runs(args.run_a, args.run_b, args.db)
    if not args.all:
        frame = frame[frame["changed"]]
    print(frame[["image_path", "model", "prompt_version", "status_a", "status_b", "label_a", "label_b"]]
          .to_string(index=False) if len(frame) else "no item changed")
    return EXIT_OK


def cmd_report(args) -> int:
    from .html_report import write_report

    print(write_report(args.run, args.output, args.db, labels=args.labels))
    return EXIT_OK


# --- helpers ----------------------------------------------------------------------------------------------


def _specs(args):
    from .errors import ConfigError
    from .models import ModelSpec, load_models, resolve_models

    if args.api_base:
        if not args.api_base.startswith(("http://", "https://")):
            raise ConfigError(f"--api-base {args.api_base!r} is not a URL — give the API root, e.g. "
                              "http://localhost:8000/v1")
        return [ModelSpec(name=m, backend="openai", provider="custom", model=m, base_url=args.api_base,
                          key_env=args.api_key_env, **({"timeout": args.timeout} if args.timeout else {}))
                for m in args.models]
    specs = resolve_models(args.models, load_models(args.models_file))
    if args.timeout:
        specs = [s.model_copy(update={"timeout": args.timeout}) for s in specs]
    return specs


def _prompts(args) -> dict[str, str] | None:
    from pathlib import Path

    from .errors import ConfigError

    prompts = {}
    for entry in args.prompt_file:
        version, _, file = entry.rpartition("=") if "=" in entry else ("", "", entry)
        path = Path(file)
        try:
            prompts[version or path.stem] = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"cannot read prompt file {file}: {e.strerror}") from None
    return prompts or None


def _variables(pairs: list[str]) -> dict[str, str]:
    from .errors import ConfigError

    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--var {pair!r} is not NAME=VALUE")
        out[name.strip()] = value
    return out


def _report(run, as_json: bool) -> int:
    code = _exit_code(run.answered, run.total)
    if as_json:
        print(json.dumps({"run_id": run.run_id, "db": run.db, "task": run.task, "total": run.total,
                          "answered": run.answered, "failed": run.failed, "cached": run.cached,
                          "calls": run.calls, "spent_usd": run.spent_usd, "elapsed_s": round(run.elapsed_s, 3),
                          "resumed": run.resumed, "up_to_date": run.up_to_date, "messages": run.messages,
                          "exit_code": code}))
    else:
        print(run.summary())
        if run.up_to_date:
            _note("`--force` sends every call again; `--new-run` starts a new run, served from the store")
        if run.failed:
            _failure_kinds(run)
    return code


# What a second try can fix (busy, down, flaky servers); a wrong id, key or file fails the same way every time.
RETRY_CAN_FIX = ("rate_limited", "server_error", "unreachable", "timeout", "protocol_error")


def _failure_kinds(run) -> None:
    """The run's failures, grouped by kind: how many, one message (it ends with its fix), and `retry` only when a
    retry can fix some of them."""
    from .store import open_run
    from .wording import plural, reworded

    frame = open_run(run.run_id, run.db)
    failed = frame[frame["status"] == "error"]
    kinds = failed.assign(error_type=failed["error_type"].fillna("error")).groupby("error_type", sort=False)
    _note(f"{plural(run.failed, 'item')} failed:")
    for kind, group in sorted(kinds, key=lambda pair: -len(pair[1])):
        message = reworded(str(group["error"].iloc[0] or ""), "cli")
        print(f"  {kind} ×{len(group)} — {_shortened(message, 300)}", file=sys.stderr)
    retryable = int(failed["error_type"].isin(RETRY_CAN_FIX).sum())
    if retryable:
        _note(f"`workbench retry {run.run_id}` re-sends the {plural(retryable, 'failure')} a retry can fix "
              f"({', '.join(k for k in RETRY_CAN_FIX if k in set(failed['error_type']))})")
    else:
        _note("a retry alone cannot fix these — fix what each line says first")


def _shortened(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _dollars_shown(table):
    """Dollar columns as "$3.61" and unknown as "—" (never NaN, never $0.00)."""
    import pandas as pd

    from .costs import format_usd

    columns = [c for c in table.columns if "cost" in c or c.endswith("_usd")]
    if not columns:
        return table
    table = table.copy()
    for column in columns:
        table[column] = [format_usd(None if pd.isna(v) else float(v)) for v in table[column]]
    return table


def _exit_code(answered: int, total: int) -> int:
    if answered >= total:
        return EXIT_OK
    return EXIT_NOTHING_ANSWERED if answered == 0 else EXIT_FAILED_ITEMS


def _print_table(rows: list[dict], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) if rows else len(c) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row[c]).ljust(widths[c]) for c in columns).rstrip())


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {value}")
    return value


def _quiet_progress_bars() -> None:
    """--no-progress: no bars from the libraries either (transformers' weight loading, hub downloads). Set before
    they are imported, which is when they read it."""
    import os

    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["TQDM_DISABLE"] = "1"
    transformers = sys.modules.get("transformers")
    if transformers is not None:
        transformers.utils.logging.disable_progress_bar()


def _stop_writing_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not fail again
    except (OSError, ValueError):
        pass


def _error(message: str) -> None:
    print(f"workbench: error: {message}", file=sys.stderr)


def _note(message: str) -> None:
    print(f"workbench: {message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
