"""A faithful re-implementation of the reference ECHO extraction loop (the benchmark baseline).

This is how the reference implementation extracts features, written with
torch's own building blocks so that it is obviously not a strawman:

* one signal at a time; the whole signal's spectrogram is computed at once;
* chunks of 2000 frames processed one after another (the last one made of the
  LAST 2000 frames when the length is not a multiple);
* all frequency bands of a chunk go through the encoder as one batch;
* the patch projection is an ``nn.Conv2d`` and the encoder is torch's own
  ``nn.TransformerEncoder`` of ``nn.TransformerEncoderLayer(batch_first=True,
  norm_first=False, activation="gelu", layer_norm_eps=1e-6, dropout=0)`` (so
  in eval mode under ``torch.inference_mode`` torch uses its fused "fast path"
  kernel for every layer), followed by the final ``nn.LayerNorm``;
* every token goes through every layer and the final norm, because the
  reference's ``extract_features`` returns both the utterance vector (CLS
  outputs) and the segment matrix (patch-token outputs).

The module's parameter names map 1:1 to the published checkpoint's keys, so
:func:`ReferenceEcho.from_encoder` copies the weights of an
:class:`sklearn_echo.echo.model.EchoEncoder` with ``load_state_dict(strict=True)``.
:func:`check_against_fixture` shows the loop reproduces the reference outputs
stored in ``../shared/fixtures/echo_reference``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

FIXTURE_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "echo_reference"


class _PatchEmbed(nn.Module):
    def __init__(self, dim, band_width, patch_width):
        super().__init__()
        self.proj = nn.Conv2d(1, dim, (band_width, patch_width), stride=(band_width, patch_width))


class ReferenceEcho(nn.Module):
    """ECHO encoder built from torch's stock modules, run one signal at a time."""

    def __init__(self, dim, depth, num_heads, ffn_dim, band_width=32, patch_width=16,
                 max_patches=125, eps=1e-6):
        super().__init__()
        self.dim, self.band_width, self.patch_width = dim, band_width, patch_width
        self.chunk_frames = max_patches * patch_width
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, max_patches + 1, dim))
        self.patch_embed = _PatchEmbed(dim, band_width, patch_width)
        layer = nn.TransformerEncoderLayer(
            dim, num_heads, dim_feedforward=ffn_dim, dropout=0.0, activation="gelu",
            layer_norm_eps=eps, batch_first=True, norm_first=False,
        )
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim, eps=eps)

    @classmethod
    def from_encoder(cls, encoder) -> "ReferenceEcho":
        """Same architecture and weights as an ``EchoEncoder`` (float32, eval mode)."""
        c = encoder.config
        ref = cls(c.embed_dim, c.depth, c.num_heads, c.ffn_dim, c.band_width,
                  c.patch_width, c.max_patches, c.eps)
        state = {k: v.detach().float().cpu() for k, v in encoder.state_dict().items()}
        ref.load_state_dict(state, strict=True)
        return ref.eval().requires_grad_(False)

    # -- the reference steps ---------------------------------------------------------
    @classmethod
    def spectrogram(cls, x: torch.Tensor, sr: float) -> torch.Tensor:
        return cls.log_magnitude(x - x.mean(), sr)

    @staticmethod
    def log_magnitude(x: torch.Tensor, sr: float) -> torch.Tensor:
        """The normalised log-magnitude STFT of a signal whose mean is already removed."""
        n_fft, hop = int(math.floor(0.025 * sr)), int(math.floor(0.010 * sr))
        window = torch.hann_window(n_fft, periodic=True, device=x.device)
        spec = torch.stft(x, n_fft=n_fft, hop_length=hop, win_length=n_fft,
                          window=window, center=False,
                          onesided=True, return_complex=True).abs()
        return (torch.log(spec + 1e-9) + 5.874158) / (2 * 5.223174)

    def freq_encoding(self, n_bins: int, n_fft: int, sr: float) -> torch.Tensor:
        bw, d = self.band_width, self.dim
        n_bands = max(1, math.ceil(n_bins / bw))
        pe = torch.zeros(n_bands, d, device=self.cls_token.device)
        w = torch.exp(torch.arange(0, d, 2, dtype=torch.float32, device=pe.device)
                      * (-math.log(10000.0) / d))
        for b in range(n_bands):
            e = min(bw * b + bw, n_bins)
            p = ((bw * b + e - 1) / 2.0) * sr / n_fft / (sr / 2.0)
            pe[b, 0::2] = torch.sin(25.0 * p * w)
            pe[b, 1::2] = torch.cos(25.0 * p * w)
        return pe

    @staticmethod
    def band_images(chunk: torch.Tensor, bw: int, pw: int) -> torch.Tensor:
        """One chunk ``(F, Tc)`` cut into bands of ``bw`` bins, ``(B, 1, bw, Tc)`` with the
        frames zero-padded to whole patches of ``pw``: the patch projection's input."""
        f, t = chunk.shape
        bands = []
        for start in range(0, f, bw):
            band = chunk[start : start + bw]
            if band.shape[0] < bw:  # zero-pad the last band on its low-index side
                band = torch.cat([band.new_zeros(bw - band.shape[0], t), band], dim=0)
            bands.append(band)
        x = torch.stack(bands)[:, None]  # (B, 1, 32, Tc)
        pad = (-t) % pw
        if pad:
            x = nn.functional.pad(x, (0, pad))
        return x

    def encode_chunk(self, chunk: torch.Tensor, pe: torch.Tensor):
        """One chunk ``(F, Tc)``: all its bands as one batch. Returns (cls (B, D), tokens (B, P, D))."""
        x = self.band_images(chunk, self.band_width, self.patch_width)
        tokens = self.patch_embed.proj(x).flatten(2).transpose(1, 2)  # (B, P, D)
        p = tokens.shape[1]
        tokens = tokens + self.pos_embed[:, 1 : 1 + p] + pe[:, None]
        cls = self.cls_token.expand(tokens.shape[0], -1, -1) + pe[:, None]
        y = self.norm(self.encoder(torch.cat([cls, tokens], dim=1)))
        return y[:, 0], y[:, 1:]

    @torch.inference_mode()
    def extract_features(self, signal: np.ndarray, sr: float):
        """Utterance vector ``(B*D,)`` and segment matrix ``(P_total, B*D)`` of one mono signal."""
        x = torch.as_tensor(np.ascontiguousarray(signal, dtype=np.float32))
        x = x.to(self.cls_token.device)
        spec = self.spectrogram(x, sr)
        n_fft = int(math.floor(0.025 * sr))
        pe = self.freq_encoding(spec.shape[0], n_fft, sr)
        t, cf = spec.shape[1], self.chunk_frames
        if t <= cf:
            chunks = [spec]
        else:
            chunks = [spec[:, i * cf : (i + 1) * cf] for i in range(t // cf)]
            if t % cf:
                chunks.append(spec[:, -cf:])
        utts, segs = [], []
        for chunk in chunks:
            cls, tokens = self.encode_chunk(chunk, pe)
            utts.append(cls.reshape(-1))
            segs.append(tokens.permute(1, 0, 2).reshape(tokens.shape[1], -1))
        return torch.stack(utts).mean(0).cpu().numpy(), torch.cat(segs).cpu().numpy()


def check_against_fixture(fixture_dir: Path = FIXTURE_DIR) -> float:
    """Max abs error of the reference loop on the twelve fixture signals (tiny checkpoint)."""
    from sklearn_echo.echo.checkpoint import load_encoder

    fixture_dir = Path(fixture_dir).resolve()
    ref = ReferenceEcho.from_encoder(load_encoder(fixture_dir / "tiny_echo.safetensors"))
    signals = np.load(fixture_dir / "signals.npz")
    expected = np.load(fixture_dir / "expected.npz")
    cases = json.loads((fixture_dir / "cases.json").read_text())["cases"]
    worst = 0.0
    for i, case in enumerate(cases):
        k = case["key"]
        utt, seg = ref.extract_features(signals[f"signal_{k}"], float(signals["sample_rates"][i]))
        if utt.shape != expected[f"utterance_{k}"].shape or seg.shape != expected[f"segments_{k}"].shape:
            raise AssertionError(f"case {case['name']}: output shapes differ from the fixture")
        worst = max(worst, float(np.abs(utt - expected[f"utterance_{k}"]).max()),
                    float(np.abs(seg - expected[f"segments_{k}"]).max()))
    return worst


if __name__ == "__main__":
    print(f"reference loop vs fixture: max abs error {check_against_fixture():.2e}")
