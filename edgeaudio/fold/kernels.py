"""Fold arithmetic: pure functions of tensors, no modules touched, differentiable, testable alone.

A conv followed by eval-mode batch norm is one conv: W' = W * g/s, b' = beta + (b - mean) * g/s with
s = sqrt(var + eps). Parallel depthwise convs of odd kernels summed together are one conv whose kernel is their
kernels zero-padded to the largest size and added. A stride-1 depthwise identity is a 1 at the kernel centre.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

KernelBias = tuple[Tensor, Tensor]


def fuse_conv_bn(
    weight: Tensor,
    bias: Tensor | None,
    bn_weight: Tensor,
    bn_bias: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    eps: float,
) -> KernelBias:
    """Kernel and bias of one conv equal to conv(weight, bias) followed by eval-mode batch norm."""
    scale = bn_weight / torch.sqrt(running_var + eps)
    conv_bias = torch.zeros_like(running_mean) if bias is None else bias
    fused_weight = weight * scale.reshape(-1, *([1] * (weight.dim() - 1)))
    fused_bias = bn_bias + (conv_bias - running_mean) * scale
    return fused_weight, fused_bias


def fuse_modules(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> KernelBias:
    """fuse_conv_bn for a Conv2d module followed by a BatchNorm2d module (always its eval-mode statistics)."""
    return fuse_conv_bn(conv.weight, conv.bias, bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.eps)


def pad_kernel(kernel: Tensor, size: tuple[int, int]) -> Tensor:
    """Zero-pad a (C_out, C_in, kt, kf) kernel symmetrically to (kt', kf') = size; the centre stays the centre."""
    kt, kf = kernel.shape[-2:]
    dt, df = size[0] - kt, size[1] - kf
    if dt < 0 or df < 0 or dt % 2 or df % 2:
        raise ValueError(f"cannot centre a {kt}x{kf} kernel in {size[0]}x{size[1]}")
    return F.pad(kernel, (df // 2, df // 2, dt // 2, dt // 2))


def identity_kernel(channels: int, size: tuple[int, int], like: Tensor) -> Tensor:
    """Depthwise kernel (channels, 1, kt, kf) whose stride-1, same-padded conv returns its input."""
    kernel = torch.zeros((channels, 1, *size), dtype=like.dtype, device=like.device)
    kernel[:, 0, size[0] // 2, size[1] // 2] = 1.0
    return kernel


def merge_parallel(branches: list[KernelBias], size: tuple[int, int]) -> KernelBias:
    """One kernel and bias equal to the sum of parallel same-padded convs with odd kernels."""
    weight = sum(pad_kernel(w, size) for w, _ in branches)
    bias = sum(b for _, b in branches)
    return weight, bias  # type: ignore[return-value]


def copy_into(conv: nn.Conv2d, kernel_bias: KernelBias) -> nn.Conv2d:
    """Write a folded kernel and bias into a conv created with bias=True; return it."""
    weight, bias = kernel_bias
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
    return conv


def fuse_bn_into_following_conv(weight: Tensor, bias: Tensor | None, bn: nn.modules.batchnorm._BatchNorm) -> KernelBias:
    """Kernel and bias of one conv equal to eval-mode `bn` followed by an *unpadded* conv(weight, bias).

    BN is y = x * s + t per input channel (s = g / sqrt(var + eps), t = beta - mean * s), so the conv sees
    W * s on its input axis plus a constant sum(W * t). With padding the border taps would see BN-free zeros,
    so this is exact only for convs without padding.
    """
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * scale
    shape = [1, -1] + [1] * (weight.dim() - 2)
    fused_weight = weight * scale.reshape(shape)
    constant = (weight * shift.reshape(shape)).sum(dim=tuple(range(1, weight.dim())))
    fused_bias = constant + (torch.zeros_like(constant) if bias is None else bias)
    return fused_weight, fused_bias
