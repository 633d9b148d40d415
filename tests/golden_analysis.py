"""The golden analysis of the bundled demo session: `python tests/golden_analysis.py` rewrites it.

Rerun after shipping a new model (the golden test names this command when it fails because the
models changed).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden" / "demo_analysis.json"
VOLATILE = ("source", "stemscope")  # where the checkout lives and the app's version


def demo_analysis_json() -> dict:
    """analysis.json of the demo session, computed now (no cache), without the volatile fields."""
    from plugin.analysis import analysis_json, analyze
    from plugin.demo import demo_session_path
    from plugin.session import load_session

    session = load_session(demo_session_path())
    done = [e.analysis for e in analyze(session, device="cpu", use_cache=False) if e.kind == "done"][0]
    doc = analysis_json(done)
    for key in VOLATILE:
        doc.pop(key)
    return doc


if __name__ == "__main__":
    sys.path.insert(0, str(GOLDEN.parents[2]))
    os.environ["STEMSCOPE_CACHE_DIR"] = tempfile.mkdtemp(prefix="stemscope-golden-")
    GOLDEN.write_text(json.dumps(demo_analysis_json(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}")
