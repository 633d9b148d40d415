"""TF-free validation of the torch port.

1. Every BatchNorm's moving_mean/variance are the statistics of its input on MTT/MSD training
   audio. If features, kernel layouts, padding and layer order are right, the same statistics
   measured on our (rendered, non-training-use) audio should land close; a transposed kernel or
   wrong log scaling gives orders-of-magnitude mismatches.
2. MTT tags on labelled single-stem renders should name the instrument.
3. torch front-end == numpy reference of librosa's melspectrogram.
"""
import json
import sys

import numpy as np
import torch

sys.path.insert(0, "/tmp/musicnn_work")
import musicnn_torch as mt

torch.set_num_threads(1)
torch.manual_seed(0)
MTT_LABELS = ['guitar', 'classical', 'slow', 'techno', 'strings', 'drums', 'electronic', 'rock', 'fast', 'piano', 'ambient', 'beat', 'violin', 'vocal', 'synth', 'female', 'indian', 'opera', 'male', 'singing', 'vocals', 'no vocals', 'harpsichord', 'loud', 'quiet', 'flute', 'woman', 'male vocal', 'no vocal', 'pop', 'soft', 'sitar', 'solo', 'man', 'classic', 'choir', 'voice', 'new age', 'dance', 'male voice', 'female vocal', 'beats', 'harp', 'cello', 'no voice', 'weird', 'country', 'metal', 'female voice', 'choral']

model_name = sys.argv[1] if len(sys.argv) > 1 else "MTT_musicnn"
net = mt.Musicnn().load_tf(f"/tmp/musicnn/unpacked/musicnn/{model_name}/").eval()

d = np.load("/work/data/corpus/validation-00000.npz", allow_pickle=True)
meta = json.loads(str(d["meta"]))
audio = d["audio"].astype(np.float32) / 32768.0

# 3. front-end agreement
x0 = np.pad(audio[0], mt.N_FFT // 2, mode="reflect")
ref = mt.musicnn_logmel_numpy(audio[0])
tor = mt.TorchLogMel()(torch.from_numpy(x0)[None])[0].detach().numpy()
print("front-end: numpy(float16-cast) vs torch max abs diff %.4g, ref range %.2f..%.2f"
      % (np.abs(ref - tor).max(), ref.min(), ref.max()))

# 1. BN stats via forward hooks on every BatchNorm input
feats = np.stack([mt.musicnn_logmel_numpy(a) for a in audio])  # (32, 501, 96)
stats = {}


def hook(name):
    def f(mod, inp, out):
        x = inp[0].detach()
        dims = [0, 2, 3] if x.dim() == 4 else ([0, 2] if x.dim() == 3 else [0])
        stats[name] = (x.mean(dims).numpy(), x.var(dims).numpy(), mod)
    return f


for name, mod in net.named_modules():
    if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
        mod.register_forward_hook(hook(name))
patches = torch.from_numpy(feats[:, :187 * 2].reshape(-1, 187, 96))  # 64 patches of 3 s
with torch.no_grad():
    logits = net(patches)
print("\nBatchNorm input statistics: ours (rendered audio) vs moving stats (training audio)")
print("%-12s %6s %10s %10s %10s %10s %8s" % ("bn", "ch", "mean_ours", "mean_tf", "var_ours", "var_tf", "corr_mu"))
for name, (mu, var, mod) in stats.items():
    rm, rv = mod.running_mean.numpy(), mod.running_var.numpy()
    c = np.corrcoef(mu, rm)[0, 1] if mu.size > 1 else float("nan")
    print("%-12s %6d %10.4f %10.4f %10.4f %10.4f %8.3f" % (name, mu.size, mu.mean(), rm.mean(), var.mean(), rv.mean(), c))

# 2. tags per example (whole 8 s -> 2 patches, averaged)
probs = torch.sigmoid(logits).numpy().reshape(32, 2, 50).mean(1)
print("\nTop MTT tags on validation renders (label(s) -> tags):")
for i in range(32):
    stems = [s["label"] for s in meta[i]["stems"]]
    if len(stems) > 2:
        continue
    top = np.argsort(-probs[i])[:5]
    print("%-45s %s" % ("+".join(stems), ", ".join("%s %.2f" % (MTT_LABELS[j], probs[i, j]) for j in top)))
