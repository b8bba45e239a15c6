"""``sonovis <verb>``: the only place that parses arguments.

Each verb turns its flags into ``--set``-style overrides on the TOML settings, builds
the typed configs once, and calls one library function; nothing below sees argparse.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sonovis.config import (
    SearchConfig,
    ablate_config,
    check_ranges,
    experiment_config,
    load_settings,
    prepare_config,
    search_config,
    to_dict,
)
from sonovis.data.corpus.load import CORPUS_KINDS
from sonovis.data.speech.registry import check_engine_name, text_to_speech_names
from sonovis.errors import InputError, SonovisError


def _settings(args: argparse.Namespace, extra: list[str]) -> dict:
    return load_settings(args.config, extra + list(args.set or []))


def _abs(path: str) -> str:
    return str(Path(path).expanduser().resolve())


def _prepared(path: str) -> str:
    """``--data`` as an absolute path, its manifest checked before anything starts (Ray, output folders)."""
    from sonovis.data.shards import read_manifest

    read_manifest(_abs(path))
    return _abs(path)


def prepare_settings(args: argparse.Namespace) -> dict:
    """``sonovis prepare``'s flags on top of ``--config``: ``--corpus`` and ``--tts`` only when given,
    so a TOML's ``[speech] engine`` or ``[corpus] kind`` is not silently replaced by a flag's default."""
    extra = [f"prepare.out={json.dumps(_abs(args.out))}"]
    if args.corpus:
        extra.append(f"corpus.kind={json.dumps(args.corpus)}")
    if args.tts or args.corpus == "recordings":
        extra.append(f"speech.engine={json.dumps('recordings' if args.corpus == 'recordings' else args.tts)}")
    if args.root:
        extra.append(f"corpus.root={json.dumps(_abs(args.root))}")
    if args.splits:
        extra.append(f"corpus.splits={json.dumps(args.splits)}")
    if args.limit is not None:
        extra.append(f"corpus.limit={args.limit}")
    if args.voices_per_caption is not None:
        extra.append(f"speech.voices_per_caption={args.voices_per_caption}")
    if args.conditions is not None:
        kinds = [] if args.conditions == "none" else args.conditions.split(",")
        extra.append(f"speech.conditions.kinds={json.dumps(kinds)}")
    if args.conditions_per_caption is not None:
        extra.append(f"speech.conditions.per_caption={args.conditions_per_caption}")
    if args.conditions_share is not None:
        extra.append(f"speech.conditions.share={args.conditions_share}")
    if args.condition_splits is not None:
        extra.append(f"speech.conditions.splits={json.dumps(args.condition_splits.split(','))}")
    if args.eval_condition is not None:
        extra.append(f"speech.eval_condition={json.dumps(args.eval_condition)}")
    if args.num_cpus is not None:
        extra.append(f"prepare.num_cpus={args.num_cpus}")
    return _settings(args, extra)


def cmd_prepare(args: argparse.Namespace) -> None:
    cfg = prepare_config(prepare_settings(args))
    check_engine_name(cfg.speech.engine)  # before any scene is rendered or worker started
    from sonovis.data.prepare import prepare

    manifest = prepare(cfg, address=args.address)
    if not manifest["accounted"]["complete"]:
        raise SonovisError(f"{args.out}/manifest.json: not every row is accounted for")


def cmd_train(args: argparse.Namespace) -> None:
    extra = [f"train.epochs={args.epochs}"] if args.epochs is not None else []
    cfg, data = experiment_config(_settings(args, extra)), _prepared(args.data)
    from sonovis.train.runner import train_to_folder  # torch: only once the settings and folder are right

    train_to_folder(cfg, data, _abs(args.out))


def cmd_tune(args: argparse.Namespace) -> None:
    extra = [f"search.trials={args.trials}"] if args.trials is not None else []
    if args.warm_start:
        extra.append(f"search.warm_start={json.dumps(_abs(args.warm_start))}")
    settings = _settings(args, extra)
    search, base, data = search_config(settings), experiment_config(settings), _prepared(args.data)
    from sonovis.search.tuner import run_search

    run_search(search, base, data, _abs(args.out),
               resume=args.resume, address=args.address)


def cmd_ablate(args: argparse.Namespace) -> None:
    extra = [f"ablate.seeds={args.seeds}"] if args.seeds is not None else []
    if args.epochs is not None:
        extra += [f"ablate.epochs={args.epochs}", f"search.max_epochs={args.epochs}"]
    if args.trials is not None:
        extra.append(f"search.trials={args.trials}")
    settings = _settings(args, extra)
    configs = ablate_config(settings), search_config(settings), experiment_config(settings)
    data = _prepared(args.data)
    if args.strategies:
        from sonovis.search.strategies import compare_strategies as run
    else:
        from sonovis.search.ablate import run_ablation as run
    run(*configs, data, _abs(args.out), address=args.address)


def cmd_evaluate(args: argparse.Namespace) -> None:
    from sonovis.train.evaluate import evaluate_checkpoint, metrics_text

    result = evaluate_checkpoint(_abs(args.checkpoint), _prepared(args.data), args.split, by_voice=args.by_voice)
    print(json.dumps(result, indent=1) if args.json else metrics_text(result))


def cmd_demo(args: argparse.Namespace) -> None:
    check_ranges(SearchConfig(trials=args.trials), key="search")  # demo builds its configs itself: check its flag
    from sonovis.demo import run_demo

    run_demo(Path(_abs(args.out)), trials=args.trials, address=args.address)


def cmd_translate(args: argparse.Namespace) -> None:
    from sonovis.use.translate import matches_table, translate, write_html

    audio = Path(_abs(args.audio)) if args.audio else None
    matches = translate(_abs(args.checkpoint), _prepared(args.data), audio=audio, say=args.say, tts=args.tts,
                        k=args.k, split=args.split)
    query = args.say if args.say is not None else str(audio)
    print(matches_table(matches, query))
    if args.html:
        print(f"wrote {write_html(matches, _abs(args.html), query)}")


def cmd_serve(args: argparse.Namespace) -> None:
    import os

    from sonovis.use.serve import TOKEN_ENV, serve

    serve(_abs(args.checkpoint), _abs(args.data), split=args.split, host=args.host, port=args.port,
          token=args.token or os.environ.get(TOKEN_ENV) or None, tts=args.tts)


def cmd_report(args: argparse.Namespace) -> None:
    if not Path(args.runs).is_dir():  # an empty folder is a search just started; a missing one is a typo
        raise InputError(f"{_abs(args.runs)}: no such runs folder (give the --out of `sonovis tune` or `sonovis ablate`)")
    data = Path(_prepared(args.data)) if args.data else None
    from sonovis.use.report import write_report

    out = write_report(Path(_abs(args.runs)), Path(_abs(args.out)) if args.out else None, data,
                       Path(_abs(args.ablation)) if args.ablation else None)
    print(f"wrote {out}")


def cmd_config(args: argparse.Namespace) -> None:
    settings = _settings(args, [])
    print(json.dumps({"prepare": to_dict(prepare_config(settings)), "experiment": to_dict(experiment_config(settings)),
                      "search": to_dict(search_config(settings)), "ablate": to_dict(ablate_config(settings))},
                     indent=1))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sonovis", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)

    def verb(name: str, func, help: str, config: bool = True) -> argparse.ArgumentParser:
        p = verbs.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        if config:
            p.add_argument("--config", help="TOML settings file ([corpus] [speech] [model] [train] [search] ...)")
            p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override one setting")
        return p

    p = verb("demo", cmd_demo, "the main job on the built-in corpus: prepare, search, evaluate, report", config=False)
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else a local Ray)")

    p = verb("prepare", cmd_prepare, "speech + features for a corpus, as resumable Parquet shards (Ray Data)")
    p.add_argument("--corpus", choices=CORPUS_KINDS, help="default: builtin")
    p.add_argument("--root", help="dataset folder (flickr8k), CSV or FACC folder (recordings)")
    p.add_argument("--out", required=True)
    p.add_argument("--tts", help=f"{' | '.join(text_to_speech_names())} (default espeak), or a mixture: espeak+flite")
    p.add_argument("--splits", help="comma-separated, default train,dev")
    p.add_argument("--limit", type=int, help="at most N images per split (all their captions)")
    p.add_argument("--voices-per-caption", type=int)
    p.add_argument("--conditions", metavar="KINDS", help="render utterances through seeded random conditions: "
                   "any of voice_conversion,room,microphone,noise,codec (speech.conditions.kinds), or none")
    p.add_argument("--conditions-per-caption", type=int, metavar="K", help="the first K of a caption's "
                   "--voices-per-caption renditions go through them, the rest stay clean (default 1)")
    p.add_argument("--conditions-share", type=float, metavar="FRACTION", help="only this share of the captions, "
                   "drawn per caption, has renditions go through them (default 1: every caption)")
    p.add_argument("--condition-splits", metavar="SPLITS", help="the splits the conditions apply to, "
                   "comma-separated (default train: dev and test stay clean; score in a room with --eval-condition)")
    p.add_argument("--eval-condition", metavar="PRESET", help="every utterance in one fixed condition set: "
                   "office | phone (speech.eval_condition)")
    p.add_argument("--num-cpus", type=int, help="parallel workers (default: every CPU of the cluster)")
    p.add_argument("--address")

    p = verb("train", cmd_train, "train one configuration on prepared data; writes metrics.json and model.pt")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int)

    p = verb("tune", cmd_tune, "OptunaSearch (TPE) + ASHA search of single-CPU trials on Ray Tune")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, help="runs folder: trials.csv, curves.csv, best.json, best/, optuna.db")
    p.add_argument("--trials", type=int)
    p.add_argument("--resume", action="store_true", help="continue the interrupted search in --out")
    p.add_argument("--warm-start", metavar="PATH", help="an earlier search folder (or its optuna.db): its best "
                   "configurations run first")
    p.add_argument("--address")

    p = verb("ablate", cmd_ablate, "each paper's idea alone against the baseline, over seeds, as one Ray Tune grid; "
             "or, with --strategies, search strategies at equal trials")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, help="writes ablation.csv/json, or strategies.csv/json and strategies/")
    p.add_argument("--seeds", type=int, help="seeds per arm (ablate.seeds)")
    p.add_argument("--epochs", type=int, help="epochs per arm (ablate.epochs); with --strategies, search.max_epochs")
    p.add_argument("--trials", type=int, help="with --strategies: trials per strategy (search.trials)")
    p.add_argument("--strategies", action="store_true",
                   help="compare tpe/random x asha/fifo on the [search] space instead (ablate.strategies)")
    p.add_argument("--address")

    p = verb("evaluate", cmd_evaluate, "R@1/5/10 and median rank, speech->image and image->speech")
    p.add_argument("checkpoint")
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="dev")
    p.add_argument("--json", action="store_true")
    p.add_argument("--by-voice", action="store_true", help="also speech->image recall per voice group (accent)")

    p = verb("translate", cmd_translate, "a spoken sentence -> the images it describes, by a trained model",
             config=False)
    p.add_argument("checkpoint", help="model.pt, or the folder holding it (e.g. runs/best)")
    p.add_argument("--data", required=True, help="the prepared folder the model was trained on")
    query = p.add_mutually_exclusive_group(required=True)
    query.add_argument("--audio", help="an audio file: wav, mp3, flac, ...")
    query.add_argument("--say", help="a sentence to synthesise and look up")
    p.add_argument("--tts", choices=text_to_speech_names(), default="espeak", help="the voice for --say")
    p.add_argument("-k", type=int, default=5, help="how many images to show")
    p.add_argument("--split", default="dev", help="gallery: prepared split(s), e.g. dev or train,dev")
    p.add_argument("--html", help="also write a page with thumbnails and every caption")

    p = verb("serve", cmd_serve, "a web page and a JSON API: say, upload or type a sentence, see its images",
             config=False)
    p.add_argument("checkpoint", help="model.pt, or the folder holding it (e.g. runs/best)")
    p.add_argument("--data", required=True, help="the prepared folder the model was trained on")
    p.add_argument("--split", default="dev", help="gallery: prepared split(s), e.g. dev or train,dev")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on; any but loopback needs a token")
    p.add_argument("--port", type=int, default=8000, help="0: any free port (the one chosen is printed)")
    p.add_argument("--token", help="required on a non-loopback --host (default: SONOVIS_SERVE_TOKEN)")
    p.add_argument("--tts", choices=text_to_speech_names(), default="espeak", help="the voice for typed sentences")

    p = verb("report", cmd_report, "one self-contained HTML page about a search, finished or running",
             config=False)
    p.add_argument("runs", help="the runs folder of `sonovis tune --out` (or of `sonovis ablate --out`)")
    p.add_argument("--out", help="default: <runs>/report.html")
    p.add_argument("--data", help="the prepared folder: adds translate examples with images")
    p.add_argument("--ablation", help="a `sonovis ablate --out` folder whose tables to add (default: the runs folder)")

    verb("config", cmd_config, "print the settings a config file and --set give")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one verb; a user's mistake (bad flag, setting, file or folder) is one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)  # argparse's own usage errors: usage, one error line, exit 2
    try:
        args.func(args)
    except SonovisError as err:
        return _refuse(args.verb, str(err))
    except OSError as err:
        if err.filename is None:  # not about a path the user gave: a real fault, keep its traceback
            raise
        return _refuse(args.verb, f"{err.filename}: {err.strerror or type(err).__name__}")
    except KeyboardInterrupt:
        print(f"sonovis {args.verb}: interrupted", file=sys.stderr)
        return 130
    return 0


def _refuse(verb: str, message: str) -> int:
    print(f"sonovis {verb}: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
