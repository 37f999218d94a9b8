"""Every bad input a user may type, and what hoot answers: one table a reader can scan.

Each row: an id, the command line (`{tmp}` is the test's own folder, prepared by `setup`),
the exit code, and a pattern the single `hoot: error:` line must match. A good answer is
exit 2 (bad input) or 1 (no answer) with ONE line on stderr naming the input and the fix,
never a traceback. Sections by command; add a row where a new case is found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from hoot.cli.main import main


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    exit_code: int
    message: str  # regex the one stderr line must match
    setup: Callable[[Path], None] | None = None


def _nothing(tmp: Path) -> None:
    return None


# -- the command line itself ---------------------------------------------------------------
CLI_CASES = [
    Case("unknown option", ("advise", "--bogus"), 2, r"No such option '--bogus'"),
    Case("--debug after the subcommand", ("advise", "--bogus", "--debug"), 2, r"No such option '--bogus'"),
]

# -- hoot advise / hoot catalog --------------------------------------------------------------
ADVISE_CASES = [
    Case("advise unknown target", ("advise", "--target", "toaster"), 2, r"target 'toaster'"),
    Case("advise dataset size zero", ("advise", "--dataset-size", "0"), 2, r"--dataset-size '0' must be at least 1"),
    Case("advise dataset size negative", ("advise", "--dataset-size", "-10"), 2, r"--dataset-size '-10' is negative"),
    Case("advise dataset size nan", ("advise", "--dataset-size", "nan"), 2, r"--dataset-size 'nan'"),
    Case("advise max latency inf", ("advise", "--max-latency-ms", "inf"), 2, r"--max-latency-ms 'inf' is not a finite"),
    Case("advise max memory zero", ("advise", "--max-memory-mb", "0"), 2, r"--max-memory-mb '0' must be greater than 0"),
    Case("advise min top1 over 100", ("advise", "--min-top1", "101"), 2, r"--min-top1 '101' must be at most 100"),
    Case("advise top zero", ("advise", "--top", "0"), 2, r"--top '0' must be at least 1"),
    Case("advise batch size zero", ("advise", "--batch-size", "0"), 2, r"--batch-size '0' must be at least 1"),
    Case("advise threads negative", ("advise", "--threads", "-2"), 2, r"--threads '-2'"),
    Case("advise bad dtype", ("advise", "--dtype", "fp64"), 2, r"--dtype"),
    Case("advise bad memory kind", ("advise", "--memory", "gpu"), 2, r"--memory"),
    Case("advise bad device", ("advise", "--device", "tpu"), 2, r"--device 'tpu' is not a device"),
    Case("advise two runtimes", ("advise", "--cuda-graphs", "--runtime", "int8"), 2, r"name two runtimes"),
    Case("advise --explain of only a comma", ("advise", "--explain", ","), 2, r"--explain ',' names no model"),
    Case("advise --explain empty", ("advise", "--explain", ""), 2, r"--explain '' names no model"),
    Case("advise nothing satisfies", ("advise", "--max-params", "1000"), 1, r"no model satisfies"),
    Case("catalog max params zero", ("catalog", "--max-params", "0"), 2, r"--max-params '0' must be at least 1"),
]

# -- hoot bench -------------------------------------------------------------------------------
def _results_db(tmp: Path, read_only: bool = False) -> None:
    """{tmp}/bench.sqlite with one valid row (read-only when asked)."""
    import os

    from hoot.bench.store import ResultStore
    from hoot.testing.bench_rows import make_row

    with ResultStore(tmp / "bench.sqlite") as store:
        store.add(make_row())
    if read_only:
        os.chmod(tmp / "bench.sqlite", 0o444)


def _import_file_with_unknown_model(tmp: Path) -> None:
    import json

    from hoot.testing.bench_rows import make_row

    rows = [make_row(), make_row(variant="resnet9000")]
    (tmp / "rows.json").write_text(json.dumps({"format": "hoot-bench", "rows": rows}), encoding="utf-8")


def _other_programs_db(tmp: Path) -> None:
    import sqlite3

    with sqlite3.connect(tmp / "other.sqlite") as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER, total REAL)")


def _damaged_db(tmp: Path, how: str) -> None:
    """{tmp}/bench.sqlite with many rows, then damaged: pages overwritten, or one text value not UTF-8."""
    import sqlite3

    from hoot.bench.store import ResultStore
    from hoot.testing.bench_rows import make_row

    with ResultStore(tmp / "bench.sqlite") as store:
        for batch in range(1, 120):
            store.add(make_row(batch_size=batch))
    if how == "text":
        with sqlite3.connect(tmp / "bench.sqlite") as conn:
            conn.execute("UPDATE measurements SET variant = CAST(x'ff41' AS TEXT) WHERE id = 3")
        return
    data = bytearray((tmp / "bench.sqlite").read_bytes())
    for offset in range(4096 * 3, len(data), 4096):
        data[offset + 100:offset + 400] = b"\xff" * 300
    (tmp / "bench.sqlite").write_bytes(bytes(data))


def _import_row_claiming_this_machine(tmp: Path) -> None:
    """A row with this machine's hardware id and another core count."""
    import json

    from hoot.bench.hardware import current_hardware_id
    from hoot.testing.bench_rows import make_row

    row = {**make_row(hardware_id=current_hardware_id()), "hw_cpu_cores": 64, "hw_cpu_model": "Big Iron"}
    (tmp / "rows.json").write_text(json.dumps({"format": "hoot-bench", "rows": [make_row(), row]}), encoding="utf-8")


