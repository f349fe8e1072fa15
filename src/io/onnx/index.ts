// ONNX interop: export a gptedge model as an ONNX graph (export.ts), read ONNX GPT weights (import.ts),
// over a small protobuf codec (protobuf.ts, onnx-proto.ts). Running exported models: src/infer/ort.ts.
export {
  exportOnnx,
  exportOnnxFromParams,
  checkOnnxHead,
  onnxParamName,
  EXPORT_OPSET,
  EXPORT_IR_VERSION,
  type OnnxExportOptions,
  type OnnxGraphKind,
  type OnnxTaskHead,
  type OnnxTaskInfo,
} from './export.ts';
export { importOnnx, parseOnnx, OnnxImportError, MIN_OPSET, MAX_OPSET, type OnnxImport, type OnnxImportOptions } from './import.ts';
export { parseModel, type OnnxModel, type OnnxNode, type OnnxTensor } from './onnx-proto.ts';
