"""Loading snippets: how the target's runtime opens the artifact and runs it once."""

from __future__ import annotations

_LITERT_ANDROID = '''// build.gradle: implementation("com.google.ai.edge.litert:litert:2.3.0")
val model = CompiledModel.create(context.assets, "{name}", CompiledModel.Options(Accelerator.{acc}))
val inputs = model.createInputBuffers()
val outputs = model.createOutputBuffers()
inputs[0].writeFloat(input)  // FloatArray of {elements} values
model.run(inputs, outputs)
val y = outputs[0].readFloat()'''
_LITERT_IOS = '''// Podfile: pod 'TensorFlowLiteSwift' (+ 'TensorFlowLiteSwift/Metal' for the GPU)
import TensorFlowLite
let interpreter = try Interpreter(modelPath: Bundle.main.path(forResource: "model", ofType: "tflite")!,
                                  delegates: {delegates})
try interpreter.allocateTensors()
try interpreter.copy(inputData, toInputAt: 0)  // {elements} Float32 values
try interpreter.invoke()
let y = try interpreter.output(at: 0).data'''
_MICRO = '''// xxd -i model.tflite > model_data.cc ; LiteRT for Microcontrollers (tflite-micro)
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
extern const unsigned char model_tflite[];
constexpr int kArenaSize = 64 * 1024;  // raise until AllocateTensors() succeeds
alignas(16) static uint8_t arena[kArenaSize];
static tflite::MicroMutableOpResolver<8> resolver;  // add the ops the model uses:
resolver.AddConv2D(); resolver.AddDepthwiseConv2D(); resolver.AddFullyConnected(); resolver.AddAdd();
resolver.AddMean(); resolver.AddReshape(); resolver.AddSoftmax(); resolver.AddPad();
tflite::MicroInterpreter interpreter(tflite::GetModel(model_tflite), resolver, arena, kArenaSize);
interpreter.AllocateTensors();
TfLiteTensor* in = interpreter.input(0);  // int8: q = x / in->params.scale + in->params.zero_point
interpreter.Invoke();
TfLiteTensor* out = interpreter.output(0);'''
_ET_ANDROID = '''// build.gradle: implementation("org.pytorch:executorch-android:1.5.1")
import org.pytorch.executorch.EValue
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor
val module = Module.load(filesDir.absolutePath + "/{name}")
val x = Tensor.fromBlob(input, longArrayOf({shape}))  // FloatArray
val y = module.forward(EValue.from(x))[0].toTensor().dataAsFloatArray'''
_ET_IOS = '''// Swift Package: https://github.com/pytorch/executorch (branch swiftpm-1.5.1): executorch + backend_{backend}
import ExecuTorch
let module = Module(filePath: Bundle.main.path(forResource: "model", ofType: "pte")!)
try module.load("forward")
let y: Tensor<Float> = try module.forward(Tensor<Float>(input, shape: [{shape}]))[0].tensor()!'''
_COREML = '''import CoreML
let config = MLModelConfiguration()
config.computeUnits = .{units}
let compiled = try MLModel.compileModel(at: Bundle.main.url(forResource: "model", withExtension: "mlpackage")!)
let model = try MLModel(contentsOf: compiled, configuration: config)
let x = try MLMultiArray(shape: [{shape}], dataType: .float32)
let y = try model.prediction(from: MLDictionaryFeatureProvider(dictionary: [model.modelDescription.inputDescriptionsByName.keys.first!: x]))'''
_TFJS = '''import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-{backend}';  // npm i @tensorflow/tfjs @tensorflow/tfjs-backend-{backend}
await tf.setBackend('{backend}');
const model = await tf.loadLayersModel('web_model/model.json');
const y = model.predict(tf.tensor(input, [{shape}]));  // input: Float32Array
const values = await y.data();'''
_ORT_ANDROID = '''// build.gradle: implementation("com.microsoft.onnxruntime:onnxruntime-android:1.32.0")
import ai.onnxruntime.*
val env = OrtEnvironment.getEnvironment()
val options = OrtSession.SessionOptions().apply {{ {ep} }}
val session = env.createSession(assets.open("{name}").readBytes(), options)
val x = OnnxTensor.createTensor(env, java.nio.FloatBuffer.wrap(input), longArrayOf({shape}))
val y = session.run(mapOf(session.inputNames.first() to x))[0].value'''
_ORT_IOS = '''// Podfile: pod 'onnxruntime-objc'
import onnxruntime_objc
let env = try ORTEnv(loggingLevel: .warning)
let options = try ORTSessionOptions()
try options.appendCoreMLExecutionProvider(with: ORTCoreMLExecutionProviderOptions())
let session = try ORTSession(env: env, modelPath: Bundle.main.path(forResource: "model", ofType: "ort")!, sessionOptions: options)'''
_ORT_WEB = '''import * as ort from 'onnxruntime-web/webgpu';  // npm i onnxruntime-web
const session = await ort.InferenceSession.create('{name}', {{ executionProviders: ['{ep}', 'wasm'] }});
const x = new ort.Tensor('float32', input, [{shape}]);  // input: Float32Array
const y = (await session.run({{ [session.inputNames[0]]: x }}))[session.outputNames[0]];'''


def loading_snippet(path: str, target: str, name: str, shape: list[int]) -> tuple[str, str]:
    """(snippet, language) for the first target."""
    dims = ", ".join(str(d) for d in shape)
    elements = 1
    for d in shape:
        elements *= d
    if path == "litert_micro":
        return _MICRO, "cpp"
    if path in ("litert_tf", "litert_torch"):
        if target.startswith("ios"):
            delegates = "[MetalDelegate()]" if target == "ios_gpu" else "[]"
            return _LITERT_IOS.format(delegates=delegates, elements=elements), "swift"
        acc = {"android_gpu": "GPU", "android_npu": "NPU"}.get(target, "CPU")
        return _LITERT_ANDROID.format(name=name, acc=acc, elements=elements), "kotlin"
    if path.startswith("executorch"):
        if target.startswith("ios"):
            backend = "coreml" if path == "executorch_coreml" else "xnnpack"
            return _ET_IOS.format(backend=backend, shape=dims), "swift"
        return _ET_ANDROID.format(name=name, shape=", ".join(f"{d}L" for d in shape)), "kotlin"
    if path == "coreml":
        units = {"ios_ane": "cpuAndNeuralEngine", "ios_gpu": "cpuAndGPU"}.get(target, "cpuOnly")
        return _COREML.format(units=units, shape=dims), "swift"
    if path == "tfjs":
        return _TFJS.format(backend="webgpu" if target == "browser_webgpu" else "wasm", shape=dims), "javascript"
    if path == "onnxruntime_web":
        return _ORT_WEB.format(name=name, ep="webgpu" if target == "browser_webgpu" else "wasm", shape=dims), "javascript"
    if target.startswith("ios"):
        return _ORT_IOS, "swift"
    ep = 'addQnn(mapOf("backend_path" to "libQnnHtp.so"))  // onnxruntime-android-qnn' if target == "android_npu" else ""
    return _ORT_ANDROID.format(ep=ep, name=name, shape=", ".join(f"{d}L" for d in shape)), "kotlin"
