"""Build the small IMDb sample shipped in imdb_rnn/sample/ from the full aclImdb_v1.tar.gz.

    python scripts/make_sample.py ../shared/data/aclImdb.tar.gz

Per split and label, reviews are sorted by token length and every k-th one is kept, so the sample is
stratified by label and length (short and very long reviews both appear). The urls_<label>.txt files
keep the lines of the chosen reviews (their movies) and blank the others. The output is a tar.gz in
the official aclImdb/ layout, byte-for-byte reproducible (fixed order, mtimes and gzip header).
"""

import argparse
import gzip
import io
import tarfile
from pathlib import Path

from imdb_rnn.data import _URLS_FILE, SAMPLE_PATH, _iter_files, _iter_review_files, tokenize

PER_LABEL = {"train": 1000, "test": 500}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archive", type=Path, help="the full aclImdb_v1.tar.gz (or extracted aclImdb/)")
    parser.add_argument("--output", type=Path, default=SAMPLE_PATH)
    args = parser.parse_args()

    groups = {}
    for split, label, review_id, text in _iter_review_files(args.archive):
        groups.setdefault((split, label), []).append((len(tokenize(text)), review_id, text))
    chosen = []
    for (split, label), reviews in sorted(groups.items()):
        reviews.sort()
        step = len(reviews) / PER_LABEL[split]
        chosen += [(split, label, *reviews[int(i * step)][1:]) for i in range(PER_LABEL[split])]

    files = {f"aclImdb/{split}/{label}/{review_id}.txt": text for split, label, review_id, text in chosen}
    for match, text in _iter_files(args.archive, (_URLS_FILE,)):
        split, label = match.groups()
        kept = {int(review_id.split("_")[0]) for s, lab, review_id, _ in chosen if (s, lab) == (split, label)}
        files[f"aclImdb/{split}/urls_{label}.txt"] = "".join(
            (line if i in kept else "") + "\n" for i, line in enumerate(text.splitlines()))

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, text in sorted(files.items()):
            payload = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(payload), 0, 0o644
            tar.addfile(info, io.BytesIO(payload))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    print(f"{args.output}: {len(chosen)} reviews, {args.output.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
