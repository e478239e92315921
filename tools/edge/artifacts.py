"""The conversion script (or command) for a path and recipe, and the loading snippet for the target.

Scripts run as written: `python convert.py` next to the model file (defaults: model.h5 / saved_model / model.pt2,
calibration.npy = float32 [N, *input_shape]) writes the artifact; the CI runs them with the real converters.
"""

from __future__ import annotations

_ARGS = '''p = argparse.ArgumentParser()
p.add_argument("--model", default="{model}")
p.add_argument("--out", default="{out}")
p.add_argument("--calibration", default="calibration.npy", help="float32 array [N, *input_shape]")
a = p.parse_args()
'''
_CALIBRATION = '''samples = np.load(a.calibration).astype(np.float32)[:{n}]
'''


def _tf_script(source: str, recipe: str, samples: int, micro: bool) -> str:
    head = ("import argparse\nimport os\n\nos.environ.setdefault(\"TF_USE_LEGACY_KERAS\", \"1\")  # Keras 2 (tf_keras)\n"
            "import numpy as np\nimport tensorflow as tf\n\n")
    out = "model.tflite" if recipe != "int4_weight_only" else "model_int4.tflite"
    body = _ARGS.format(model="model.h5" if source == "keras" else "saved_model", out=out)
    if source == "keras":
        body += ("import tf_keras\n\nmodel = tf_keras.models.load_model(a.model, compile=False)\n"
                 "converter = tf.lite.TFLiteConverter.from_keras_model(model)\n")
    else:
        body += "converter = tf.lite.TFLiteConverter.from_saved_model(a.model)\n"
    if recipe == "fp16":
        body += "converter.optimizations = [tf.lite.Optimize.DEFAULT]\nconverter.target_spec.supported_types = [tf.float16]\n"
    elif recipe == "dynamic_int8":
        body += "converter.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic range: int8 weights, float activations\n"
    elif recipe == "full_int8":
        body += _CALIBRATION.format(n=samples) + (
            "\n\ndef representative_dataset():\n    for sample in samples:\n        yield [sample[None]]\n\n\n"
            "converter.optimizations = [tf.lite.Optimize.DEFAULT]\n"
            "converter.representative_dataset = representative_dataset\n"
            "converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]\n")
        if micro:
            body += "converter.inference_input_type = tf.int8\nconverter.inference_output_type = tf.int8\n"
    if recipe == "int4_weight_only":
        body += ('fp32 = converter.convert()\nwith open("model_fp32.tflite", "wb") as f:\n    f.write(fp32)\n'
                 "from litert_quantizer import quantizer, recipe  # litert-quantizer (was ai-edge-quantizer)\n\n"
                 'qt = quantizer.Quantizer("model_fp32.tflite")\nqt.load_quantization_recipe(recipe.dynamic_wi4_afp32())\n'
                 "qt.quantize().export_model(a.out, overwrite=True)\n")
    else:
        body += 'with open(a.out, "wb") as f:\n    f.write(converter.convert())\n'
    if micro:
        body += '# Firmware: xxd -i model.tflite > model_data.cc (LiteRT for Microcontrollers reads it from flash)\n'
    return head + body


_TORCH_HEAD = '''import argparse

import numpy as np
import torch

'''
_SAMPLE = "ep = torch.export.load(a.model)  # torch.export.save(torch.export.export(model.eval(), sample), 'model.pt2')\n" \
          "sample = (torch.randn({shape}),)\n"


def _litert_torch_script(recipe: str, shape: str) -> str:
    out = "model.tflite" if recipe == "fp32" else "model_fp32.tflite"
    body = _TORCH_HEAD + "import litert_torch  # was ai_edge_torch\n\n" + _ARGS.format(model="model.pt2", out="model.tflite")
    body += _SAMPLE.format(shape=shape)
    body += f'edge_model = litert_torch.convert(ep.module(), sample)\nedge_model.export("{out}")\n'
    if recipe != "fp32":
        fn = "dynamic_wi8_afp32" if recipe == "dynamic_int8" else "dynamic_wi4_afp32"
        body += ("from litert_quantizer import quantizer, recipe  # was ai-edge-quantizer\n\n"
                 f'qt = quantizer.Quantizer("{out}")\nqt.load_quantization_recipe(recipe.{fn}())\n'
                 "qt.quantize().export_model(a.out, overwrite=True)\n")
    return body


