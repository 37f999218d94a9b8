"""Read and check the detection layouts users already have, into one typed record.

- COCO json: `annotations.json` beside the images (or any file given with --annotations);
  `file_name` is resolved against the json's folder, then its `images/` subfolder.
- YOLO: `images/`, `labels/<same stem>.txt` with normalised `class cx cy w h`, class names in
  `data.yaml` (`names:` as a list or an index map). Images under `images/train|val|test/` keep
  that split.

Stated decisions (each counted and logged, never silent):
- crowd annotations (`iscrowd: 1`) are dropped: COCO's evaluation ignores them and
  torchvision's detectors cannot train on them;
- images without boxes are kept as background images (they teach "nothing here");
- a box partly outside its image is clipped to it; one wholly outside is dropped;
- a box of zero width or height (after clipping) is dropped.
Bad input is a one-line HootError naming the file and the fix: a json that is not COCO, an
unknown category id, a box with negative width or height, a YOLO line without 5 fields, a
data.yaml naming fewer classes than the labels use, an image the annotations name that is missing.

Boxes are float32 [N, 4] xyxy in pixels; labels int64 [N] are hoot's class indices 0..K-1
(COCO category ids are mapped in sorted order; a model that reserves 0 for background adds 1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import yaml

from hoot.advisor.dataset_scan import SPLIT_ALIASES, is_image_name, probe_header, walk_images
from hoot.advisor.errors import HootError
from hoot.trainer.data.splits import stratified_split3

COCO_FILE = "annotations.json"
YOLO_NAMES_FILES = ("data.yaml", "data.yml")
BACKGROUND_STRATUM = -1


@dataclass
class BoxedImage:
    """One image and its boxes (xyxy pixels, float32 [N,4]) and class indices (int64 [N])."""

    path: str
    width: int
    height: int
    boxes: np.ndarray
    labels: np.ndarray
    given_split: str | None = None  # train | val | test when the layout says so

    @property
    def is_background(self) -> bool:
        return len(self.labels) == 0


@dataclass
class DropCounts:
    """What the stated decisions removed or changed (logged with the scan)."""

    crowd_dropped: int = 0
    background_images: int = 0
    boxes_clipped: int = 0
    outside_dropped: int = 0
    degenerate_dropped: int = 0

    def log_lines(self) -> list[str]:
        lines = []
        if self.crowd_dropped:
            lines.append(f"{self.crowd_dropped} crowd annotation(s) dropped (iscrowd=1: COCO's evaluation ignores them)")
        if self.background_images:
            lines.append(f"{self.background_images} image(s) without boxes kept as background images")
        if self.boxes_clipped:
            lines.append(f"{self.boxes_clipped} box(es) partly outside their image clipped to it")
        if self.outside_dropped:
            lines.append(f"{self.outside_dropped} box(es) wholly outside their image dropped")
        if self.degenerate_dropped:
            lines.append(f"{self.degenerate_dropped} box(es) of zero width or height dropped")
        return lines


@dataclass
class DetectionData:
    """A detection dataset as read: its layout, class names and images with boxes."""

    root: str
    layout: str  # coco | yolo
    classes: list[str]
    images: list[BoxedImage]
    counts: DropCounts = field(default_factory=DropCounts)
    source: str = ""  # the annotations file or data.yaml read

    @property
    def num_boxes(self) -> int:
        return int(sum(len(im.labels) for im in self.images))


def detection_layouts(root: str | Path) -> list[str]:
    """Which detection layouts `root` looks like ('coco', 'yolo'); `--task auto` asks this."""
    root = Path(root)
    found = []
    if (root / COCO_FILE).is_file():
        found.append("coco")
    if (root / "images").is_dir() and (root / "labels").is_dir() and (
            any((root / n).is_file() for n in YOLO_NAMES_FILES) or any((root / "labels").rglob("*.txt"))):
        found.append("yolo")
    return found


def read_detection(root: str | Path, annotations: str | Path | None = None) -> DetectionData:
    """Read `root` as COCO (`annotations` or root/annotations.json) or YOLO; one error if neither."""
    root = Path(root)
    if annotations is not None:
        return read_coco(root, annotations)
    layouts = detection_layouts(root)
    if len(layouts) > 1:
        raise HootError(f"'{root}' holds both a COCO {COCO_FILE} and a YOLO images/ + labels/ layout: "
                        f"pass --annotations FILE to read COCO, or move one of them away")
    if layouts == ["coco"]:
        return read_coco(root)
    if layouts == ["yolo"]:
        return read_yolo(root)
    raise HootError(f"'{root}' is not a detection layout: put COCO boxes in {root / COCO_FILE} (or pass --annotations FILE), "
                    "or use the YOLO layout images/ + labels/*.txt + data.yaml")


# ---------------------------------------------------------------- boxes


def _fit_boxes(xyxy: np.ndarray, width: int, height: int, counts: DropCounts) -> np.ndarray:
    """Clip to the image and return the mask of boxes kept (counts what was clipped or dropped)."""
    if len(xyxy) == 0:
        return np.zeros(0, dtype=bool)
    outside = (xyxy[:, 0] >= width) | (xyxy[:, 1] >= height) | (xyxy[:, 2] <= 0) | (xyxy[:, 3] <= 0)
    degenerate = ((xyxy[:, 2] - xyxy[:, 0]) <= 0) | ((xyxy[:, 3] - xyxy[:, 1]) <= 0)
    clipped = xyxy.copy()
    clipped[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width)
    clipped[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height)
    changed = np.any(clipped != xyxy, axis=1) & ~outside & ~degenerate
    counts.outside_dropped += int((outside & ~degenerate).sum())
    counts.degenerate_dropped += int(degenerate.sum())
    counts.boxes_clipped += int(changed.sum())
    xyxy[:] = clipped
    return ~outside & ~degenerate


def _image_record(path: Path, size: tuple[int, int] | None, xyxy: list[list[float]], labels: list[int],
                  counts: DropCounts, given_split: str | None = None) -> BoxedImage:
    if size is None:
        probed = probe_header(path)
        if isinstance(probed, str):
            raise HootError(f"image '{path}' cannot be read ({probed}): replace it or remove it and its boxes")
        size = probed
    width, height = size
    boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    keep = _fit_boxes(boxes, width, height, counts)
    rec = BoxedImage(str(path), int(width), int(height), boxes[keep], np.asarray(labels, dtype=np.int64)[keep], given_split)
    counts.background_images += int(rec.is_background)
    return rec


# ---------------------------------------------------------------- COCO


def _not_coco(path: Path, why: str) -> HootError:
    return HootError(f"'{path}' is not a COCO detection file ({why}): it needs 'images', 'annotations' and "
                     "'categories' lists as COCO's instances_*.json has them")


def _load_coco_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise HootError(f"annotations file '{path}' does not exist: give the COCO json's path with --annotations")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _not_coco(path, f"not JSON: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise _not_coco(path, "the top level is not an object")
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            raise _not_coco(path, f"no '{key}' list")
    return doc


def _coco_image_path(bases: tuple[Path, ...], file_name: str) -> Path:
    """Where a COCO `file_name` lives: the data folder first (COCO's own layout keeps train2017/ and
    annotations/ apart), then beside the json, each with an images/ folder; None-found: the first."""
    for base in bases:
        for folder in (base, base / "images"):
            if (folder / file_name).is_file():
                return folder / file_name
    return bases[0] / file_name


def read_coco(root: str | Path, annotations: str | Path | None = None) -> DetectionData:
    """COCO json into a DetectionData (category ids mapped to 0..K-1 in sorted id order)."""
    root = Path(root)
    path = Path(annotations) if annotations is not None else root / COCO_FILE
    doc = _load_coco_json(path)
    try:
        categories = sorted(((int(c["id"]), str(c["name"])) for c in doc["categories"]), key=lambda t: t[0])
        images = {int(im["id"]): im for im in doc["images"]}
        anns = [(int(a["image_id"]), int(a["category_id"]), a["bbox"], int(a.get("iscrowd", 0)))
                for a in doc["annotations"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise _not_coco(path, f"an entry lacks {exc}") from None
    if not categories:
        raise HootError(f"'{path}' names no categories: add a 'categories' entry per class")
    index_of = {cid: k for k, (cid, _) in enumerate(categories)}
    counts = DropCounts()
    per_image: dict[int, tuple[list[list[float]], list[int]]] = {i: ([], []) for i in images}
    for image_id, category_id, bbox, crowd in anns:
        if category_id not in index_of:
            raise HootError(f"'{path}': an annotation uses category id {category_id}, which 'categories' does not "
                            f"list: add it to 'categories' or remove its annotations")
        if image_id not in images:
            raise HootError(f"'{path}': an annotation names image id {image_id}, which 'images' does not list: "
                            f"add the image or remove its annotations")
        if not (isinstance(bbox, list) and len(bbox) == 4):
            raise _not_coco(path, f"bbox {bbox!r} of image id {image_id} is not [x, y, width, height]")
        x, y, w, h = (float(v) for v in bbox)
        if w < 0 or h < 0:
            raise HootError(f"'{path}': a box of image id {image_id} has negative width or height ({bbox}); COCO boxes "
                            "are [x, y, width, height] with width, height >= 0: fix the box")
        if crowd:
            counts.crowd_dropped += 1
            continue
        per_image[image_id][0].append([x, y, x + w, y + h])
        per_image[image_id][1].append(index_of[category_id])
    records = []
    for image_id, im in sorted(images.items()):
        bases = tuple(dict.fromkeys((root, path.parent)))
        file_path = _coco_image_path(bases, str(im.get("file_name", "")))
        if not file_path.is_file():
            where = " or ".join(str(b) for b in bases)
            raise HootError(f"'{path}' names image '{im.get('file_name')}', which is not in {where} (or an images/ "
                            "folder there): add the image or remove its entry")
        size = (int(im["width"]), int(im["height"])) if im.get("width") and im.get("height") else None
        boxes, labels = per_image[image_id]
        records.append(_image_record(file_path, size, boxes, labels, counts))
    return DetectionData(str(root), "coco", [n for _, n in categories], records, counts, str(path))


# ---------------------------------------------------------------- YOLO


def _yolo_names(root: Path) -> tuple[list[str], Path]:
    path = next((root / n for n in YOLO_NAMES_FILES if (root / n).is_file()), None)
    if path is None:
        raise HootError(f"'{root}' has images/ and labels/ but no data.yaml: add data.yaml with 'names:' listing the classes")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise HootError(f"'{path}' is not YAML ({type(exc).__name__}): write 'names:' as a list of class names") from None
    names = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, dict):
        try:
            keys = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            keys = []
        if keys != list(range(len(names))):
            raise HootError(f"'{path}': 'names' must map 0..{len(names) - 1} to class names: renumber them")
        names = [str(names[k] if k in names else names[str(k)]) for k in keys]
    if not isinstance(names, list) or not names:
        raise HootError(f"'{path}' has no 'names:' list: add the class names, one per class index")
    return [str(n) for n in names], path


def _read_yolo_labels(txt: Path, width: int, height: int) -> tuple[list[list[float]], list[int]]:
    boxes, labels = [], []
    for lineno, line in enumerate(txt.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 5:
            raise HootError(f"'{txt}' line {lineno} has {len(fields)} fields; YOLO boxes are 5: "
                            "'class cx cy w h' (normalised 0-1): fix the line")
        try:
            c = int(fields[0])
            cx, cy, w, h = (float(v) for v in fields[1:])
        except ValueError:
            raise HootError(f"'{txt}' line {lineno} is not 'class cx cy w h' numbers: fix the line") from None
        if c < 0:
            raise HootError(f"'{txt}' line {lineno} has class {c}; YOLO classes are 0..N-1: fix the line")
        if w < 0 or h < 0:
            raise HootError(f"'{txt}' line {lineno} has a negative width or height: fix the box")
        boxes.append([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height])
        labels.append(c)
    return boxes, labels


def read_yolo(root: str | Path) -> DetectionData:
    """YOLO images/ + labels/ + data.yaml into a DetectionData."""
    root = Path(root)
    names, names_path = _yolo_names(root)
    images_dir, labels_dir = root / "images", root / "labels"
    counts = DropCounts()
    records = []
    for file in sorted(walk_images(images_dir)):
        path = Path(file)
        rel = path.relative_to(images_dir)
        first = rel.parts[0].lower() if len(rel.parts) > 1 else None
        given = next((k for k, aliases in SPLIT_ALIASES.items() if first in aliases), None)
        probed = probe_header(path)
        if isinstance(probed, str):
            raise HootError(f"image '{path}' cannot be read ({probed}): replace it or remove it and its label file")
        txt = labels_dir / rel.with_suffix(".txt")
        boxes, labels = _read_yolo_labels(txt, *probed) if txt.is_file() else ([], [])
        if labels and max(labels) >= len(names):
            raise HootError(f"'{names_path}' names {len(names)} classes but '{txt}' uses class {max(labels)}: "
                            f"add the missing names to data.yaml")
        records.append(_image_record(path, probed, boxes, labels, counts, given))
    if not records:
        raise HootError(f"'{images_dir}' holds no images: put the images there, their boxes in labels/")
    orphans = [p for p in labels_dir.rglob("*.txt")
               if not any(is_image_name(q.name) for q in (images_dir / p.relative_to(labels_dir)).parent.glob(p.stem + ".*"))]
    if orphans:
        raise HootError(f"label file '{orphans[0]}' has no image in {images_dir}: add the image or remove the label file")
    return DetectionData(str(root), "yolo", names, records, counts, str(names_path))


# ---------------------------------------------------------------- split


def stratum(image: BoxedImage, class_counts: np.ndarray) -> int:
    """The class an image is stratified by: its rarest class in the dataset (background: its own)."""
    if image.is_background:
        return BACKGROUND_STRATUM
    present = np.unique(image.labels)
    return int(present[np.argmin(class_counts[present])])


def split_detection(data: DetectionData, val_fraction: float, test_fraction: float, seed: int,
                    grouper: Callable[[list[str]], list[int]] | None = None
                    ) -> tuple[list[BoxedImage], list[BoxedImage], list[BoxedImage]]:
    """(train, val, test): the layout's own split where it names one, else a seeded split stratified
    by each image's rarest class (so rare classes reach validation and test); `grouper` (hoot
    doctor's near-copy groups) keeps each group of copies on one side."""
    given = {s: [im for im in data.images if im.given_split == s] for s in ("train", "val", "test")}
    pool = [im for im in data.images if im.given_split in (None, "train")]
    draw_val, draw_test = not given["val"], not given["test"]
    counts = np.bincount(np.concatenate([im.labels for im in data.images] + [np.zeros(0, np.int64)]),
                         minlength=len(data.classes))
    strata = [stratum(im, counts) for im in pool]
    groups = grouper([im.path for im in pool]) if grouper is not None and (draw_val or draw_test) else None
    tr, va, te = stratified_split3(strata, val_fraction if draw_val else 0.0, test_fraction if draw_test else 0.0, seed,
                                   groups)
    train = [pool[i] for i in tr]
    val = [pool[i] for i in va] if draw_val else given["val"]
    test = [pool[i] for i in te] if draw_test else given["test"]
    if not train or not val or not test:
        raise HootError(f"'{data.root}' has {len(data.images)} image(s): too few for training, validation and test "
                        "images: add images (a few per class at least)")
    return train, val, test


def class_box_counts(images: Sequence[BoxedImage], num_classes: int) -> list[int]:
    """Boxes per class (for the scan's log and the split's check)."""
    if not images:
        return [0] * num_classes
    return np.bincount(np.concatenate([im.labels for im in images]), minlength=num_classes).tolist()
