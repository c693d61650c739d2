"""What each command costs as a dataset grows: N generated 64x64 JPEGs, tiny MobileNet 0.25 @32 pooled.

    python bench/bench_scale.py --sizes 10000 100000 300000 --work /tmp/bench-scale

For each N: the first `extract run`, a rerun with nothing changed, the same with `--rehash` (every file
read and hashed, as before the stat cache: the paired peer), a rerun after 1 % of the files
changed or were added (0.5 % rewritten with new bytes, 0.5 % new), `extract ls`, `extract verify`,
`heads fit --kind logreg` and `heads eval`, each in a fresh process (its own peak RSS, by wait4).
The runs say how many files they opened (`files_read` of the run record): after 1 % changed it must
be that 1 %. The base costs little here (32 px, alpha 0.25), so the tool's own per-file work shows.

Images: a few hundred distinct 64x64 JPEGs (about 2-4 KB), each copy made unique by a JPEG comment
segment (valid JPEG, distinct content hash), in two class folders. Everything is written under
--work; --keep leaves it there, otherwise it is deleted at the end.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # bench.synthetic_store, run as a script
BIN = Path(sys.executable).parent
WEIGHTS = Path(os.environ.get("BOTTLENECK_SHARED", REPO.parent / "shared")) / "weights" / "mobilenet_2_5_128_tf_no_top.h5"
CLASSES = ("cats", "dogs")


def templates(count: int = 256) -> list[bytes]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        base = np.array([200, 60, 40]) if i % 2 == 0 else np.array([40, 80, 200])
        pixels = np.clip(base + rng.integers(-60, 60, (64, 64, 3)), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
        out.append(buffer.getvalue())
    return out


def unique_jpeg(template: bytes, tag: str) -> bytes:
    """The template with a comment segment (FFFE) after SOI: a valid JPEG with its own bytes."""
    text = tag.encode()
    return template[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + template[2:]


def generate(data: Path, count: int, start: int = 0, tag: str = "", layout: str = "classes") -> list[Path]:
    """`count` images: in class folders (classes); or in one folder, `images/`, labelled by a table
    (labels.csv: `id,label`, the ids paths without their extension, images/0) or by their names (pattern)."""
    made, pool = [], templates()
    rows = []
    for i in range(start, start + count):
        label = i % 2
        if layout == "classes":
            path = data / CLASSES[label] / f"{CLASSES[label]}.{i}.jpg"
        else:
            path = data / "images" / (f"{i}.jpg" if layout == "table" else f"{CLASSES[label]}.{i}.jpg")
            rows.append(f"images/{i},{CLASSES[label]}\n")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(unique_jpeg(pool[2 * ((i // 2) % (len(pool) // 2)) + label], f"{tag}{i}"))
        made.append(path)
    if layout == "table":
        table = data / "labels.csv"
        with table.open("a") as f:
            f.write("" if table.stat().st_size else "id,label\n")
            f.writelines(rows)
    return made


LAYOUT_OPTIONS = {"classes": [], "table": ["--labels", "labels.csv"],
                  "pattern": ["--label-pattern", r"^(cats|dogs)\."]}


def timed(command: list[str]) -> dict:
    """Wall time, exit code and peak RSS of one command in a fresh process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(command)} failed ({code}):\n{output[-3000:]}")
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024), "output": output}


def last_run_stats(store: Path) -> dict:
    records = sorted(store.glob("configs/*/runs/run-*.json"), key=lambda p: p.stat().st_mtime_ns)
    return json.loads(records[-1].read_text()).get("stats", {}) if records else {}