def _executorch_script(path: str, recipe: str, shape: str, samples: int) -> str:
    body = _TORCH_HEAD + "from executorch.exir import to_edge_transform_and_lower\n"
    if path == "executorch_coreml":
        body += "from executorch.backends.apple.coreml.partition import CoreMLPartitioner\n"
    elif path == "executorch_qnn":
        body += ("from executorch.backends.qualcomm.partition.qnn_partitioner import QnnPartitioner\n"
                 "from executorch.backends.qualcomm.quantizer.quantizer import QnnQuantizer\n"
                 "from executorch.backends.qualcomm.utils.utils import generate_htp_compiler_spec, generate_qnn_executorch_compiler_spec, get_soc_to_chipset_map\n")
    else:
        body += "from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner\n"
    body += "\n" + _ARGS.format(model="model.pt2", out="model.pte") + _SAMPLE.format(shape=shape)
    if recipe in ("dynamic_int8", "full_int8") and path != "executorch_coreml":
        body += "from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e\n"
        if path == "executorch_qnn":
            body += "quantizer = QnnQuantizer()\n"
        else:
            body += ("from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config\n\n"
                     "quantizer = XNNPACKQuantizer()\n")
            if recipe == "dynamic_int8":  # dynamic: linear layers (convolutions fused with BN/ReLU are static-only)
                body += ("quantizer.set_operator_type(torch.ops.aten.linear.default, "
                         "get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True))\n")
            else:
                body += "quantizer.set_global(get_symmetric_quantization_config(is_per_channel=True))\n"
        body += "module = prepare_pt2e(torch.export.export(ep.module(), sample).module(), quantizer)\n"
        if recipe == "full_int8":
            body += _CALIBRATION.format(n=samples) + "for s in samples:\n    module(torch.from_numpy(s[None]))\n"
        else:
            body += "module(*sample)\n"
        body += "ep = torch.export.export(convert_pt2e(module), sample)\n"
    if path == "executorch_coreml":
        precision = "FLOAT32" if recipe == "fp32" else "FLOAT16"
        body += ("import coremltools as ct\n"
                 "from executorch.backends.apple.coreml.compiler import CoreMLBackend\n\n"
                 f"compile_specs = CoreMLBackend.generate_compile_specs(compute_precision=ct.precision.{precision}, "
                 "minimum_deployment_target=ct.target.iOS17)\n"
                 "partitioner = CoreMLPartitioner(compile_specs=compile_specs)\n")
    elif path == "executorch_qnn":
        body += ('backend = generate_htp_compiler_spec(use_fp16=False)\nsoc = get_soc_to_chipset_map()["SM8650"]\n'
                 "partitioner = QnnPartitioner(generate_qnn_executorch_compiler_spec(soc_model=soc, backend_options=backend))\n")
    else:
        body += "partitioner = XnnpackPartitioner()\n"
    body += ("program = to_edge_transform_and_lower(ep, partitioner=[partitioner]).to_executorch()\n"
             'with open(a.out, "wb") as f:\n    f.write(program.buffer)\n')
    return body


