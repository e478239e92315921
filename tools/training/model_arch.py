"""Resolve a model spec (preset or pasted config) into the numbers the estimators need."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ml_expert_mcp.knowledge import model_catalog
from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.training.inputs import ModelSpec

_ARCH_FIELDS = (
    "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "intermediate_size",
    "vocab_size", "tie_word_embeddings", "num_local_experts", "num_experts_per_tok", "gated_mlp",
)


@dataclass(frozen=True, slots=True)
class Architecture:
    """A transformer by its shape, or (family 'cnn') an opaque model by size."""

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

    @property
    def is_transformer(self) -> bool:
        return self.family != "cnn"

    @property
    def kv_dim(self) -> int:
        return self.hidden // self.heads * self.kv_heads

    @property
    def mlp_params_per_expert(self) -> int:
        return (3 if self.gated else 2) * self.hidden * self.ffn

    @property
    def layer_params(self) -> int:
        """Attention (q, k, v, o) + MLP (all experts) + router + two norms, as in HF Llama/Mixtral."""
        if not self.is_transformer:
            return 0
        attn = 2 * self.hidden * self.hidden + 2 * self.hidden * self.kv_dim
        router = self.hidden * self.experts if self.experts > 1 else 0
        return attn + self.mlp_params_per_expert * self.experts + router + 2 * self.hidden

    @property
    def active_layer_params(self) -> int:
        if self.experts <= 1:
            return self.layer_params
        return self.layer_params - self.mlp_params_per_expert * (self.experts - self.experts_per_token)

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden if self.is_transformer else 0

    @property
    def head_params(self) -> int:
        return 0 if (self.tied or not self.is_transformer) else self.vocab * self.hidden

    @property
    def total_params(self) -> float:
        if not self.is_transformer:
            return self.opaque_params
        return self.layers * self.layer_params + self.embedding_params + self.head_params + self.hidden

    @property
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
        matmul_params = self.active_params - self.embedding_params - self.hidden * (2 * self.layers + 1)
        if self.tied:
            matmul_params += self.vocab * self.hidden  # the tied head still multiplies
        return 6.0 * matmul_params + 12.0 * self.layers * self.hidden * seq


@lru_cache(maxsize=256)
def _resolve_cached(spec_json: str) -> Architecture:
    return _resolve(ModelSpec.model_validate_json(spec_json))


def resolve_model(spec: ModelSpec) -> Architecture:
    return _resolve_cached(spec.model_dump_json())


def _resolve(spec: ModelSpec) -> Architecture:
    values: dict[str, object] = {}
    name = "custom"
    if spec.preset is not None:
        catalog = model_catalog()
        preset = catalog.get(spec.preset)
        if preset is None:
            raise PlanInputError("model.preset", f"unknown preset {spec.preset!r}; accepted: {', '.join(sorted(catalog))}")
        name = preset.id
        if preset.family == "cnn":
            return Architecture(
                name=name, family="cnn", hidden=0, layers=0, heads=1, kv_heads=1, ffn=0, vocab=0, tied=False,
                experts=1, experts_per_token=1, gated=False, opaque_params=float(preset.params or 0),
                opaque_activation_bytes=float(preset.activation_bytes_per_sample or 0),
                opaque_flops=float(preset.flops_per_sample or 0),
            )
        values = {k: getattr(preset, k) for k in _ARCH_FIELDS}
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
    if hidden % heads:
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
        experts_per_token=per_tok, gated=values.get("gated_mlp") is not False,
    )