def _data_dir_is_a_file(tmp: Path) -> None:
    import os

    _import_file_with_unknown_model(tmp)
    (tmp / "datafile").write_text("x")
    os.environ["HOOT_DATA_DIR"] = str(tmp / "datafile")  # conftest's monkeypatch restores it after the test


def _home_cannot_be_written(tmp: Path) -> None:
    """HOME where no folder can be made (under a file: what a read-only home is to mkdir, as root too)."""
    import os

    from hoot.testing.bench_rows import make_row
    import json

    (tmp / "rows.json").write_text(json.dumps({"format": "hoot-bench", "rows": [make_row()]}), encoding="utf-8")
    (tmp / "homefile").write_text("x")
    for name in ("HOOT_DATA_DIR", "XDG_DATA_HOME"):
        os.environ.pop(name, None)  # restored after the test by conftest's monkeypatch
    os.environ["HOME"] = str(tmp / "homefile" / "home")


BENCH_CASES = [
    Case("HOOT_DATA_DIR pointing at a file", ("bench", "import", "{tmp}/rows.json"), 2,
         r"hoot's data folder '.*datafile' \(from HOOT_DATA_DIR\) is a file, not a folder", _data_dir_is_a_file),
    Case("advise with HOOT_DATA_DIR pointing at a file", ("advise",), 2, r"is a file, not a folder",
         _data_dir_is_a_file),
    Case("HOME that cannot be written", ("bench", "import", "{tmp}/rows.json"), 2,
         r"cannot create hoot's data folder '.*homefile/home/.local/share/hoot' \(from HOME: .*\); set HOOT_DATA_DIR",
         _home_cannot_be_written),
    Case("bench import of a row claiming this machine with another core count",
         ("bench", "import", "{tmp}/rows.json", "--db", "{tmp}/new.sqlite"), 2,
         r"row 2 names this machine's hardware_id .* but says hw_cpu_model 'Big Iron'", _import_row_claiming_this_machine),
    Case("bench show --db another program's SQLite file", ("bench", "show", "--db", "{tmp}/other.sqlite"), 2,
         r"other.sqlite' is an SQLite file of another program \(tables: invoices\), not a hoot results database",
         _other_programs_db),
    Case("bench show --db with damaged pages", ("bench", "show", "--db", "{tmp}/bench.sqlite"), 2,
         r"bench.sqlite' is damaged \(.*\); restore it from a copy", lambda t: _damaged_db(t, "pages")),
    Case("bench show --db with a damaged text value", ("bench", "show", "--db", "{tmp}/bench.sqlite"), 2,
         r"bench.sqlite' holds a damaged text value", lambda t: _damaged_db(t, "text")),
    Case("bench --models of only commas", ("bench", "--models", ",,", "--db", "{tmp}/b.sqlite"), 2,
         r"--models ',,' names no model"),
    Case("bench bad batch list", ("bench", "--models", "resnet18", "--batch-size", "0"), 2, r"--batch-size"),
    Case("bench --db read-only database", ("bench", "--models", "resnet18", "--db", "{tmp}/bench.sqlite"), 2,
         r"bench.sqlite' cannot be written: the file is read-only", lambda t: _results_db(t, read_only=True)),
    Case("bench import into a read-only database", ("bench", "import", "{tmp}/rows.json", "--db", "{tmp}/bench.sqlite"),
         2, r"cannot be written", lambda t: (_results_db(t, read_only=True), _import_file_with_unknown_model(t))),
    Case("bench --db in a missing folder", ("bench", "--models", "resnet18", "--db", "{tmp}/nonexistent/dir/x.sqlite"),
         2, r"folder '.*nonexistent/dir' does not exist"),
    Case("bench show --db in a missing folder", ("bench", "show", "--db", "{tmp}/nonexistent/x.sqlite"), 2,
         r"does not exist"),
    Case("bench import of a model not in the catalog", ("bench", "import", "{tmp}/rows.json", "--db", "{tmp}/new.sqlite"),
         2, r"row 2: variant 'resnet9000' is not in the catalog", _import_file_with_unknown_model),
    Case("bench export -o into a missing folder", ("bench", "export", "--db", "{tmp}/bench.sqlite", "-o",
                                                    "{tmp}/nodir/out.json"), 2, r"folder '.*nodir' does not exist",
         _results_db),
    Case("bench export -o onto a folder", ("bench", "export", "--db", "{tmp}/bench.sqlite", "-o", "{tmp}"), 2,
         r"is a directory", _results_db),
    Case("bench compare with an unknown runtime", ("bench", "compare", "this", "this,runtime=jit", "--db",
                                                    "{tmp}/bench.sqlite"), 2, r"runtime must be one of", _results_db),
    Case("bench threads above the cores", ("bench", "--models", "resnet18", "--threads", "9999"), 2, r"--threads"),
    Case("bench threads above the core count names it", ("bench", "--models", "resnet18", "--threads", "1000"), 2,
         r"--threads 1000 is more than the \d+ CPU core\(s\) this process may use; pass --threads \d+ or fewer"),
    Case("bench wait-quiet negative", ("bench", "--models", "resnet18", "--wait-quiet", "-5"), 2, r"--wait-quiet"),
    Case("bench wait-quiet nan", ("bench", "--models", "resnet18", "--wait-quiet", "nan"), 2, r"--wait-quiet 'nan'"),
    Case("bench unknown contended policy", ("bench", "--models", "resnet18", "--contended", "maybe"), 2,
         r"--contended"),
    Case("bench threads zero", ("bench", "--models", "resnet18", "--threads", "0"), 2, r"--threads"),
    Case("bench timeout nan", ("bench", "--models", "resnet18", "--timeout", "nan"), 2, r"--timeout"),
    Case("bench timeout inf", ("bench", "--models", "resnet18", "--timeout", "inf"), 2, r"--timeout"),
    Case("bench input size tiny", ("bench", "--models", "resnet18", "--input-size", "3"), 2, r"--input-size"),
    Case("bench calibration batches", ("bench", "--models", "resnet18", "--runtime", "int8",
                                       "--calibration-batches", "0"), 2, r"--calibration-batches"),
    Case("bench unknown runtime", ("bench", "--models", "resnet18", "--runtime", "tensorrt"), 2, r"tensorrt"),
    Case("bench compile and int8", ("bench", "--models", "resnet18", "--compile", "--runtime", "int8",
                                    "--db", "{tmp}/b.sqlite"), 2, r"two runtimes"),
    Case("bench graphs on the cpu", ("bench", "--models", "resnet18", "--cuda-graphs", "--device", "cpu",
                                     "--db", "{tmp}/b.sqlite"), 2, r"--cuda-graphs needs a CUDA device"),
]

