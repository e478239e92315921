"""Artifact size from the model's weight tensors and each format's layout (constants in knowledge/edge.toml).

Weights first: every weight tensor is stored at the recipe's bytes per element, plus its quantization parameters
(per output channel where the converter quantizes per channel). Then the format's bookkeeping: a fixed head, a
cost per tensor and per operator. Batch norms are folded into the preceding convolution by every converter here
except TF.js (which keeps the Keras layer and its four vectors); a folded batch norm leaves one bias vector.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ml_expert_mcp.tools.edge.data import edge_data
from ml_expert_mcp.tools.edge.inputs import Layer

KERNEL_OPS = ("conv2d", "depthwise_conv2d", "dense", "embedding", "attention")


@dataclass(frozen=True, slots=True)
class Tensor:
    elements: int
    channels: int  # length of the quantization axis (output channels; rows for an embedding)
    role: str  # kernel | bias | norm | bn
    op: str = ""  # the layer's op, for recipes that quantize some layer kinds only


def tensors(layers: list[Layer], fold_bn: bool, packed_qkv: bool = False) -> list[Tensor]:
    """The weight tensors after conversion, one entry per tensor. packed_qkv: PyTorch's nn.MultiheadAttention keeps
    query, key and value in one [3d, d] matrix (Keras keeps three)."""
    out: list[Tensor] = []
    for layer in layers:
        i, o, k = layer.units_in, layer.units_out, layer.kernel
        group: list[Tensor] = []
        if layer.op == "conv2d":
            group.append(Tensor(k * k * i * o, o, "kernel"))
            if layer.bias:
                group.append(Tensor(o, o, "bias"))
        elif layer.op == "depthwise_conv2d":
            group.append(Tensor(k * k * i, i, "kernel"))
            if layer.bias:
                group.append(Tensor(i, i, "bias"))
        elif layer.op == "dense":
            group.append(Tensor(i * o, o, "kernel"))
            if layer.bias:
                group.append(Tensor(o, o, "bias"))
        elif layer.op == "embedding":
            group.append(Tensor(i * o, i, "kernel"))
        elif layer.op == "attention" and packed_qkv:  # in_proj [3d, d] and out_proj [d, d]
            group.extend([Tensor(3 * i * i, 3 * i, "kernel"), Tensor(i * i, i, "kernel")])
            if layer.bias:
                group.extend([Tensor(3 * i, 3 * i, "bias"), Tensor(i, i, "bias")])
        elif layer.op == "attention":  # query, key, value, output projections of width units_in
            group.extend(Tensor(i * i, i, "kernel") for _ in range(4))
            if layer.bias:
                group.extend(Tensor(i, i, "bias") for _ in range(4))
        elif layer.op == "layer_norm":
            group.extend([Tensor(i, 1, "norm"), Tensor(i, 1, "norm")])
        elif layer.op == "batch_norm":
            group.extend([Tensor(i, i, "bias")] if fold_bn else [Tensor(i, 1, "bn") for _ in range(4)])
        out.extend(Tensor(t.elements, t.channels, t.role, layer.op) for t in group * layer.count)
    return out


def parameter_count(layers: list[Layer]) -> int:
    return sum(t.elements for t in tensors(layers, fold_bn=False))


# Graph operators per layer in a converted graph. LiteRT and XNNPACK fuse activation functions into the preceding
# op; MIL (Core ML) and ONNX keep them; layer norm is one op in MIL and ONNX, several in LiteRT; attention
# decomposes into projections, reshapes, transposes, two matmuls and a softmax.
_OPS = {"conv2d": 1, "depthwise_conv2d": 1, "dense": 1, "embedding": 1, "layer_norm": 7, "attention": 14,
        "batch_norm": 0, "dropout": 0}
_FORMAT_OPS = {"onnx": {"layer_norm": 1, "attention": 32}, "ort": {"layer_norm": 1, "attention": 32},
               "pte": {"attention": 30}, "mlpackage": {"layer_norm": 1, "attention": 16},
               # litert-torch lowers aten ops one by one: RESHAPE around each FULLY_CONNECTED on 3-D inputs, layer
               # norm as MEAN/SUB/MUL/RSQRT..., attention with its view/transpose plumbing (held-out encoder layer:
               # 58 ops = attention 34 + 2 layer norms of 8 + 2 linears of 3 + 2 adds)
               "tflite_torch": {"attention": 34, "layer_norm": 8, "dense": 3}}


def operator_count(layers: list[Layer], fmt: str) -> int:
    total = 0
    table = {**_OPS, **_FORMAT_OPS.get(fmt, {})}
    for layer in layers:
        ops = table.get(layer.op, 1)
        if layer.op == "activation" and fmt in ("tflite", "tflite_torch", "pte"):
            ops = 0
        total += ops * layer.count
    return total


def _pad(n: int, align: int) -> int:
    return -(-n // align) * align


def _quantized(t: Tensor, recipe: str, min_elements: int) -> bool:
    if recipe in ("dynamic_int8", "int4_weight_only"):
        return t.role == "kernel" and t.elements >= min_elements
    return recipe == "full_int8"


def tflite_bytes(layers: list[Layer], recipe: str, packed_qkv: bool = False) -> int:
    c = edge_data().format["tflite"]
    ts = tensors(layers, fold_bn=True, packed_qkv=packed_qkv)
    ops = operator_count(layers, "tflite_torch" if packed_qkv else "tflite")
    data = quant = 0
    extra_tensors = extra_ops = 0
    for t in ts:
        if recipe == "fp32":
            data += 4 * t.elements
        elif recipe == "fp16":  # fp16 constant + a DEQUANTIZE op and its float32 output tensor
            data += 2 * t.elements
            extra_tensors += 1
            extra_ops += 1
        elif recipe == "full_int8":
            data += (4 if t.role == "bias" else 1) * t.elements
            quant += c["quant_channel"] * (t.channels if t.role in ("kernel", "bias") else 1)
        elif _quantized(t, recipe, c["min_elements_dynamic"]):
            data += (t.elements + 1) // 2 if recipe == "int4_weight_only" else t.elements
            quant += c["quant_channel"] * t.channels
        else:
            data += 4 * t.elements
    activations = ops + 1
    if packed_qkv:  # litert-torch graphs carry a shape constant for about one op in three (RESHAPE/TRANSPOSE)
        extra_tensors += round(ops * c["torch_shape_constants_per_op"])
    if recipe == "full_int8":  # every activation carries a scale and zero point; QUANTIZE/DEQUANTIZE at the ends
        extra_ops += 2
        extra_tensors += 2
        quant += c["quant_tensor"] * (activations + extra_tensors)
    n_tensors = len(ts) + activations + extra_tensors
    return int(c["fixed"] + data + quant + c["tensor"] * n_tensors + c["operator"] * (ops + extra_ops))


def pte_bytes(layers: list[Layer], recipe: str) -> int:
    c = edge_data().format["pte"]
    ts = tensors(layers, fold_bn=True, packed_qkv=True)
    ops = operator_count(layers, "pte")
    data = 0
    for t in ts:
        # dynamic int8 on XNNPACK: linear layers only (the script quantizes aten.linear; convolutions need full_int8)
        if recipe == "fp32" or (recipe != "full_int8" and t.role != "kernel") or \
                (recipe == "dynamic_int8" and t.op not in ("dense", "attention")):
            data += 4 * t.elements
        elif recipe == "fp16":
            data += 2 * t.elements
        elif recipe == "int4_weight_only":  # torchao 8da4w: int4 in groups of 32, one fp32 scale per group
            data += (t.elements + 1) // 2 + 4 * math.ceil(t.elements / 32)
        else:
            data += (4 if t.role == "bias" else 1) * t.elements + c["quant_channel"] * t.channels
    return int(c["fixed"] + data + c["tensor"] * (len(ts) + ops + 1) + c["operator"] * ops)


def onnx_bytes(layers: list[Layer], recipe: str, fmt: str) -> int:
    """fmt 'onnx' (the exporter's file, for ONNX Runtime Web) or 'ort' (the mobile flatbuffer)."""
    c = edge_data().format[fmt]
    ts = tensors(layers, fold_bn=True, packed_qkv=True)
    ops = operator_count(layers, fmt)
    data = quant = 0
    for t in ts:
        # per-tensor int8 (quantize_dynamic's default) + scale and zero point; the quantizer's new nodes
        # (DynamicQuantizeLinear, MatMulInteger/ConvInteger, Cast, Mul) carry no exporter metadata: they cost about
        # what the float node they replace did, so quant_tensor holds the difference
        if recipe in ("dynamic_int8", "full_int8") and t.role == "kernel":
            data += t.elements
            quant += c["quant_tensor"]
        else:
            data += 4 * t.elements
    return int(c["fixed"] + data + quant + c["tensor"] * len(ts) + c["operator"] * ops)


def mlpackage_bytes(layers: list[Layer], recipe: str) -> int:
    c = edge_data().format["mlpackage"]
    ts = tensors(layers, fold_bn=True, packed_qkv=True)
    header = c["blob_header"]
    weights = header  # weight.bin file header
    inline = 0
    for t in ts:
        if t.elements < c["min_elements_blob"]:
            inline += 4 * t.elements
            continue
        quantize = t.role == "kernel" and t.elements >= c["min_elements_quant"]
        if recipe == "fp32":
            blobs = [4 * t.elements]
        elif recipe == "dynamic_int8" and quantize:  # int8 data + one fp16 scale per output channel
            blobs = [t.elements, 2 * t.channels]
        elif recipe == "int4_weight_only" and quantize:  # int4 per block of 32 + fp16 scale per block
            blobs = [(t.elements + 1) // 2, 2 * math.ceil(t.elements / 32)]
        else:
            blobs = [2 * t.elements]
        weights += sum(header + _pad(b, 64) for b in blobs)
    ops = operator_count(layers, "mlpackage")
    # ct.convert on a torch.export program saves executorch_debug_handle_mapping.json beside the model (fp32/fp16;
    # ct.optimize.coreml's output is saved without it)
    mapping = c["debug_mapping_operator"] * ops if recipe in ("fp32", "fp16") else 0
    return int(c["fixed"] + weights + inline + c["operator"] * ops + mapping)


def tfjs_bytes(layers: list[Layer], recipe: str) -> int:
    c = edge_data().format["tfjs"]
    ts = tensors(layers, fold_bn=False)
    per = {"fp32": 4, "fp16": 2, "dynamic_int8": 1}[recipe]
    data = sum(per * t.elements for t in ts)
    entry = c["weight_entry"] + {"fp32": 0, "fp16": c["weight_entry_fp16"], "dynamic_int8": c["weight_entry_uint8"]}[recipe]
    table = c["layer_json"]
    topology = table["input"] + sum(table.get(layer.op, 220) * layer.count for layer in layers)
    shards = max(1, math.ceil(data / c["shard_bytes"]))
    return int(c["fixed"] + topology + entry * len(ts) + 24 * shards + data)


FORMAT_OF_PATH = {"litert_tf": "tflite", "litert_torch": "tflite", "litert_micro": "tflite",
                  "executorch_xnnpack": "pte", "executorch_coreml": "pte", "executorch_qnn": "pte",
                  "coreml": "mlpackage", "tfjs": "tfjs", "onnxruntime_mobile": "ort", "onnxruntime_web": "onnx"}


def artifact_bytes(path: str, layers: list[Layer], recipe: str) -> int:
    fmt = FORMAT_OF_PATH[path]
    if fmt == "tflite":
        return tflite_bytes(layers, recipe, packed_qkv=path == "litert_torch")
    if fmt == "pte":
        if path == "executorch_coreml":  # the delegate blob is the Core ML model, inside the program
            c = edge_data().format["pte"]
            return int(c["fixed"] + mlpackage_bytes(layers, recipe) + \
                c["coreml_delegate_operator"] * operator_count(layers, "mlpackage"))
        return pte_bytes(layers, recipe)
    if fmt == "mlpackage":
        return mlpackage_bytes(layers, recipe)
    if fmt == "tfjs":
        return tfjs_bytes(layers, recipe)
    return onnx_bytes(layers, recipe, fmt)
