"""Which training choices help on renders and on real recordings: `python -m models.ablation`.

Trains the instrument detector once per (configuration, seed) with `python -m models.train`, then
prints one markdown row per run: held-out MuseScore_General figures from its manifest and
../shared/realdev figures from models.evaluate_real. A run whose manifest is already in --out is
not trained again, so the table can be rebuilt from earlier runs. The card's ablation table was
made on one GPU with `--train-args "--steps 8000 --batch-size 256 --learning-rate 3e-3 --minutes 5"`,
eight runs side by side.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .evaluate_real import REALDEV, evaluate
from .train import TASKS, load_task_data

# name -> (what it tests, arguments of models.train beyond the common ones)
CONFIGS = {
    "A": ("songs only, light regularisation (0.1.0's recipe on features)",
          "--extra-examples 0 --mix-probability 0.25 --dropout 0.2"),
    "B": ("A + the whole extra split", "--extra-variants hits,drums,bass --mix-probability 0.25 --dropout 0.2"),
    "E": ("songs only, more mixing and dropout", "--extra-examples 0"),
    "C": ("E + the whole extra split", "--extra-variants hits,drums,bass"),
    "H": ("E + one-shots and short phrases", "--extra-variants hits"),
    "D": ("E + produced drum grooves", "--extra-variants drums"),
    "S": ("E + produced bass lines", "--extra-variants bass"),
    "N": ("E + produced drums and bass (0.2.0's recipe)", "--extra-variants drums,bass"),
    "Y": ("N + procedural synths (the default recipe)", ""),
}


def run_one(name: str, seed: int, a) -> Path:
    out = a.out / f"{name}{seed}"
    if not (out / "instrument.json").is_file():
        cmd = [sys.executable, "-m", "models.train", "instrument", "--data", str(a.data), "--seed", str(seed),
               "--out", str(out), *shlex.split(a.train_args), *shlex.split(CONFIGS[name][1])]
        with open(a.out / f"{name}{seed}.log", "w") as log:
            subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=True)
    return out / "instrument.json"


def row(name: str, seed: int, manifest_path: Path) -> str:
    m = json.loads(manifest_path.read_text())
    stems, mixes = m["metrics"]["stems"], m["metrics"]["mixes_2_to_6"]
    real = evaluate(manifest_path, REALDEV)["per_family"]
    correct = sum(v["correct"] for v in real.values())
    clips = sum(v["clips"] for v in real.values())
    cells = [f"{name} (seed {seed})", f"{stems['family']['macro_f1']:.3f} / {stems['family']['map']:.3f}",
             f"{stems['fine']['map']:.3f}", f"{mixes['family']['macro_f1']:.3f} / {mixes['family']['map']:.3f}",
             f"{correct}/{clips}"]
    cells += [f"{real[f]['correct']}/{real[f]['clips']}, {real[f]['mean_activation']:.2f}" for f in ("bass", "drums")]
    return "| " + " | ".join(cells) + " |"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="corpus folder (with the extra split)")
    p.add_argument("--out", type=Path, required=True, help="one folder per run goes here")
    p.add_argument("--configs", default="".join(CONFIGS), help="which configurations, e.g. ENC")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    p.add_argument("--train-args", default="--threads 1",
                   help="arguments of models.train shared by every run (not ones that change the corpus)")
    p.add_argument("--parallel", type=int, default=1, help="runs trained side by side")
    a = p.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    load_task_data(TASKS["instrument"], a.data, 1, workers=2)  # once, before runs share the folder
    runs = [(c, s) for c in a.configs for s in a.seeds]
    with ThreadPoolExecutor(a.parallel) as pool:
        manifests = list(pool.map(lambda cs: run_one(cs[0], cs[1], a), runs))
    print("| run | stems family F1 / mAP | stems fine mAP | mixes family F1 / mAP | realdev clips | "
          "real bass: clips, mean activation | real drums: clips, mean activation |")
    print("|---|---|---|---|---|---|---|")
    for (name, seed), path in zip(runs, manifests):
        print(row(name, seed, path))
    print()
    for name in a.configs:
        print(f"- {name}: {CONFIGS[name][0]} (`{CONFIGS[name][1] or 'defaults'}`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