# -- hoot shortlist / report / export / predict -----------------------------------------------
def _images(tmp: Path) -> None:
    from hoot.testing.images import make_imagefolder

    make_imagefolder(tmp / "data", per_class=5)


def _unreadable(tmp: Path) -> None:
    for c in ("a", "b"):
        (tmp / "data" / c).mkdir(parents=True)
        (tmp / "data" / c / "zero.png").write_bytes(b"")
        (tmp / "data" / c / "text.jpg").write_text("not an image")
        (tmp / "data" / c / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")


def _config_only(tmp: Path) -> None:
    (tmp / "run").mkdir()
    (tmp / "run" / "config.json").write_text('{"data_dir": "x", "run_id": "run"}')


def _broken_bakeoff(tmp: Path) -> None:
    _config_only(tmp)
    (tmp / "run" / "bakeoff.json").write_text('{"winner": ')


def _fake_best(tmp: Path) -> None:
    _config_only(tmp)
    (tmp / "run" / "best.pt").write_bytes(b"not a checkpoint")
    (tmp / "file").write_text("x")


def _code_running_best(tmp: Path) -> None:
    import torch

    _config_only(tmp)
    torch.save({"hoot_checkpoint": 1, "payload": Path("/")}, tmp / "run" / "best.pt")  # a global outside the allowlist


def _foreign_best(tmp: Path, run_id: str = "other") -> None:
    """A finished-looking run (2 classes, winner mobilenet_v3_small) holding a real best.pt from another
    run: squeezenet1_1 over 3 classes."""
    import json

    import torch

    from hoot.bench.models import build_model

    (tmp / "run").mkdir()
    (tmp / "run" / "config.json").write_text(json.dumps({"data_dir": "x", "run_id": "run"}))
    (tmp / "run" / "bakeoff.json").write_text(json.dumps({"winner": "mobilenet_v3_small"}))
    (tmp / "run" / "dataset.json").write_text(json.dumps({"classes": ["a", "b"]}))
    model = build_model("squeezenet1_1", task="classification", num_classes=3, pretrained=False)
    torch.save({"hoot_checkpoint": 1, "model": model.state_dict(), "variant": "squeezenet1_1",
                "task": "classification", "classes": ["x", "y", "z"], "image_size": 32, "mean": [0.5] * 3,
                "std": [0.25] * 3, "run_id": run_id}, tmp / "run" / "best.pt")


SHORT = ("--candidates", "mobilenet_v3_small", "--no-pretrained", "--output", "{tmp}/out")
RUN_CASES = [
    Case("shortlist missing folder", ("shortlist", "{tmp}/nope"), 2, r"does not exist"),
    Case("shortlist --epochs nan", ("shortlist", "{tmp}", "--epochs", "nan", *SHORT), 2, r"--epochs 'nan' is not a finite number"),
    Case("shortlist --threads 0", ("shortlist", "{tmp}", "--threads", "0", *SHORT), 2, r"--threads '0' must be at least 1"),
    Case("shortlist --threads above the cores", ("shortlist", "{tmp}", "--threads", "1000", *SHORT), 2,
         r"--threads 1000 is more than the \d+ CPU core\(s\) this process may use; pass --threads \d+ or fewer"),
    Case("shortlist --patience -1", ("shortlist", "{tmp}", "--patience", "-1", *SHORT), 2, r"--patience '-1' must be at least 0"),
    Case("shortlist --test-fraction 0", ("shortlist", "{tmp}", "--test-fraction", "0", *SHORT), 2, r"--test-fraction '0'"),
    Case("shortlist --batch-size 1e9", ("shortlist", "{tmp}", "--batch-size", "1000000000", *SHORT), 2, r"--batch-size .* at most"),
    Case("shortlist --candidates empty", ("shortlist", "{tmp}/data", "--candidates", "", "--output", "{tmp}/out"), 2,
         r"--candidates is empty", _images),
    Case("shortlist --image-size a candidate cannot run at", ("shortlist", "{tmp}/data", "--candidates", "inception_v4",
         "--no-pretrained", "--image-size", "32", "--output", "{tmp}/out"), 2,
         r"--image-size 32: inception_v4 cannot run at 32 px \(.+\); pass --image-size \d+ or drop inception_v4", _images),
    Case("shortlist a candidate no package provides", ("shortlist", "{tmp}/data", "--candidates", "mcunet",
         "--no-pretrained", "--output", "{tmp}/out"), 2,
         r"candidate 'mcunet' is named in the catalog but no package hoot builds from provides it \(`hoot catalog show mcunet`",
         _images),
    Case("shortlist --candidates of only commas", ("shortlist", "{tmp}/data", "--candidates", ",,", "--output",
                                                   "{tmp}/out"), 2, r"--candidates is empty", _images),
    Case("shortlist --batch-size 1 with a BatchNorm model", ("shortlist", "{tmp}/data", "--batch-size", "1", *SHORT), 2,
         r"--batch-size 1 cannot train mobilenet_v3_small: its BatchNorm layers need at least 2", _images),
    Case("shortlist val+test leave no training", ("shortlist", "{tmp}/data", "--val-fraction", "0.5", "--test-fraction", "0.5", *SHORT),
         2, r"leave under 10% for training", _images),
    Case("shortlist only unreadable files", ("shortlist", "{tmp}/data", *SHORT), 2, r"were unreadable", _unreadable),
    Case("shortlist --output is a file", ("shortlist", "{tmp}/data", "--candidates", "mobilenet_v3_small", "--no-pretrained",
                                          "--output", "{tmp}/outfile"), 2, r"--output folder .* is a file",
         lambda tmp: _images(tmp) or (tmp / "outfile").write_text("x")),
    Case("shortlist --max-params not a count", ("shortlist", "{tmp}", "--max-params", "lots", *SHORT), 2,
         r"--max-params 'lots' is not a number; give a count like 5M"),
    Case("shortlist --candidates none meets the limits", ("shortlist", "{tmp}/data", *SHORT, "--max-params", "1k"), 2,
         r"no candidate in --candidates meets the limits: mobilenet_v3_small \(--max-params .*params 2.54M", _images),
    Case("shortlist --run-id of an existing run", ("shortlist", "{tmp}/data", *SHORT, "--run-id", "run"), 2,
         r"--run-id 'run': run folder .*out/run' already exists; continue it with `hoot shortlist --resume run",
         lambda tmp: (_images(tmp), (tmp / "out" / "run").mkdir(parents=True),
                      (tmp / "out" / "run" / "config.json").write_text("{}"))),
    Case("report on a run with config.json only", ("report", "{tmp}/run"), 2, r"no bakeoff.json.*--resume run", _config_only),
    Case("report on a broken bakeoff.json", ("report", "{tmp}/run"), 2, r"bakeoff.json' is broken", _broken_bakeoff),
    Case("export on a run without best.pt", ("export", "{tmp}/run"), 2, r"has no best.pt yet.*--resume run", _config_only),
    Case("predict on a run without best.pt", ("predict", "{tmp}/run", "x.png"), 2, r"has no best.pt yet", _config_only),
    Case("predict with no image", ("predict", "{tmp}/run"), 2, r"no images given"),
    Case("export a truncated best.pt", ("export", "{tmp}/run"), 2, r"best.pt' cannot be read .*delete it", _fake_best),
    Case("export --out under a file", ("export", "{tmp}/run", "--out", "{tmp}/file/model.onnx"), 2,
         r"--out folder .* is a file, not a folder", _fake_best),
    Case("predict with a code-running best.pt", ("predict", "{tmp}/run", "x.png"), 2,
         r"refused to load .*best.pt.*would run code", _code_running_best),
    Case("predict with a best.pt copied from another run", ("predict", "{tmp}/run", "x.png"), 2,
         r"best.pt' belongs to another run \(run 'other', not 'run'; model squeezenet1_1, not the winner "
         r"mobilenet_v3_small; 3 classes, not this run's 2\); delete it", _foreign_best),
    Case("export a best.pt of another model under the same run id", ("export", "{tmp}/run"), 2,
         r"belongs to another run \(model squeezenet1_1.*--resume run", lambda tmp: _foreign_best(tmp, "run")),
    Case("predict --threshold over 1", ("predict", "{tmp}/run", "x.png", "--threshold", "1.5"), 2,
         r"--threshold '1.5' must be at most 1"),
    Case("predict a folder with no images", ("predict", "{tmp}/run", "{tmp}/empty"), 2,
         r"folder '.*empty' holds no images", lambda tmp: (_foreign_best(tmp, "run"), (tmp / "empty").mkdir(),
                                                           (tmp / "run" / "bakeoff.json").unlink(),
                                                           (tmp / "run" / "dataset.json").unlink())),
    Case("report on an unknown run id", ("report", "nope", "--output", "{tmp}"), 2, r"run 'nope' not found"),
]

# -- segmentation data (issue 18): refused before any training ---------------------------------
def _seg(tmp: Path) -> Path:
    from hoot.testing.images import make_segmentation

    return make_segmentation(tmp / "seg", n=6, size=32)


def _seg_mask_size(tmp: Path) -> None:
    from PIL import Image

    Image.new("L", (20, 32)).save(_seg(tmp) / "masks" / "img_0002.png")


def _seg_class_beyond(tmp: Path) -> None:
    from PIL import Image

    Image.new("L", (32, 32), 9).save(_seg(tmp) / "masks" / "img_0003.png")


def _seg_image_without_mask(tmp: Path) -> None:
    (_seg(tmp) / "masks" / "img_0001.png").unlink()


def _seg_mask_without_image(tmp: Path) -> None:
    (_seg(tmp) / "images" / "img_0004.png").unlink()


def _seg_rgb_mask(tmp: Path) -> None:
    from PIL import Image

    Image.new("RGB", (32, 32)).save(_seg(tmp) / "masks" / "img_0000.png")


def _seg_and_tags(tmp: Path) -> None:
    (_seg(tmp) / "labels.csv").write_text("image,labels\nimages/img_0000.png,a\n")


SEG = ("--candidates", "lraspp_mobilenet_v3_large", "--no-pretrained", "--output", "{tmp}/out")
SEGMENTATION_CASES = [
    Case("segmentation mask size differs from its image", ("shortlist", "{tmp}/seg", *SEG), 2,
         r"mask '.*img_0002.png' is 20x32 but its image .* is 32x32; save the mask at the image's size", _seg_mask_size),
    Case("segmentation class index beyond the classes", ("shortlist", "{tmp}/seg", *SEG), 2,
         r"mask '.*img_0003.png' holds class index 9, beyond the 4 classes of .*classes.txt", _seg_class_beyond),
    Case("segmentation image without mask", ("shortlist", "{tmp}/seg", *SEG), 2,
         r"image '.*img_0001.png' has no mask in .*add masks/img_0001.png", _seg_image_without_mask),
    Case("segmentation mask without image", ("shortlist", "{tmp}/seg", *SEG), 2,
         r"mask '.*img_0004.png' has no image in .*add the image", _seg_mask_without_image),
    Case("segmentation RGB mask", ("shortlist", "{tmp}/seg", *SEG), 2, r"mask '.*img_0000.png' is RGB; save class indices",
         _seg_rgb_mask),
    Case("ambiguous layout", ("shortlist", "{tmp}/seg", *SEG), 2,
         r"matches more than one layout: .*--task multilabel.*--task segmentation.*pass --task", _seg_and_tags),
    Case("unknown --loss for the task", ("shortlist", "{tmp}/seg", "--loss", "hinge", *SEG), 2,
         r"--loss 'hinge' is not one of ce, dice, dice_ce, tversky, jaccard, focal for segmentation", _seg),
    Case("--image-size an smp model cannot take", ("shortlist", "{tmp}/seg", "--candidates", "unet_resnet34",
         "--no-pretrained", "--image-size", "48", "--output", "{tmp}/out"), 2,
         r"--image-size 48: unet_resnet34 take\(s\) only sides that are a multiple of 32 px; pass --image-size 32 or 64",
         _seg),
    Case("--annotations file missing", ("shortlist", "{tmp}/seg/images", "--annotations", "{tmp}/none.json", *SEG), 2,
         r"annotations file '.*none.json' does not exist: give the COCO json's path with --annotations", _seg),
    Case("--annotations with a task that reads none", ("shortlist", "{tmp}/seg", "--task", "segmentation",
         "--annotations", "{tmp}/boxes.json", *SEG), 2,
         r"--annotations '.*boxes.json' is for --task detection, not --task segmentation; drop --annotations", _seg),
]

# -- scale-out options of hoot shortlist -------------------------------------------------------
def _class_folders(tmp: Path) -> None:
    """A data folder the shortlist accepts up to the scale-out checks (two class folders)."""
    for name in ("a", "b"):
        (tmp / "data" / name).mkdir(parents=True)


_SHORTLIST = ("shortlist", "{tmp}/data", "--candidates", "resnet18", "--no-pretrained", "--output", "{tmp}/out")
SCALEOUT_CASES = [
    Case("--storage neither a URL nor a journal file", (*_SHORTLIST, "--storage", "notaurl"), 2,
         r"--storage 'notaurl' is not a storage: use sqlite:///PATH.db, postgresql://.*\.journal or \.log", _class_folders),
    Case("--storage a folder", (*_SHORTLIST, "--storage", "{tmp}/data.journal"), 2, r"is a folder: name a journal file",
         lambda tmp: (_class_folders(tmp), (tmp / "data.journal").mkdir())),
    Case("--worker without --storage", (*_SHORTLIST, "--worker"), 2, r"--worker needs the coordinator's --storage",
         _class_folders),
    Case("--status without --study", ("shortlist", "--status", "--storage", "sqlite:///{tmp}/s.db"), 2,
         r"--status needs --study NAME"),
    Case("--worker on a journal that does not exist", (*_SHORTLIST, "--storage", "{tmp}/none.journal", "--study", "s",
         "--worker"), 2, r"journal storage '.*none.journal' does not exist: start the coordinator first", _class_folders),
    Case("--nproc 0", (*_SHORTLIST, "--nproc", "0"), 2, r"--nproc '0' must be at least 1", _class_folders),
    Case("--nnodes 0", (*_SHORTLIST, "--nnodes", "0"), 2, r"--nnodes '0' must be at least 1", _class_folders),
    Case("--nproc -2", (*_SHORTLIST, "--nproc", "-2"), 2, r"--nproc '-2' must be at least 1", _class_folders),
    Case("--nnodes 2 without a rendezvous", (*_SHORTLIST, "--nnodes", "2", "--storage", "sqlite:///{tmp}/s.db"), 2,
         r"--nnodes > 1 needs --rdzv-endpoint HOST:PORT", _class_folders),
    Case("--study with spaces", (*_SHORTLIST, "--study", "my study"), 2, r"--study 'my study' must be", _class_folders),
]

# -- hoot optimize -----------------------------------------------------------------------------
def _run_without_best_pt(tmp: Path) -> None:
    (tmp / "run1").mkdir()
    (tmp / "run1" / "config.json").write_text("{}")


OPTIMIZE_CASES = [
    Case("optimize unknown run", ("optimize", "{tmp}/nope"), 2, r"run '.*nope' not found"),
    Case("optimize run without best.pt", ("optimize", "run1", "--output", "{tmp}"), 2, r"has no best\.pt",
         setup=_run_without_best_pt),
    Case("optimize bad variant", ("optimize", "{tmp}/nope", "--variants", "eager,warp"), 2, r"unknown variant 'warp'"),
    Case("optimize zero calibration images", ("optimize", "{tmp}/nope", "--calibration-images", "0"), 2,
         r"--calibration-images '0' must be at least 1"),
    Case("optimize nan calibration images", ("optimize", "{tmp}/nope", "--calibration-images", "nan"), 2,
         r"--calibration-images 'nan' is not a finite number"),
    Case("optimize zero batch", ("optimize", "{tmp}/nope", "--batch-size", "0"), 2, r"--batch-size"),
    Case("optimize threads above the cores", ("optimize", "{tmp}/nope", "--threads", "1000"), 2,
         r"--threads 1000 is more than the \d+ CPU core\(s\) this process may use; pass --threads \d+ or fewer"),
    Case("optimize threads zero", ("optimize", "{tmp}/nope", "--threads", "0"), 2, r"--threads '0' must be at least 1"),
    Case("optimize negative seed", ("optimize", "{tmp}/nope", "--seed", "-5"), 2, r"--seed '-5' must be at least 0"),
    Case("optimize --out naming a file", ("optimize", "run", "--output", "{tmp}", "--out", "{tmp}/file"), 2,
         r"--out folder .*file' is a file, not a folder", lambda tmp: (_foreign_best(tmp, "run"),
                                                                        (tmp / "run" / "bakeoff.json").unlink(),
                                                                        (tmp / "run" / "dataset.json").unlink(),
                                                                        (tmp / "file").write_text("x"))),
    Case("optimize tiny timing size", ("optimize", "{tmp}/nope", "--image-size", "8"), 2, r"--image-size 8 is too small"),
    Case("optimize zero qat epochs", ("optimize", "{tmp}/nope", "--qat-epochs", "0"), 2, r"--qat-epochs '0' must be at least 1"),
    Case("optimize zero qat lr", ("optimize", "{tmp}/nope", "--qat-lr", "0"), 2, r"--qat-lr"),
    Case("optimize nan qat lr", ("optimize", "{tmp}/nope", "--qat-lr", "nan"), 2, r"--qat-lr 'nan' is not a finite number"),
]

# -- hoot doctor / hoot explain ---------------------------------------------------------------
def _leaky(tmp: Path) -> None:
    from hoot.testing.planted import make_planted

    make_planted(tmp / "data", n_images=60, classes=3, n_exact=0, n_near=0, n_cross=0, n_flips=0, n_leaks=2)


HEALTH_CASES = [
    Case("shortlist on a test/ folder that leaks", (*_SHORTLIST, "--steps", "1"), 2,
         r"test/ folder of '.*data' shares 2 image\(s\) with training or validation .* pass --allow-leakage", _leaky),
    Case("doctor missing folder", ("doctor", "{tmp}/nope"), 2, r"data folder '.*nope' does not exist"),
    Case("doctor on a file", ("doctor", "{tmp}/f.txt"), 2, r"is a file",
         lambda tmp: (tmp / "f.txt").write_text("x")),
    Case("doctor --out inside the data", ("doctor", "{tmp}/data", "--out", "{tmp}/data/rep"), 2,
         r"--out '.*rep' is inside the data folder", _images),
    Case("doctor --near-bits 40", ("doctor", "{tmp}/data", "--near-bits", "40"), 2, r"--near-bits '40' must be at most 32",
         _images),
    Case("doctor --folds 1", ("doctor", "{tmp}/data", "--folds", "1"), 2, r"--folds '1' must be at least 2", _images),
    Case("doctor no class folders", ("doctor", "{tmp}/empty"), 2, r"has no class folders",
         lambda tmp: (tmp / "empty").mkdir()),
    Case("explain unknown run", ("explain", "{tmp}/nope", "a.png"), 2, r"run '.*nope' not found"),
    Case("explain run without best.pt", ("explain", "{tmp}/run1", "a.png"), 2, r"no best.pt", _run_without_best_pt),
    Case("explain bad method", ("explain", "{tmp}/run1", "a.png", "--method", "saliency"), 2, r"--method"),
]

CASES = CLI_CASES + ADVISE_CASES + BENCH_CASES + RUN_CASES + SEGMENTATION_CASES + SCALEOUT_CASES + OPTIMIZE_CASES + HEALTH_CASES


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_one_clear_line(case: Case, tmp_path: Path, capsys) -> None:
    (case.setup or _nothing)(tmp_path)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in case.argv]
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("hoot: error:") or line.startswith("hoot: no ")]
    assert code == case.exit_code, err
    assert "Traceback" not in err or "--debug" in case.argv, err
    assert len(lines) == 1, err
    assert re.search(case.message, lines[0]), lines[0]
