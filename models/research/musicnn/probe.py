"""Frozen-musicnn frame-level probe: does the pretrained representation, with only a small head
trained on OUR renders (/work/data/corpus), hear real recordings better than the shipped model?

  stage feats : musicnn (MTT or MSD) front+mid-end features (753-d @16 ms), mean-pooled to 80 ms
                frames (= shipped instrument hop), for N train files + all validation files.
  stage train : linear and MLP heads (43 labels, soft targets = active share of 8 label frames),
                thresholds calibrated on even validation examples (best F1 on a 0.02 grid),
                render test metrics on odd ones, then real-recording clip accuracy with the
                exact rule of models/evaluate_real.py (realdev and sonic-pi sets).
Real recordings are only measured.
"""
import glob
import json
import sys
import time

import numpy as np
import torch

sys.path.insert(0, "/tmp/musicnn_work")
sys.path.insert(0, "/work/main")
import musicnn_torch as mt

torch.set_num_threads(1)
W = "/tmp/musicnn_work/"
POOL = 5  # 5 x 16 ms = 80 ms


def net_for(model):
    """'MTT_musicnn' or 'MTT_musicnn@t,f,r,up' (a compressed variant from compress.py, no retraining)."""
    name, _, spec = model.partition("@")
    if name == "RANDOM":  # control: same architecture, untrained weights
        torch.manual_seed(0)
        return mt.Musicnn(with_backend=False).eval()
    base = mt.Musicnn(with_backend=False).load_tf(f"/tmp/musicnn/unpacked/musicnn/{name}/").eval()
    if not spec:
        return base
    import compress
    t, f, r, up = map(int, spec.split(","))
    c = compress.Compressed(base, t, f, r, backend=False, up=up).eval()
    c.forward = c.features
    return c


@torch.no_grad()
def clip_feats(net, audio):
    """(frames80, 753) for mono float audio at 16 kHz (any length)."""
    audio = np.pad(audio, (0, max(0, 1280 - len(audio))))
    lm = torch.from_numpy(mt.musicnn_logmel_numpy(audio))[None]
    f = net(lm)[0]  # (753, T)
    n = min(f.shape[1], lm.shape[1]) // POOL
    return f[:, :n * POOL].reshape(753, n, POOL).mean(2).T.numpy()


def stage_feats(model, n_train_files):
    net = net_for(model)
    for split, files in (("train", sorted(glob.glob("/work/data/corpus/train-*.npz"))[:n_train_files]),
                         ("validation", sorted(glob.glob("/work/data/corpus/validation-*.npz")))):
        X, Y, IDX = [], [], []
        t0 = time.time()
        for fn in files:
            d = np.load(fn, allow_pickle=True)
            meta = json.loads(str(d["meta"]))
            audio = d["audio"].astype(np.float32) / 32768.0
            lab = np.concatenate([d["family"], d["fine"]], axis=2).astype(np.float32)  # (32, 800, 43)
            for i in range(len(audio)):
                x = clip_feats(net, audio[i])[:100]
                y = lab[i].reshape(100, 8, 43).mean(1)[:len(x)]
                X.append(x.astype(np.float16)); Y.append(y.astype(np.float16))
                IDX.append((meta[i]["index"], int(meta[i]["is_mix"])))
        np.savez(W + f"feats_{model}_{split}.npz", X=np.stack(X), Y=np.stack(Y), idx=np.array(IDX))
        print(split, len(X), "examples", "%.0fs" % (time.time() - t0), flush=True)


def best_thresholds(p, y):
    th = np.zeros(p.shape[1])
    grid = np.arange(0.02, 1.0, 0.02)
    for k in range(p.shape[1]):
        yk = y[:, k] >= 0.5
        best = -1
        for t in grid:
            pk = p[:, k] >= t
            tp = (pk & yk).sum()
            f1 = 2 * tp / max(1, pk.sum() + yk.sum())
            if f1 > best:
                best, th[k] = f1, t
    return th


