// How large each kind of file gptedge reads may be. Checked by a stat (readFileChecked) before a byte
// is read, so a huge or endless input is refused at once instead of filling memory. Model weights
// have no fixed cap: their bound is what the config.json beside them implies (see loadCheckpoint).
// The figures are generous for real files (GPT-2's tokenizer.json is 1.4 MB; the largest in common use
// ~35 MB) and small against the memory a JavaScript runtime gives one process.

export const FILE_LIMITS = {
  /** config.json, task.json */
  config: 1 << 20,
  /** latest.json */
  pointer: 64 << 10,
  /** train_state.json: its loss history grows by ~40 bytes a step */
  trainState: 64 << 20,
  tokenizer: 128 << 20,
  /** a fine-tuning data file (JSONL or CSV) */
  taskData: 256 << 20,
  /** one corpus text file: a JavaScript string holds at most ~2^29 UTF-16 units */
  corpus: 512 << 20,
  /** protobuf's own limit for one message: larger ONNX models keep their weights in external files */
  onnx: 2 ** 31 - 1,
  /** a token cache: a 64-byte header and 4 bytes a token */
  tokenCache: 2 ** 31 - 1,
  /** a safetensors file no config bounds (a task head) */
  safetensors: 1 << 30,
} as const;
