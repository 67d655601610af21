"""The README's recommendation picture, made from real runs against the tests' scripted server (prints its reason).

    python bench/recommend_figure.py            # writes docs/recommend.png

The scenario is the one tests/test_decide.py works out by hand: 20 labelled road images; a cheap model (right on
12, and in score mode most sure where it is right), a mid-priced one (18/20) and a dear one (20/20).
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    import pandas as pd

    import workbench
    from tests.fault_server import FaultServer
    from tests.test_decide import PRICE, TRUTH, make_images, script, spec

    root = Path(tempfile.mkdtemp(prefix="workbench-recommend-"))
    paths = make_images(root / "roads")
    labels = root / "labels.csv"
    pd.DataFrame({"file": [p.name for p in paths], "label": TRUTH}).to_csv(labels, index=False)
    with FaultServer() as server:
        script(server, paths)
        specs = [spec(server, m) for m in PRICE]
        db = root / "wb.db"
        generated = workbench.run_batch(root / "roads", "pothole_severity", specs, labels=labels, db=db,
                                        progress=False)
        scored = workbench.run_batch(root / "roads", "pothole_severity", specs[:1], labels=labels, db=db,
                                     mode="score", progress=False)
    rec = workbench.recommend([generated.run_id, scored.run_id], "accuracy>=0.9", db=db)
    out = REPO / "docs" / "recommend.png"
    rec.plot().savefig(out, dpi=110)
    print(rec.reason)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