def f1s(p, y, th):
    out = []
    for k in range(p.shape[1]):
        yk, pk = y[:, k] >= 0.5, p[:, k] >= th[k]
        if yk.sum() == 0:
            continue
        out.append(2 * (pk & yk).sum() / max(1, pk.sum() + yk.sum()))
    return float(np.mean(out))


def real_sets():
    from models.evaluate_real import load_mono, sonic_pi_labels, SONIC_PI_DIR
    from pathlib import Path
    rd = Path("/work/shared/realdev")
    sets = {"realdev": (rd, json.loads((rd / "labels.json").read_text()))}
    if SONIC_PI_DIR.is_dir():
        sets["sonic-pi"] = (SONIC_PI_DIR, sonic_pi_labels())
    return sets, load_mono


def stage_train(model, epochs=30):
    tr = np.load(W + f"feats_{model}_train.npz")
    va = np.load(W + f"feats_{model}_validation.npz")
    Xtr = tr["X"].astype(np.float32).reshape(-1, 753)
    Ytr = tr["Y"].astype(np.float32).reshape(-1, 43)
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-4
    even = va["idx"][:, 0] % 2 == 0
    odd_stems = (va["idx"][:, 0] % 2 == 1) & (va["idx"][:, 1] == 0)
    Xva = va["X"].astype(np.float32)
    Yva = va["Y"].astype(np.float32)
    sets, load_mono = real_sets()
    net = net_for(model)
    real_feats = {name: {f: (fam, clip_feats(net, load_mono(folder / f, 16000))) for f, fam in truth.items()}
                  for name, (folder, truth) in sets.items()}
    families = json.load(open("/work/data/corpus/train.json"))["families"]
    results = {}
    for head_name in ("linear", "mlp256"):
        torch.manual_seed(0)
        if head_name == "linear":
            head = torch.nn.Linear(753, 43)
        else:
            head = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(753, 256), torch.nn.ReLU(),
                                       torch.nn.Dropout(0.2), torch.nn.Linear(256, 43))
        opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-4)
        X = torch.from_numpy((Xtr - mu) / sd)
        Y = torch.from_numpy(Ytr)
        t0 = time.time()
        for ep in range(epochs):
            head.train()
            perm = torch.randperm(len(X))
            for b in range(0, len(X), 512):
                i = perm[b:b + 512]
                loss = torch.nn.functional.binary_cross_entropy_with_logits(head(X[i]), Y[i])
                opt.zero_grad(); loss.backward(); opt.step()
        head.eval()
        pred = lambda x: torch.sigmoid(head(torch.from_numpy((x - mu) / sd))).detach().numpy()
        pv = pred(Xva.reshape(-1, 753)).reshape(len(Xva), -1, 43)
        th = best_thresholds(pv[even].reshape(-1, 43), Yva[even].reshape(-1, 43))
        pt, yt = pv[odd_stems].reshape(-1, 43), Yva[odd_stems].reshape(-1, 43)
        r = {"train_s": round(time.time() - t0),
             "stems_family_macroF1": round(f1s(pt[:, :12], yt[:, :12], th[:12]), 3),
             "stems_fine_macroF1": round(f1s(pt[:, 12:], yt[:, 12:], th[12:]), 3)}
        for name, feats in real_feats.items():
            correct, n, rec = 0, 0, []
            per = {}
            for f, (fam, x) in feats.items():
                act = pred(x)[:, :12]
                k = families.index(fam)
                ok = int(np.argmax(act.mean(0)) == k)
                correct += ok; n += 1
                rec.append(float((act[:, k] >= th[k]).mean()))
                per.setdefault(fam, [0, 0]); per[fam][0] += ok; per[fam][1] += 1
            r[name] = {"clip_acc": round(correct / n, 3), "frame_recall": round(float(np.mean(rec)), 2),
                       "per_family": {k: f"{a}/{b}" for k, (a, b) in per.items()}}
        results[head_name] = r
        print(model, head_name, json.dumps(r), flush=True)
    json.dump(results, open(W + f"probe_{model}.json", "w"), indent=1)


if __name__ == "__main__":
    stage, model = sys.argv[1], sys.argv[2]
    if stage == "feats":
        stage_feats(model, int(sys.argv[3]))
    else:
        stage_train(model)