def _coreml_script(recipe: str, shape: str) -> str:
    precision = "FLOAT32" if recipe == "fp32" else "FLOAT16"
    target = "iOS18" if recipe == "int4_weight_only" else "iOS17"
    body = _TORCH_HEAD + "import coremltools as ct\n\n" + _ARGS.format(model="model.pt2", out="model.mlpackage")
    body += _SAMPLE.format(shape=shape)
    body += (f"mlmodel = ct.convert(ep.run_decompositions({{}}), convert_to=\"mlprogram\", compute_precision=ct.precision.{precision},\n"
             f"                     minimum_deployment_target=ct.target.{target})\n")
    if recipe in ("dynamic_int8", "int4_weight_only"):
        op = ('dtype="int8", granularity="per_channel"' if recipe == "dynamic_int8"
              else 'dtype="int4", granularity="per_block", block_size=32')
        body += ("cto = ct.optimize.coreml\n"
                 f'config = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(mode="linear_symmetric", {op}))\n'
                 "mlmodel = cto.linear_quantize_weights(mlmodel, config)\n")
    return body + "mlmodel.save(a.out)\n"


def _onnx_script(path: str, recipe: str, shape: str, samples: int) -> str:
    body = _TORCH_HEAD + "import subprocess\nimport sys\n\nimport onnx\n\n"
    body += _ARGS.format(model="model.pt2", out="model.onnx") + _SAMPLE.format(shape=shape)
    body += ("torch.onnx.export(ep, sample, a.out, dynamo=True, external_data=False)\n"
             "model = onnx.load(a.out)\nfor node in model.graph.node:  # drop the exporter's per-node stack traces "
             "(smaller download, no source paths)\n    del node.metadata_props[:]\n    node.doc_string = \"\"\n"
             "onnx.save(model, a.out)\nonnx_path = a.out\n")
    if recipe == "dynamic_int8":
        body += ("from onnxruntime.quantization import QuantType, quantize_dynamic\n\n"
                 'onnx_path = a.out.replace(".onnx", ".int8.onnx")\n'
                 "quantize_dynamic(a.out, onnx_path, weight_type=QuantType.QInt8)\n")
    elif recipe == "full_int8":
        body += ("from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static\n\n"
                 + _CALIBRATION.format(n=samples) +
                 "\n\nclass Reader(CalibrationDataReader):\n    def __init__(self):\n"
                 "        self.items = iter([{\"x\": s[None]} for s in samples])\n\n"
                 "    def get_next(self):\n        return next(self.items, None)\n\n\n"
                 'onnx_path = a.out.replace(".onnx", ".int8.onnx")\n'
                 "quantize_static(a.out, onnx_path, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,\n"
                 "                weight_type=QuantType.QInt8, activation_type=QuantType.QInt8)\n")
    if path == "onnxruntime_mobile":
        body += ('# ORT format for the mobile packages (onnxruntime-android, onnxruntime-objc): writes *.ort beside it\n'
                 'subprocess.run([sys.executable, "-m", "onnxruntime.tools.convert_onnx_models_to_ort", onnx_path],'
                 " check=True)\n")
    return body


def conversion(path: str, recipe: str, source: str, input_shape: list[int], samples: int) -> tuple[str, str]:
    """(script or command, artifact file name)."""
    shape = ", ".join(str(d) for d in input_shape)
    if path in ("litert_tf", "litert_micro"):
        name = "model_int4.tflite" if recipe == "int4_weight_only" else "model.tflite"
        return _tf_script(source, recipe, samples, path == "litert_micro"), name
    if path == "litert_torch":
        return _litert_torch_script(recipe, shape), "model.tflite"
    if path.startswith("executorch"):
        return _executorch_script(path, recipe, shape, samples), "model.pte"
    if path == "coreml":
        return _coreml_script(recipe, shape), "model.mlpackage"
    if path == "tfjs":
        flag = {"fp32": "", "fp16": "--quantize_float16='*' ", "dynamic_int8": "--quantize_uint8='*' "}[recipe]
        return f"tensorflowjs_converter --input_format=keras {flag}model.h5 web_model", "web_model"
    name = "model.onnx" if recipe == "fp32" else "model.int8.onnx"
    if path == "onnxruntime_mobile":
        name = name.replace(".onnx", ".ort")
    return _onnx_script(path, recipe, shape, samples), name
