"""An independent stand-in for the official AudioRepInceptionNeXt code, for the checkpoint tests.

It imports nothing from edgeaudio: it is written from the published facts (the paper and the official code) the
way the official PySlowFast fork lays the network out (stage containers, `pathway0_*` names, a transform with a
merge mode and an inference variant), and it writes checkpoints the way the official `save_checkpoint` does. If
edgeaudio's model drifted from the official layout, these tests would catch it, because nothing here is
shared with it.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
import yaml
from torch import nn


def _bn(c):
    return nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)


class OfficialTransform(nn.Module):
    """branch2 in one of three modes: 'train' (branches), 'merge' (branches + reparam), 'inference'."""

    def __init__(self, dim_in, dim_out, dim_inner, stride, tk, fk, mode="train"):
        super().__init__()
        self.mode, self.tk, self.fk = mode, tk, fk
        self.a_head = nn.Conv2d(dim_in, dim_out, 1, stride=stride, bias=False)
        self.a_head_bn = _bn(dim_out)
        if mode in ("train", "merge"):
            for name, k in (("a", tk[0]), ("a_medium", tk[1]), ("a_small", tk[2])):
                setattr(self, name, nn.Conv2d(dim_out, dim_out, (k, 1), padding=(k // 2, 0), groups=dim_out, bias=False))
            for name in ("a_bn", "a_bn_medium", "a_bn_small", "b_bn", "b_bn_medium", "b_bn_small"):
                setattr(self, name, _bn(dim_out))
            for name, k in (("b", fk[0]), ("b_medium", fk[1]), ("b_small", fk[2])):
                setattr(self, name, nn.Conv2d(dim_out, dim_out, (1, k), padding=(0, k // 2), groups=dim_out, bias=False))
        if mode in ("merge", "inference"):
            self.a_reparam = nn.Conv2d(dim_out, dim_out, (tk[0], 1), padding=(tk[0] // 2, 0), groups=dim_out, bias=True)
            self.b_reparam = nn.Conv2d(dim_out, dim_out, (1, fk[0]), padding=(0, fk[0] // 2), groups=dim_out, bias=True)
        self.c = nn.Conv2d(dim_out, dim_inner, 1, bias=False)
        self.c_bn = _bn(dim_inner)
        self.d = nn.Conv2d(dim_inner, dim_out, 1, bias=False)
        self.d_bn = _bn(dim_out)

    def forward(self, x):
        h = F.relu(self.a_head_bn(self.a_head(x)))
        if self.mode == "train":
            y = self.a_bn(self.a(h)) + self.a_bn_medium(self.a_medium(h)) + self.a_bn_small(self.a_small(h)) + h
            y = F.relu(y)
            z = self.b_bn(self.b(y)) + self.b_bn_medium(self.b_medium(y)) + self.b_bn_small(self.b_small(y)) + y
        else:
            y = F.relu(self.a_reparam(h) + h)
            z = self.b_reparam(y) + y
        z = F.relu(z)
        return self.d_bn(self.d(F.relu(self.c_bn(self.c(z)))))

    @staticmethod
    def _fuse(conv, bn):
        std = (bn.running_var + bn.eps).sqrt()
        return conv.weight * (bn.weight / std).reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * bn.weight / std

    def merge_kernel(self):
        """The official reparameterisation: BN into each branch, 3- and 11-tap kernels padded to the large one."""
        for axis, ks in (("a", self.tk), ("b", self.fk)):
            w, b = self._fuse(getattr(self, axis), getattr(self, f"{axis}_bn"))
            for suffix, k in (("_medium", ks[1]), ("_small", ks[2])):
                wk, bk = self._fuse(getattr(self, axis + suffix), getattr(self, f"{axis}_bn{suffix}"))
                p = (ks[0] - k) // 2
                wk = F.pad(wk, [0, 0, p, p]) if axis == "a" else F.pad(wk, [p, p, 0, 0])
                w, b = w + wk, b + bk
            getattr(self, f"{axis}_reparam").weight.data = w.detach().clone()
            getattr(self, f"{axis}_reparam").bias.data = b.detach().clone()


class OfficialBlock(nn.Module):
    def __init__(self, dim_in, dim_out, dim_inner, stride, tk, fk, mode):
        super().__init__()
        if dim_in != dim_out or tuple(stride) != (1, 1):
            self.branch1 = nn.Conv2d(dim_in, dim_out, 1, stride=stride, bias=False)
            self.branch1_bn = _bn(dim_out)
        self.branch2 = OfficialTransform(dim_in, dim_out, dim_inner, stride, tk, fk, mode)

    def forward(self, x):
        short = self.branch1_bn(self.branch1(x)) if hasattr(self, "branch1") else x
        return F.relu(short + self.branch2(x))


class OfficialStage(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.n = len(blocks)
        for i, b in enumerate(blocks):
            self.add_module(f"pathway{0}_res{i}", b)

    def forward(self, xs):
        x = xs[0]
        for i in range(self.n):
            x = getattr(self, f"pathway0_res{i}")(x)
        return [x]


class OfficialStemHolder(nn.Module):
    def __init__(self, width, kernel):
        super().__init__()
        stem = nn.Module()
        stem.conv = nn.Conv2d(1, width, kernel, stride=2, padding=(kernel[0] // 2, kernel[1] // 2), bias=False)
        stem.bn = _bn(width)
        self.pathway0_stem = stem

    def forward(self, xs):
        s = self.pathway0_stem
        return [F.max_pool2d(F.relu(s.bn(s.conv(xs[0]))), 3, 2, 1)]


class OfficialHead(nn.Module):
    def __init__(self, dim, classes, pool):
        super().__init__()
        self.pool = pool
        if len(classes) == 1:
            self.projection = nn.Linear(dim, classes[0])
        else:
            self.projection_verb = nn.Linear(dim, classes[0])
            self.projection_noun = nn.Linear(dim, classes[1])

    def forward(self, xs):
        x = F.avg_pool2d(xs[0], self.pool, stride=1).permute(0, 2, 3, 1)
        heads = [self.projection] if hasattr(self, "projection") else [self.projection_verb, self.projection_noun]
        outs = []
        for proj in heads:
            y = proj(x)
            if not self.training:
                y = torch.softmax(y, dim=3)
            outs.append(y.mean([1, 2]).reshape(y.shape[0], -1))
        return outs[0] if len(outs) == 1 else tuple(outs)


class OfficialAudioRepInceptionNeXt(nn.Module):
    """The official network's layout; forward takes [x] like the official one."""

    def __init__(self, classes=(309,), frames=512, mels=128, width=64, depths=(3, 4, 6, 3), tstrides=(1, 2, 2, 2),
                 fstrides=(1, 2, 2, 2), large=21, stem=(5, 7), mode="train"):
        super().__init__()
        tk = fk = (large, min(11, large), min(3, large))
        self.s1 = OfficialStemHolder(width, stem)
        dim_in = width
        for i in range(4):
            dim = width * 2**i
            blocks = [
                OfficialBlock(dim_in if j == 0 else dim, dim, 4 * dim, (tstrides[i], fstrides[i]) if j == 0 else (1, 1), tk, fk, mode)
                for j in range(depths[i])
            ]
            self.add_module(f"s{i + 2}", OfficialStage(blocks))
            dim_in = dim
        pool = (frames // 4 // (tstrides[0] * tstrides[1] * tstrides[2] * tstrides[3]), mels // 32)
        self.head = OfficialHead(dim_in, classes, pool)
        self.cfg_values = dict(classes=list(classes), frames=frames, mels=mels, width=width, depths=depths,
                               tstrides=tstrides, fstrides=fstrides, large=large, stem=stem, mode=mode)

    def forward(self, xs):
        for s in ("s1", "s2", "s3", "s4", "s5"):
            xs = getattr(self, s)(xs)
        return self.head(xs)

    def merge_kernel(self):
        for m in self.modules():
            if isinstance(m, OfficialTransform):
                m.merge_kernel()


@torch.no_grad()
def scramble_batchnorm(model, seed):
    """Random running statistics and affine terms, d_bn included (it is zero-initialised in training)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.2)
            m.weight.copy_(torch.rand(n, generator=g) + 0.3)
            m.bias.copy_(torch.randn(n, generator=g) * 0.3)
            m.num_batches_tracked.fill_(1234)


def official_cfg_yaml(model: OfficialAudioRepInceptionNeXt, num_classes_in_cfg=None, depth=50, clip_secs=5.119) -> str:
    """A cfg dump like fvcore's CfgNode.dump() of the official config (sections and keys as official)."""
    v = model.cfg_values
    inference = v["mode"] == "inference"
    cfg = {
        "TRAIN": {"ENABLE": True, "DATASET": "vggsound", "BATCH_SIZE": 32},
        "DATA": {"INPUT_CHANNEL_NUM": [1]},
        "AUDIO_DATA": {"SAMPLING_RATE": 16000, "CLIP_SECS": clip_secs, "NUM_FRAMES": v["frames"],
                       "NUM_FREQUENCIES": v["mels"], "WINDOW_LENGTH": 20, "HOP_LENGTH": 10},
        "RESNET": {
            "ZERO_INIT_FINAL_BN": True, "WIDTH_PER_GROUP": v["width"], "NUM_GROUPS": 1, "DEPTH": depth,
            "TRANS_FUNC": "ms_threeway_dw_bottleneck_inference_transform" if inference else "ms_threeway_dw_bottleneck_transform",
            "TIME_STRIDES": [[s] for s in v["tstrides"]], "FREQUENCY_STRIDES": [[s] for s in v["fstrides"]],
            "STRIDE_1X1": False,
            "NUM_BLOCK_TEMP_KERNEL": [[d] for d in v["depths"]], "NUM_BLOCK_FREQ_KERNEL": [[d] for d in v["depths"]],
            "TEMP_KERNEL_SIZES": [[[v["stem"][0]]]] + [[[v["large"]]]] * 4,
            "FREQ_KERNEL_SIZES": [[[v["stem"][1]]]] + [[[v["large"]]]] * 4,
        },
        "BN": {"USE_PRECISE_STATS": True, "FREEZE": False, "NUM_BATCHES_PRECISE": 200},
        "SOLVER": {"BASE_LR": 0.01, "MAX_EPOCH": 50, "MOMENTUM": 0.9, "WEIGHT_DECAY": 1e-4, "OPTIMIZING_METHOD": "sgd"},
        "MODEL": {"NUM_CLASSES": list(num_classes_in_cfg or v["classes"]), "ARCH": "fast",
                  "MODEL_NAME": "AudioRepInceptionNeXt", "LOSS_FUNC": "cross_entropy", "DROPOUT_RATE": 0.5,
                  "HEAD_ACT": "softmax", "MERGE_MODE": v["mode"] == "merge"},
        "NUM_GPUS": 1, "NUM_SHARDS": 1, "RNG_SEED": 0, "OUTPUT_DIR": ".",
    }
    return yaml.safe_dump(cfg)


def official_save_checkpoint(model, path, epoch=29, cfg_text=None, with_optimizer=True):
    """The dict the official save_checkpoint writes: epoch, model_state, optimizer_state, cfg (YAML text)."""
    optimizer_state = None
    if with_optimizer:
        trained = copy.deepcopy(model).train()  # a real SGD state, without touching the saved weights
        opt = torch.optim.SGD(trained.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        with torch.enable_grad():
            out = trained([torch.randn(2, 1, model.cfg_values["frames"], model.cfg_values["mels"])])
            (out[0] if isinstance(out, tuple) else out).sum().backward()
            opt.step()
        optimizer_state = opt.state_dict()
    checkpoint = {
        "epoch": epoch,
        "model_state": copy.deepcopy(model.state_dict()),
        "optimizer_state": optimizer_state,
        "cfg": cfg_text if cfg_text is not None else official_cfg_yaml(model),
    }
    with open(path, "wb") as f:
        torch.save(checkpoint, f)
    return path


@torch.no_grad()
def realistic_statistics(model: OfficialAudioRepInceptionNeXt, seed: int, batches: int = 3, batch: int = 4):
    """Weights and batch-norm statistics like a trained network's, where float32 rounding shows.

    Depthwise kernels from N(0, var 1/k) (each kernel's gain near one, so the 21-tap taps matter), the head's
    weight from N(0, std 2/sqrt(in)) and its bias from U(-0.5, 0.5) (peaked outputs). Batch norms first see
    log-mel-like inputs (normal, mean -4, std 2) as training would, then drift as a trained network's do:
    running_mean += U(-0.5, 0.5) * sqrt(running_var), running_var *= U(0.5, 2), gamma U(0.5, 1.5), beta
    U(-0.2, 0.2).
    """
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels:
            k = m.weight.shape[-2] * m.weight.shape[-1]
            m.weight.copy_(torch.randn(m.weight.shape, generator=g) / k**0.5)
        elif isinstance(m, nn.Linear):
            m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 2 / m.in_features**0.5)
            m.bias.copy_(torch.rand(m.bias.shape, generator=g) - 0.5)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average over the calibration batches
    frames, mels = model.cfg_values["frames"], model.cfg_values["mels"]
    model.train()
    for _ in range(batches):
        model([torch.randn(batch, 1, frames, mels, generator=g) * 2 - 4])
    model.eval()
    for bn in bns:
        n = bn.num_features
        bn.momentum = 0.1
        bn.running_mean.add_((torch.rand(n, generator=g) - 0.5) * bn.running_var.sqrt())
        bn.running_var.mul_(torch.rand(n, generator=g) * 1.5 + 0.5)
        bn.weight.copy_(torch.rand(n, generator=g) + 0.5)
        bn.bias.copy_((torch.rand(n, generator=g) - 0.5) * 0.4)
        bn.num_batches_tracked.fill_(20000)
    if model.cfg_values["mode"] == "merge":
        model.merge_kernel()
    return model


# Sizes of the hard checkpoints: a small one (whose cfg keeps VGG-Sound's CLIP_SECS 5.119 with 256 frames, an
# inconsistent AUDIO_DATA as a user's edited config has) and the full VGG-Sound network.
HARD_SIZES = {
    "small": dict(classes=(10,), frames=256, mels=128, width=16),
    "vggsound": dict(classes=(309,), frames=512, mels=128, width=64),
}


def hard_checkpoint(path, size: str = "small", seed: int = 0, mode: str = "train", clip_secs: float = 5.119, **sizes):
    """An official-format checkpoint with realistic statistics (see realistic_statistics), written as the official
    save_checkpoint writes it; `sizes` override HARD_SIZES[size]; returns the path."""
    torch.manual_seed(seed)
    model = OfficialAudioRepInceptionNeXt(**{**HARD_SIZES[size], **sizes}, mode=mode)
    realistic_statistics(model, seed)
    return official_save_checkpoint(model, path, cfg_text=official_cfg_yaml(model, clip_secs=clip_secs), with_optimizer=False)
