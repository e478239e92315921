"""Fine-tuning memory (issue 17): full, LoRA, QLoRA, DoRA, counted tensor by tensor.

What dominates and where each count comes from:
- frozen base weights in their storage format: bitsandbytes NF4 = 4-bit codes + one fp32 absmax per block of
  64 (4.5 bits); double quantization stores the absmax in 8 bits with one fp32 per 256 blocks (4.127 bits)
  (Dettmers et al. 2023, QLoRA, arXiv:2305.14314, section 3); LLM.int8: 1 byte + fp32 row scale; GPTQ/AWQ
  int4 with group 128: 4-bit codes + fp16 scale + 4-bit zero per group (4.16 bits). Embeddings, LM head and
  norms stay 16-bit (bitsandbytes skips lm_head in transformers; LitGPT quantizes every Linear).
- dequantization buffer: one 16-bit copy of the largest weight at a time (forward and backward).
- adapters: r x (in + out) per targeted Linear (Hu et al. 2021), DoRA adds one magnitude vector of `out`
  (Liu et al. 2024); PEFT keeps adapter weights in fp32 (autocast_adapter_dtype=True), torchtune/LitGPT in
  the model dtype. Trainable weight + grad + optimizer states (AdamW: two states in the param's dtype,
  bitsandbytes 8-bit: 2 bytes).
- activations a frozen layer saves: a frozen Linear needs no input for a weight gradient, so only the
  inputs of adapted Linears are saved (an adapter on gate/up saves the norm output, one on down_proj saves
  the wide MLP product); LLM.int8 and GPTQ/AWQ layers save every Linear input, bitsandbytes' 4-bit MatMul4Bit
  none since 0.43.2 (measured: bench/evidence/qlora_gpu.jsonl); the SwiGLU itself saves gate, silu(gate) and
  up; SDPA saves q, k, v, out (Architecture.attention_widths); HF RMSNorm saves its fp32 upcast input. PEFT's (unquantized) LoRA Linear casts its input to the fp32
  adapter, so each adapted module keeps its own 16-bit copy; dropout > 0 keeps a dropped 16-bit copy + a 1-byte
  mask per adapted module (CUDA saved-tensor counts, bench/evidence/saved_lora_counts_cuda.json).
  torch.compile fuses the norm and SwiGLU (input only). Full checkpointing keeps each layer's input and
  recomputes one layer at a time; activation offloading moves the kept inputs to CPU.
- logits: 16-bit logits + fp32 upcast + log-softmax + its grad (14.5 x vocab bytes per token, measured on
  H100, memory.py); chunked cross-entropy keeps the 16-bit logits and one chunk's fp32 work (none when the loss is
  compiled); torchtune's recipes `del logits` before backward(), so no logits outlive the loss's backward there.
- ZeRO-3/FSDP: the base is sharded, and the gathered current + prefetched layer are held in its storage format.
None of these constants is fitted on the evidence rows of bench/evidence/peft_memory.csv.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.training.finetuning_inputs import FinetuningSpec
from ml_expert_mcp.tools.training.memory import _LOGITS_V, MemoryTerms, optimizer_bytes_per_param
from ml_expert_mcp.tools.training.model_arch import Architecture

# Bytes per parameter of a frozen Linear weight in each storage format.
BASE_BYTES = {
    "none": 2.0,
    "nf4": 0.5 + 4.0 / 64,
    "nf4_double_quant": 0.5 + 1.0 / 64 + 4.0 / (64 * 256),
    "int8": 1.0 + 4.0 / 4096,
    "gptq_int4": 0.5 + (2.0 + 0.5) / 128,
    "awq_int4": 0.5 + (2.0 + 0.5) / 128,
    "fp8": 1.0,
}
MXFP4_BYTES = 0.5 + 1.0 / 32  # OCP MX: 4-bit E2M1 + one 8-bit scale per 32 (gpt-oss experts)
ROLES = ("q", "k", "v", "o", "gate", "up", "down")
Group = tuple[str, ...]  # roles one nn.Linear covers (a fused qkv covers three)
# Module names per model family, as the checkpoint spells them: name -> the Linear modules it matches in one
# layer. Names shared between families with different meanings (w1, w2, c_proj) are resolved by the family.
FAMILIES: dict[str, dict[str, tuple[Group, ...]]] = {
    "llama": {"q_proj": (("q",),), "k_proj": (("k",),), "v_proj": (("v",),), "o_proj": (("o",),),
              "gate_proj": (("gate",),), "up_proj": (("up",),), "down_proj": (("down",),)},
    "torchtune": {"q_proj": (("q",),), "k_proj": (("k",),), "v_proj": (("v",),), "output_proj": (("o",),),
                  "w1": (("gate",),), "w3": (("up",),), "w2": (("down",),)},
    "mixtral": {"q_proj": (("q",),), "k_proj": (("k",),), "v_proj": (("v",),), "o_proj": (("o",),),
                "w1": (("gate",),), "w3": (("up",),), "w2": (("down",),)},
    "phi3": {"qkv_proj": (("q", "k", "v"),), "o_proj": (("o",),), "gate_up_proj": (("gate", "up"),),
             "down_proj": (("down",),)},
    "qwen1": {"c_attn": (("q", "k", "v"),), "c_proj": (("o",), ("down",)), "w1": (("up",),), "w2": (("gate",),)},
    "neox": {"query_key_value": (("q", "k", "v"),), "dense": (("o",),), "dense_h_to_4h": (("up",),),
             "dense_4h_to_h": (("down",),)},
    "deepseek": {"q_a_proj": (("q",),), "q_b_proj": (("q",),), "kv_a_proj_with_mqa": (("k", "v"),),
                 "kv_b_proj": (("k", "v"),), "o_proj": (("o",),), "gate_proj": (("gate",),),
                 "up_proj": (("up",),), "down_proj": (("down",),)},
    "gpt_oss": {"q_proj": (("q",),), "k_proj": (("k",),), "v_proj": (("v",),), "o_proj": (("o",),)},
}
ATTENTION_ROLES = frozenset({"q", "k", "v", "o"})


def model_families(arch: Architecture) -> list[str]:
    """Families whose spelling fits the model: its own (from the preset's module names), then torchtune's."""
    if arch.linear_names:
        own = [f for f, names in FAMILIES.items() if set(arch.linear_names) == set(names)]
        return own + ["torchtune"]
    if arch.name != "custom":
        return ["llama", "torchtune"]  # a preset without module names uses Llama's
    return ["llama", "torchtune", "phi3", "qwen1", "neox", "mixtral"]


def model_linear_names(arch: Architecture) -> tuple[str, ...]:
    out: list[str] = []
    for fam in model_families(arch):
        out.extend(n for n in FAMILIES[fam] if n not in out)
    return tuple(out)


def _default_groups(arch: Architecture, roles: frozenset[str]) -> tuple[Group, ...]:
    fam = model_families(arch)[0]
    groups: list[Group] = []
    for gs in FAMILIES[fam].values():
        groups.extend(g for g in gs if set(g) <= roles and g not in groups)
    if fam == "gpt_oss" and roles - ATTENTION_ROLES:
        groups.extend((r,) for r in ("gate", "up", "down") if r in roles)  # experts via PEFT target_parameters
    return tuple(groups)


def quant_format(ft: FinetuningSpec) -> str:
    if ft.base_quantization is not None:
        return ft.base_quantization
    return "nf4_double_quant" if ft.method == "qlora" else "none"


def validate_finetuning(arch: Architecture, ft: FinetuningSpec, precision: str) -> tuple[Group, ...]:
    """The adapted Linear modules, each as the roles (q, k, v, o, gate, up, down) it covers; errors name the field."""
    fmt = quant_format(ft)
    if ft.method == "qlora" and fmt not in ("nf4", "nf4_double_quant", "int8", "gptq_int4", "awq_int4"):
        raise PlanInputError("training.finetuning.base_quantization",
                             f"QLoRA needs a 4/8-bit integer base (nf4, nf4_double_quant, int8, gptq_int4, awq_int4), not {fmt}")
    if fmt == "fp8":
        raise PlanInputError("training.finetuning.base_quantization", "an fp8 base is not trainable with PEFT adapters here; "
                             "use none (16-bit) or a 4-bit format")
    if ft.method == "full" and fmt != "none":
        raise PlanInputError("training.finetuning.base_quantization", "full fine-tuning updates the base: it must be 'none'")
    if not arch.is_transformer and ft.method != "full":
        raise PlanInputError("training.finetuning.method", "adapters need a transformer given by its shape (preset or HF fields)")
    if ft.method == "full":
        return tuple((r,) for r in ROLES)
    if ft.target_modules == "all_linear":
        return _default_groups(arch, frozenset(ROLES))
    if ft.target_modules == "attention":
        return _default_groups(arch, ATTENTION_ROLES)
    leaves = [name.rsplit(".", 1)[-1] for name in ft.target_modules]
    known = model_linear_names(arch)
    for i, leaf in enumerate(leaves):
        if leaf not in known:
            raise PlanInputError(f"training.finetuning.target_modules[{i}]",
                                 f"{ft.target_modules[i]!r} is not a Linear of {arch.name}; it has: {', '.join(known)}")
    family = next((f for f in model_families(arch) if all(leaf in FAMILIES[f] for leaf in leaves)), None)
    if family is None:
        raise PlanInputError("training.finetuning.target_modules",
                             "names mix spellings of different model families; use one spelling, e.g. "
                             + ", ".join(FAMILIES[model_families(arch)[0]]))
    groups: list[Group] = []
    for leaf in dict.fromkeys(leaves):
        groups.extend(FAMILIES[family][leaf])
    return tuple(groups)


def _role_dims(arch: Architecture) -> dict[str, tuple[int, int]]:
    h, f = arch.hidden, arch.ffn
    return {"q": (h, arch.q_dim), "k": (h, arch.kv_dim), "v": (h, arch.kv_dim), "o": (arch.q_dim, h),
            "gate": (h, f), "up": (h, f), "down": (f, h)}


def adapter_params(arch: Architecture, groups: tuple[Group, ...], rank: int, dora: bool) -> float:
    """r x (in + out) per adapted Linear (+ out for DoRA's magnitude); routed experts each carry their own."""
    dims = _role_dims(arch)
    mlp_roles = {"gate", "up", "down"}
    total = 0.0
    for g in groups:
        fan_in = dims[g[0]][0]
        fan_out = sum(dims[r][1] for r in g)
        per_module = rank * (fan_in + fan_out) + (fan_out if dora else 0)
        if set(g) <= mlp_roles and arch.experts > 1:
            scale = arch.expert_ffn / arch.ffn
            e_in = fan_in * (scale if g[0] == "down" else 1.0)
            e_out = fan_out * (1.0 if g[0] == "down" else scale)
            per_expert = rank * (e_in + e_out) + (e_out if dora else 0)
            n_moe = arch.moe_layers * (arch.experts + arch.shared_experts)
            total += arch.dense_layers * per_module + n_moe * per_expert
        else:
            total += arch.layers * per_module
    return total


# Dequantizing a quantized base runs at about this share of HBM bandwidth: the extra time per micro-batch over LoRA
# on a 16-bit base, (passes x quantized Linear params x (stored bytes + 2 written)) / bandwidth, solved point by point
# on Qwen-7B's QLoRA (GPTQ int4, auto-gptq) vs LoRA rows (A100 80GB, 256-8192 tokens; Qwen README "Profiling of
# Memory and Speed", bench/evidence/peft_throughput.csv): median 0.13 of 6 points (0.11-0.27). Held out: the same
# table's 1.8B and 14B pairs give 0.09-0.36 (median 0.11), torchtune's Llama 3.1 8B QLoRA (torchao NF4) vs LoRA on an
# RTX 4090 0.14 (`python -m bench.peft_throughput`).
DEQUANT_HBM_SHARE = 0.13


def base_linear_params(arch: Architecture) -> float:
    """Weights of the base's Linear layers (what a quantized base stores in 4/8 bits): all but the embedding, the
    LM head and the norms."""
    return arch.total_params - arch.embedding_params - arch.head_params - arch.norm_params


def dequant_seconds(arch: Architecture, ft: FinetuningSpec, hbm_tbps: float, checkpointing: str, shards: int) -> float:
    """Seconds per micro-batch spent dequantizing the frozen base to 16 bits: once in the forward, once in the
    backward, and once more in the recomputed forward under full checkpointing; each pass reads the stored weight
    and writes a 16-bit copy. `shards`: model-parallel slices of the base (TP x PP)."""
    fmt = quant_format(ft)
    if fmt == "none":
        return 0.0
    params = base_linear_params(arch) + (arch.head_params if ft.stack == "litgpt" else 0.0)
    passes = 3 if checkpointing == "full" else 2
    return passes * params / max(shards, 1) * (BASE_BYTES[fmt] + 2.0) / (hbm_tbps * 1e12 * DEQUANT_HBM_SHARE)


@dataclass(frozen=True, slots=True)
class FinetuneMemory:
    terms: MemoryTerms
    base_weight_bytes: float
    base_weight_bytes_16bit: float
    adapter_params: float
    trainable_params: float
    quant: str


def finetune_memory(
    arch: Architecture, ft: FinetuningSpec, *, precision: str, optimizer: str, seq: int, micro_batch: int,
    checkpointing: str, attention: str, dp: int = 1, zero_stage: int = 0, cpu_offload: bool = False,
    num_micro_batches: int = 1, backward_buffers: float = 0.0,
) -> FinetuneMemory:
    """Peak allocated bytes per GPU of one fine-tuning step (data parallel, optionally ZeRO/FSDP sharded).
    `backward_buffers`: bytes the framework allocates for the backward only (DeepSpeed's gradient buckets)."""
    groups = validate_finetuning(arch, ft, precision)
    fmt = quant_format(ft)
    full = ft.method == "full"
    act = 4 if precision == "fp32" else 2
    wb16 = 4.0 if precision == "fp32" else 2.0
    shard = max(dp, 1)
    h, V = arch.hidden, arch.vocab
    tokens = micro_batch * seq

    # ---- weights -------------------------------------------------------------------------------------------
    embed = arch.embedding_params
    head = arch.head_params
    linear = base_linear_params(arch)
    norms = arch.norm_params
    expert_linear = arch.expert_params_per_layer * arch.moe_layers
    per_linear = BASE_BYTES[fmt] if fmt != "none" else wb16
    base = (linear - expert_linear) * per_linear + norms * wb16 + embed * wb16
    if arch.expert_format == "mxfp4" and fmt != "none":
        base += expert_linear * MXFP4_BYTES
    else:
        base += expert_linear * per_linear
    head_bytes = head * (per_linear if fmt != "none" and ft.stack == "litgpt" else wb16)  # LitGPT quantizes the head
    base += head_bytes
    base_16 = arch.total_params * wb16
    # the decoder layers' share of the stored base: what one ZeRO-3/FSDP all-gather brings in per layer
    layer_base = (base - embed * wb16 - head_bytes) / max(arch.layers, 1)
    if zero_stage >= 3:
        base /= shard

    # ---- trainable parameters: weight (+ copy), grad, optimizer ------------------------------------------
    emb_head = 0.0 if full else (embed if ft.train_embeddings else 0.0) + (head if ft.train_lm_head else 0.0)
    if full:
        trainable = float(arch.total_params)
        wdtype = 4.0 if precision in ("fp32", "amp_bf16", "amp_fp16") else 2.0
        base = trainable * wdtype / (shard if zero_stage >= 3 else 1)
        layer_base = arch.layer_params * act  # FSDP's MixedPrecision / ZeRO-3 gather the 16-bit weights
        adapter_weights = 0.0
        grads = trainable * wdtype
        ob = optimizer_bytes_per_param(optimizer, "bf16" if wdtype == 2.0 else "amp_bf16", arch)
    else:
        trainable = adapter_params(arch, groups, ft.rank, ft.method == "dora")
        tdtype = 4.0 if (ft.stack == "hf_peft" or precision == "fp32") else 2.0  # PEFT upcasts adapters to fp32
        # HF modules_to_save keeps a trainable copy beside the frozen original; torchtune/LitGPT train in place
        copy = emb_head * wb16 if ft.stack == "hf_peft" else 0.0
        adapter_weights = trainable * tdtype + copy
        grads = trainable * tdtype + emb_head * wb16
        ob_adapter = optimizer_bytes_per_param(optimizer, "bf16" if tdtype == 2.0 else "fp32", arch)
        ob_emb = optimizer_bytes_per_param(optimizer, "bf16", arch)
        ob = (ob_adapter * trainable + ob_emb * emb_head) / max(trainable + emb_head, 1.0)
    opt = ob * (trainable + emb_head)
    if zero_stage >= 1:
        opt /= shard
    if zero_stage >= 2:
        grads /= shard
    if zero_stage >= 3:
        adapter_weights /= shard
    if cpu_offload or ft.paged_optimizer:
        opt = 0.0  # paged states live in CUDA unified memory, outside the caching allocator (evictable to CPU)
    if ft.optimizer_in_backward:
        grads = 2.0 * wb16 * max(V * h, h * arch.ffn)  # one parameter's gradient alive at a time

    # ---- activations per token per layer -----------------------------------------------------------------
    per_layer = activation_bytes_per_token_layer_ft(arch, ft, groups, fmt, act, attention, seq, full)
    if checkpointing == "full":
        stored: float = arch.layers * act * h
        if ft.activation_offloading:
            stored = 2 * act * h  # one layer's input in flight to / from the CPU
        working = per_layer
    else:
        stored = arch.layers * per_layer
        working = 0.0
    activations = tokens * stored
    recompute = tokens * working

    # ---- logits and loss ---------------------------------------------------------------------------------
    logits = logits_bytes_per_token(ft) * V * tokens
    # the 16-bit logits stay alive through the backward while the training loop holds the model's output; torchtune's
    # recipes `del logits` before backward() ("free logits otherwise it peaks backward memory"), so there each chunk
    # dies with its loss node's backward, before the first layer is recomputed
    logits_kept = 0.0 if ft.stack == "torchtune" else 2.0 * V * tokens

    # ---- dequantization and misc buffers -----------------------------------------------------------------
    largest = max(h * arch.ffn, h * arch.q_dim, arch.expert_ffn * h)
    dequant = 2.0 * 2 * largest if fmt != "none" else 0.0

    # ZeRO-3/FSDP: the gathered current and prefetched layer, and under ZeRO-2/3 one layer's unsharded gradient
    # waiting for its reduce-scatter (the pretraining model's sharding buffers, memory.py)
    gathered = 2.0 * layer_base if zero_stage >= 3 and shard > 1 else 0.0
    if zero_stage >= 2 and shard > 1:
        gathered += (arch.layer_params * wdtype if full else trainable * tdtype) / max(arch.layers, 1)
    backward_buffers += gathered

    persistent_grads = grads if (num_micro_batches > 1 or zero_stage >= 2 or ft.optimizer_in_backward) else 0.0
    weights_all = base + adapter_weights
    start_backward = weights_all + opt + persistent_grads + activations + dequant + max(logits, logits_kept + recompute) \
        + backward_buffers
    end_backward = weights_all + opt + grads + logits_kept + dequant + backward_buffers
    step = weights_all + opt + grads
    if ft.stack in ("hf_peft", "litgpt") and optimizer == "adamw" and not ft.optimizer_in_backward:
        # transformers' default optim "adamw_torch" and LitGPT's torch.optim.AdamW run the foreach kernels: the step
        # allocates one temporary per parameter (the sqrt(v) + eps denominator) in the parameter's dtype
        # (torchtune configs set fused=True: no temporary)
        step += grads if not zero_stage else grads / shard
    phases = {"start_of_backward": start_backward, "end_of_backward": end_backward, "optimizer_step": step}
    if ft.stack == "litgpt" and fmt != "none" and zero_stage < 3:
        # Fabric init_module(empty_init=False) on one device materialises the 16-bit weights before bitsandbytes
        # quantizes them, and LitGPT reports max_memory_allocated over the whole run, load included
        phases["model_load"] = base_16
    phase = max(phases, key=phases.__getitem__)
    terms = MemoryTerms(
        weights=weights_all, gradients=grads, optimizer_states=opt, activations=activations + recompute,
        logits_and_loss=logits, autocast_weight_copies=dequant, sharding_buffers=backward_buffers, pipeline_in_flight=1,
        peak_allocated=phases[phase], peak_phase=phase,
    )
    return FinetuneMemory(terms, base, base_16, 0.0 if full else trainable, trainable + emb_head, fmt)


def logits_bytes_per_token(ft: FinetuningSpec) -> float:
    """Logits and loss buffers per token, in units of vocab_size bytes, by how the loss is computed.

    Unchunked (transformers >= 4.46 upcasts logits to fp32 in the loss): 16-bit logits + fp32 copy +
    log-softmax + its gradient, 14.5 measured on H100 (memory.py). torchtune's CEWithChunkedOutputLoss (8
    chunks): the 16-bit logits stay; eager keeps each chunk's fp32 log-softmax (4) and one chunk's gradient
    (4/8); compiled (torchtune's compile_loss compiles `compute_cross_entropy`, the upcast and the loss together),
    the fp32 copy is never stored: only the log-sum-exp is saved, and the backward kernel writes the chunk's gradient
    in 16 bits (2/8). Unsloth's fused Triton loss likewise keeps no fp32 copy.
    LitGPT's chunked_cross_entropy (128-token chunks, no upcast): 16-bit logits + 16-bit log-softmax.
    A 16-bit unchunked loss on a shifted contiguous copy (e.g. Qwen1's modeling_qwen.py): logits, copy,
    log-softmax, and the two gradients, 2 bytes each = 10.
    """
    if ft.stack == "litgpt":
        return 4.0
    if ft.chunked_cross_entropy or ft.stack == "unsloth":
        return 2.0 + 2.0 / 8 if (ft.compile or ft.stack == "unsloth") else 2.0 + 4.0 + 4.0 / 8
    return float(_LOGITS_V["bf16"]) if ft.logits_fp32 else 10.0


def activation_bytes_per_token_layer_ft(
    arch: Architecture, ft: FinetuningSpec, groups: tuple[Group, ...], fmt: str, act: int, attention: str, seq: int,
    full: bool,
) -> float:
    """Saved bytes of one decoder layer for one token under a frozen base with adapters on `groups`."""
    roles = {r for g in groups for r in g}
    h, q, kv = arch.hidden, arch.q_dim, arch.kv_dim
    f = arch.mlp_activation_width
    # LLM.int8's MatMul8bitLt and auto-gptq's dequantize+matmul save the input of every quantized Linear; bitsandbytes'
    # MatMul4Bit keeps only the weight since 0.43.2 (2024-07-23, PR #1270 "delete useless buffered activation"), as
    # torchtune's linear_nf4 does
    saves_all_inputs = full or (fmt in ("int8", "gptq_int4", "awq_int4") and ft.stack in ("hf_peft", "litgpt"))
    drop = ft.lora_dropout > 0 and not full
    # norms: HF/torchtune RMSNorm upcast the input to fp32 and save it; a trainable norm also saves its output
    norms: float = 2 * act * h if ft.compile else 2 * 4 * h + (2 * act * h if full else 0)
    if arch.qk_norm:  # Qwen3 q_norm/k_norm: the same RMSNorm over q and k
        norms += (q + kv) * (act if ft.compile else 4 + (act if full else 0))
    total: float = norms
    q_w, k_w, v_w, out_w, _ = arch.attention_widths
    total += act * (q_w + k_w + v_w + out_w)  # SDPA saves q, k, v, out (+ fp32 log-sum-exp, small)
    if attention == "eager":
        total += arch.heads * seq * (4 + act)
    total += (2 if ft.compile else 3) * act * f if arch.gated else 2 * act * f  # gate, silu(gate), up
    if saves_all_inputs:  # every Linear keeps its input: attention input (one tensor for q, k, v), o, MLP input, down
        total += act * (h + out_w + h + f)
    if full:
        return total
    in_dim = {"q": h, "k": h, "v": h, "o": out_w, "gate": h, "up": h, "down": f}
    if (ft.stack == "hf_peft" and fmt == "none") or drop:
        # each adapter saves its own 16-bit input: PEFT's LoRA Linear casts it to its fp32 adapter (a copy per module,
        # which autocast casts back for the matmul; its 4-bit/GPTQ layers skip the cast under autocast), and a dropout
        # makes each module's own dropped copy, plus the dropout's 1-byte mask (counted on an H200:
        # scripts/count_saved_lora.py, bench/evidence/saved_lora_counts_cuda.json)
        total += sum((act + (1 if drop else 0)) * in_dim[g[0]] for g in groups)
    elif not saves_all_inputs:  # adapters in the model dtype read the layer's tensors: one per distinct input
        total += act * (h * bool(roles & {"q", "k", "v"}) + out_w * ("o" in roles) + h * bool(roles & {"gate", "up"})
                        + f * ("down" in roles))
    return total


def method_effect(fm: FinetuneMemory, ft: FinetuningSpec) -> str:
    """One sentence naming what the method changed, e.g. 'QLoRA: 4.9 GiB weights instead of 15.0'."""
    gib = float(1 << 30)
    name = {"full": "Full fine-tuning", "lora": "LoRA", "qlora": "QLoRA", "dora": "DoRA"}[ft.method]
    if ft.method == "full":
        return f"{name}: every parameter trains ({fm.trainable_params / 1e9:.2f}B), gradients and optimizer states for all"
    return (f"{name}: {fm.base_weight_bytes / gib:.1f} GiB weights ({fm.quant}) instead of "
            f"{fm.base_weight_bytes_16bit / gib:.1f}; {fm.adapter_params / 1e6:.1f}M adapter parameters train "
            f"(rank {ft.rank})")
