"""Resolve a model spec (preset or pasted config) into the numbers the estimators need."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from ml_expert_mcp.knowledge import model_catalog
from ml_expert_mcp.tools.common.aliases import resolve_name
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.common.memo import Memo
from ml_expert_mcp.tools.training.inputs import ModelSpec

_ARCH_FIELDS = (
    "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "intermediate_size",
    "vocab_size", "tie_word_embeddings", "num_local_experts", "num_experts_per_tok", "gated_mlp",
)
# Preset-only detail (issue 17): head size, MoE layout, MLA, sliding windows, module names.
_DETAIL_FIELDS = (
    "head_dim", "moe_intermediate_size", "num_shared_experts", "first_k_dense_replace", "moe_layer_step",
    "q_lora_rank", "kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim", "sliding_window",
    "global_layer_every", "expert_weight_format", "linear_module_names", "hidden_act", "qk_norm", "notes",
)


@dataclass(frozen=True)
class Architecture:
    """A transformer by its shape, or (family 'cnn') an opaque model by size. Derived sizes are computed once per
    instance (cached_property; the layout search asks for them tens of thousands of times per plan)."""

    name: str
    family: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    tied: bool
    experts: int
    experts_per_token: int
    gated: bool
    opaque_params: float = 0.0
    opaque_activation_bytes: float = 0.0
    opaque_flops: float = 0.0
    # issue 17 detail; defaults reproduce the plain Llama/Mixtral shape
    head_dim: int = 0  # 0: hidden // heads
    moe_ffn: int = 0  # routed-expert FFN width; 0: ffn
    shared_experts: int = 0
    dense_layers: int = 0  # layers with a dense MLP in an MoE model (DeepSeek first_k_dense, Llama 4 interleave)
    mla: tuple[int, int, int, int, int] | None = None  # q_lora_rank (0: none), kv_lora_rank, rope, nope, v dims
    sliding_window: int = 0
    global_layer_every: int = 0
    expert_format: str = "bf16"
    linear_names: tuple[str, ...] = ()
    unfused_gelu: bool = False  # HF "gelu_new" (GPT-2): tanh GELU in Python ops, each saving its own tensor
    qk_norm: bool = False  # Qwen3: RMSNorm on q and k per head
    notes: str = ""  # what the estimators do not count for this preset (knowledge/models.toml)
    expert_shard: float = 1.0  # share of the routed experts counted per tensor-parallel slice (moe.local_expert_view)

    @cached_property
    def memo(self) -> Memo:
        """Results of pure functions of this model and their other arguments (compute rate, activation bytes), kept
        with it."""
        _with_memo.add(self)
        return Memo()

    @cached_property
    def is_transformer(self) -> bool:
        return self.family != "cnn"

    @cached_property
    def hd(self) -> int:
        return self.head_dim or self.hidden // self.heads

    @cached_property
    def q_dim(self) -> int:
        return self.heads * self.hd

    @cached_property
    def kv_dim(self) -> int:
        return self.hd * self.kv_heads

    @cached_property
    def attention_widths(self) -> tuple[int, int, int, int, int]:
        """Per-token widths of what attention keeps for the backward: q, k, v, the attention output, and (DeepSeek
        MLA) the compressed q and kv latents. MLA attends with heads x (nope + rope) wide q and k and heads x v_head
        wide values, whatever hidden / heads is."""
        if self.mla is not None:
            q_rank, kv_rank, rope, nope, v = self.mla
            qk = self.heads * (nope + rope)
            return qk, qk, self.heads * v, self.heads * v, q_rank + kv_rank
        return self.q_dim, self.kv_dim, self.kv_dim, self.q_dim, 0

    @cached_property
    def expert_ffn(self) -> int:
        return self.moe_ffn or self.ffn

    @cached_property
    def mlp_params_per_expert(self) -> int:
        return (3 if self.gated else 2) * self.hidden * self.expert_ffn

    @cached_property
    def moe_layers(self) -> int:
        return self.layers - self.dense_layers if self.experts > 1 else 0

    @cached_property
    def attention_params(self) -> int:
        h = self.hidden
        if self.mla is not None:
            qr, kvr, rope, nope, v = self.mla
            q = (h * qr + qr + qr * self.heads * (nope + rope)) if qr else h * self.heads * (nope + rope)
            kv = h * (kvr + rope) + kvr + kvr * self.heads * (nope + v)
            return q + kv + self.heads * v * h
        return 2 * h * self.q_dim + 2 * h * self.kv_dim

    @cached_property
    def dense_mlp_params(self) -> int:
        return (3 if self.gated else 2) * self.hidden * self.ffn

    @cached_property
    def expert_params_per_layer(self) -> float:
        """Routed-expert weights in one MoE layer (what expert parallelism divides)."""
        return float(self.mlp_params_per_expert * self.experts) if self.experts > 1 else 0.0

    def _mlp_average(self, routed: float) -> float:
        if self.experts <= 1:
            return float(self.dense_mlp_params)
        moe = self.mlp_params_per_expert * (routed + self.shared_experts) + self.hidden * self.experts
        return (self.moe_layers * moe + self.dense_layers * self.dense_mlp_params) / self.layers

    @cached_property
    def mlp_activation_width(self) -> float:
        """FFN width a token passes through per layer, averaged over layers (routed top-k + shared experts)."""
        if self.experts <= 1:
            return float(self.ffn)
        moe = self.expert_ffn * (max(self.experts_per_token, 1) + self.shared_experts)
        return (self.moe_layers * moe + self.dense_layers * self.ffn) / self.layers

    @cached_property
    def layer_params(self) -> float:
        """Attention + MLP (all experts, averaged over MoE and dense layers) + router + two norms."""
        if not self.is_transformer:
            return 0
        return self.attention_params + self._mlp_average(self.experts * self.expert_shard) + 2 * self.hidden

    @cached_property
    def active_layer_params(self) -> float:
        if self.experts <= 1:
            return self.layer_params
        return self.attention_params + self._mlp_average(self.experts_per_token) + 2 * self.hidden

    @cached_property
    def norm_params(self) -> int:
        """Two norms per layer and the final one, `hidden` weights each (no FLOPs, never quantized)."""
        return self.hidden * (2 * self.layers + 1)

    @cached_property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden if self.is_transformer else 0

    @cached_property
    def head_params(self) -> int:
        return 0 if (self.tied or not self.is_transformer) else self.vocab * self.hidden

    @cached_property
    def total_params(self) -> float:
        if not self.is_transformer:
            return self.opaque_params
        return self.layers * self.layer_params + self.embedding_params + self.head_params + self.hidden

    @cached_property
    def active_params(self) -> float:
        """Parameters that touch each token (MoE counts only routed experts)."""
        if not self.is_transformer:
            return self.opaque_params
        return self.layers * self.active_layer_params + self.embedding_params + self.head_params + self.hidden

    def model_flops_per_token(self, seq: int) -> float:
        """Forward+backward model FLOPs per token: 6N (matmuls, N without embedding lookup) + 12·L·h·s (attention).

        Same as Narayanan et al. 2021 / Korthikanti et al. 2022: 72·L·h²(1 + s/6h + V/12hL) for GPT shapes.
        """
        if not self.is_transformer:
            return 3.0 * self.opaque_flops / max(seq, 1)
        return 6.0 * self.active_matmul_params + 12.0 * self.layers * self.hidden * seq

    @cached_property
    def active_matmul_params(self) -> float:
        """Weights a token multiplies by: active parameters less the embedding lookup and the norms; a tied head
        still multiplies by the embedding."""
        matmul = self.active_params - self.embedding_params - self.norm_params
        return matmul + (self.vocab * self.hidden if self.tied else 0)


_with_memo: weakref.WeakSet[Architecture] = weakref.WeakSet()


def clear_model_memos() -> None:
    """For benchmarks that time a plan from nothing."""
    for arch in list(_with_memo):
        arch.memo.clear()


@lru_cache(maxsize=256)
def _resolve_cached(spec_json: str) -> Architecture:
    return _resolve(ModelSpec.model_validate_json(spec_json))


def resolve_model(spec: ModelSpec) -> Architecture:
    return resolve_model_json(spec.model_dump_json())


def resolve_model_json(spec_json: str) -> Architecture:
    """resolve_model for a spec already written as JSON (ModelSpec.model_dump_json)."""
    return _resolve_cached(spec_json)


def _resolve(spec: ModelSpec) -> Architecture:
    values: dict[str, Any] = {}
    name = "custom"
    if spec.preset is not None:
        catalog = model_catalog()  # common names too ("llama-3-70b"); report the reading with alias_note
        preset = catalog[resolve_name("model", spec.preset, catalog, "model.preset")]
        name = preset.id
        if preset.family == "cnn":
            return Architecture(
                name=name, family="cnn", hidden=0, layers=0, heads=1, kv_heads=1, ffn=0, vocab=0, tied=False,
                experts=1, experts_per_token=1, gated=False, opaque_params=float(preset.params or 0),
                opaque_activation_bytes=float(preset.activation_bytes_per_sample or 0),
                opaque_flops=float(preset.flops_per_sample or 0),
            )
        values = {k: getattr(preset, k) for k in _ARCH_FIELDS + _DETAIL_FIELDS}
        values["family"] = preset.family
    overrides = {k: getattr(spec, k) for k in _ARCH_FIELDS if getattr(spec, k) is not None}
    values.update(overrides)
    if not values.get("hidden_size"):
        if spec.params is not None:
            return Architecture(
                name="custom", family="cnn", hidden=0, layers=0, heads=1, kv_heads=1, ffn=0, vocab=0, tied=False,
                experts=1, experts_per_token=1, gated=False, opaque_params=spec.params,
                opaque_activation_bytes=spec.activation_bytes_per_sample or 0.0,
                opaque_flops=spec.flops_per_sample or 6.0 * spec.params,
            )
        raise PlanInputError("model", "give a preset, the HF config fields (hidden_size, num_hidden_layers, "
                             "num_attention_heads, intermediate_size, vocab_size), or params for a non-transformer")
    for required in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size"):
        if not values.get(required):
            raise PlanInputError(f"model.{required}", "required when no preset gives it")
    hidden, heads = int(values["hidden_size"]), int(values["num_attention_heads"])
    kv = int(values.get("num_key_value_heads") or heads)
    if hidden % heads and not values.get("head_dim"):
        raise PlanInputError("model.num_attention_heads", f"must divide hidden_size {hidden}")
    if heads % kv:
        raise PlanInputError("model.num_key_value_heads", f"must divide num_attention_heads {heads}")
    experts = int(values.get("num_local_experts") or 1)
    per_tok = int(values.get("num_experts_per_tok") or (2 if experts > 1 else 1))
    if per_tok > experts:
        raise PlanInputError("model.num_experts_per_tok", f"must be at most num_local_experts ({experts})")
    return Architecture(
        name=name, family=str(values.get("family") or "decoder"), hidden=hidden,
        layers=int(values["num_hidden_layers"]), heads=heads, kv_heads=kv, ffn=int(values["intermediate_size"]),
        vocab=int(values["vocab_size"]), tied=bool(values.get("tie_word_embeddings") or False), experts=experts,
        experts_per_token=per_tok, gated=values.get("gated_mlp") is not False, **_detail(values, experts),
    )


def _num(v: object) -> int:
    return int(v) if isinstance(v, (int, float)) else 0


def _detail(values: dict[str, object], experts: int) -> dict[str, Any]:
    """Issue-17 preset detail mapped onto Architecture's optional fields."""
    layers = _num(values["num_hidden_layers"])
    dense = 0
    if experts > 1:
        step = _num(values.get("moe_layer_step")) or 1
        first = _num(values.get("first_k_dense_replace"))
        dense = first + sum(1 for i in range(first, layers) if (i + 1) % step)
    mla = None
    if values.get("kv_lora_rank"):
        q_rank, kv_rank, rope, nope, v_dim = (_num(values.get(k)) for k in (
            "q_lora_rank", "kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim"))
        mla = (q_rank, kv_rank, rope, nope, v_dim)
    names = values.get("linear_module_names")
    return {
        "head_dim": _num(values.get("head_dim")), "moe_ffn": _num(values.get("moe_intermediate_size")),
        "shared_experts": _num(values.get("num_shared_experts")), "dense_layers": dense,
        "mla": mla, "sliding_window": _num(values.get("sliding_window")),
        "global_layer_every": _num(values.get("global_layer_every")),
        "expert_format": str(values.get("expert_weight_format") or "bf16"),
        "linear_names": tuple(str(n) for n in names) if isinstance(names, (list, tuple)) else (),
        "unfused_gelu": values.get("hidden_act") == "gelu_new",
        "qk_norm": values.get("qk_norm") is True,
        "notes": str(values.get("notes") or ""),
    }