def one_size(n: int, work: Path, peer: Path | None = None, layout: str = "classes",
             reruns_only: bool = False) -> list[dict]:
    data, store, head = work / f"data-{n}", work / f"store-{n}", work / f"head-{n}"
    for path in (data, store, head):
        shutil.rmtree(path, ignore_errors=True)
    generate(data, n, layout=layout)
    old = time.time() - 60  # files older than the racily-clean window, as files on a real disk are
    for path in data.rglob("*.jpg"):
        os.utime(path, (old, old))
    run = [str(BIN / "extract"), "run", "--data", str(data), "--backbone", "mobilenet", "--weights", str(WEIGHTS),
           "--alpha", "0.25", "--size", "32", "--pool", "avg", "--store", str(store), "--batch-size", "128",
           *LAYOUT_OPTIONS[layout]]
    rows = []

    def step(name: str, command: list[str]) -> None:
        result = timed(command)
        stats = last_run_stats(store) if command[1] == "run" else {}
        row = {"n": n, "layout": layout, "step": name, "seconds": result["seconds"], "peak_rss_mb": result["peak_rss_mb"],
               "files_read": stats.get("files_read"), "extracted": stats.get("extracted")}
        rows.append(row)
        print(json.dumps(row), flush=True)

    step("first run", run)
    step("rerun, nothing changed", run)
    step("rerun --rehash (the peer: every file read)", run + ["--rehash"])
    if peer is not None:  # another install (e.g. the main branch's venv) on the same files and store
        step(f"rerun by {peer}/extract (peer)", [str(peer / "extract"), *run[1:]])
        step("rerun, nothing changed (again, after the peer)", run)
    if reruns_only:
        return rows
    changed = max(1, n // 200)
    for path in sorted(data.rglob("*.jpg"))[:: max(1, n // changed)][:changed]:
        stat = path.stat()
        path.write_bytes(unique_jpeg(path.read_bytes(), "changed"))  # new bytes, new size
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    generate(data, changed, start=n, tag="new", layout=layout)
    step("rerun, 1 % changed or added", run)
    step("extract ls", [str(BIN / "extract"), "ls", "--store", str(store)])
    step("extract verify", [str(BIN / "extract"), "verify", "--store", str(store)])
    step("heads fit --kind logreg", [str(BIN / "heads"), "fit", "--store", str(store), "--kind", "logreg",
                                     "--out", str(head)])
    step("heads eval", [str(BIN / "heads"), "eval", "--head", str(head)])
    return rows


def synthetic_size(rows: int, work: Path, peer: Path | None = None) -> list[dict]:
    """extract ls, heads fit --kind logreg and heads eval on a store of `rows` generated pooled rows
    (bench/synthetic_store.py: written through the store's API, no image), each a fresh process; with
    `peer` (another install's bin/), each command of that install too, alternating, on the same store."""
    store = work / f"synthetic-{rows}"
    shutil.rmtree(store, ignore_errors=True)
    # Written by a child process: Linux carries a process's peak RSS across exec, so each timed command,
    # forked from this one, would report at least this process's size had it written the store itself.
    started = time.perf_counter()
    subprocess.run([sys.executable, str(REPO / "bench" / "synthetic_store.py"), "--rows", str(rows), "--store",
                    str(store)], check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    print(json.dumps({"n": rows, "step": "synthetic store written", "seconds": round(time.perf_counter() - started, 1)}),
          flush=True)
    out = []
    installs = [("", BIN)] + ([(f" (peer {peer})", peer)] if peer is not None else [])
    for name, command in (("extract ls", ["extract", "ls", "--store", str(store)]),
                          ("heads fit --kind logreg", ["heads", "fit", "--store", str(store), "--kind", "logreg",
                                                       "--out", "{head}"]),
                          ("heads eval", ["heads", "eval", "--head", "{head}"])):
        for label, bin_dir in installs:
            head = work / f"synthetic-head-{rows}{'-peer' if label else ''}"
            if command[1] == "fit":
                shutil.rmtree(head, ignore_errors=True)
            result = timed([str(bin_dir / command[0]), *(a.format(head=head) for a in command[1:])])
            out.append({"n": rows, "layout": "synthetic", "step": name + label, "seconds": result["seconds"],
                        "peak_rss_mb": result["peak_rss_mb"]})
            print(json.dumps(out[-1]), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 300_000])
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-scale"))
    parser.add_argument("--keep", action="store_true", help="Leave the generated data and stores in --work.")
    parser.add_argument("--peer", type=Path, help="bin/ folder of another install whose unchanged rerun (and, with --synthetic-rows, "
                             "every command) is timed too, in the same run")
    parser.add_argument("--layout", choices=sorted(LAYOUT_OPTIONS), default="classes",
                        help="How the labels are given: class folders, a labels.csv of ids, or the file names.")
    parser.add_argument("--steps", choices=("all", "reruns"), default="all",
                        help="reruns: the first run and the unchanged reruns only (what a layout's scan costs).")
    parser.add_argument("--synthetic-rows", type=int, nargs="*", default=[],
                        help="Also (or only, with --sizes none given) time extract ls, heads fit --kind logreg and "
                             "heads eval on a store of this many generated feature rows (bench/synthetic_store.py).")
    args = parser.parse_args()
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)
    args.work.mkdir(parents=True, exist_ok=True)
    try:
        for n in args.synthetic_rows:
            synthetic_size(n, args.work, args.peer)
            if not args.keep:
                for path in args.work.glob(f"synthetic*-{n}*"):
                    shutil.rmtree(path, ignore_errors=True)
        for n in args.sizes:
            one_size(n, args.work, args.peer, args.layout, args.steps == "reruns")
            if not args.keep:
                for path in args.work.glob(f"*-{n}"):
                    shutil.rmtree(path, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
