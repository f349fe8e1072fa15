// gptedge export --format onnx | gptedge import --from model.onnx | gptedge generate --onnx model.onnx
import { importOptional } from '../optional.ts';
import { numArg, printGeneration, SAMPLING_OPTIONS, samplingFrom } from '../args.ts';
import type { CommandContext } from '../context.ts';
import { loadCheckpoint, resolveModelDir, writeModelFiles } from '../../../src/io/checkpoint.ts';
import { join, readFileChecked, readText, readTextChecked } from '../../../src/io/fs.ts';
import { exportOnnxFromParams, type OnnxGraphKind, type OnnxTaskHead } from '../../../src/io/onnx/export.ts';
import { HEAD_FILE, readHeadFile, readTaskFile, TASK_FILE } from '../../../src/finetune/io.ts';
import { onnxTaskHead } from '../../../src/finetune/onnx.ts';
import type { GPTConfig } from '../../../src/model/config.ts';
import { FILE_LIMITS } from '../../../src/io/limits.ts';
import type { FileSystem } from '../../../src/io/fs.ts';
import { importOnnx } from '../../../src/io/onnx/import.ts';
import { GPT } from '../../../src/model/gpt.ts';
import { GPTTokenizer } from '../../../src/tokenizer/tokenizer.ts';
import { checkTokenizerFits } from '../../../src/model/load.ts';
import { OrtGPT, generateStreamOrt, type OrtModuleLike } from '../../../src/infer/ort.ts';
import { dequantizedWeights } from '../../../src/io/quantized.ts';

const EXPORT_HELP = `usage: gptedge export --format onnx --model <dir> --out model.onnx [options]

  --format onnx        the only export format so far
  --model DIR          a run folder (its latest checkpoint) or a step folder
  --out FILE           the .onnx file to write
  --graph G            decode (default): input_ids, attention_mask, position_ids, past_key_values.{i}.key/value
                       -> logits, present.{i}.key/value (transformers.js' GPT-2 layout)
                       logits: input_ids -> logits only
  --with-tokenizer     also copy tokenizer.json and config.json next to the .onnx file
  --no-head            a fine-tuned folder (head.safetensors + task.json) exports its task head by default
                       (input extract_index; outputs hidden_at_extract, head_logits, probs); this leaves it out`;

const IMPORT_HELP = `usage: gptedge import --from model.onnx --out <dir> --tokenizer <tokenizer.json | model dir> [options]

  --from FILE          an ONNX GPT-2 / openai-gpt model (gptedge's export, or Hugging Face's, weights inside the file)
  --out DIR            the model folder to write (model.safetensors, config.json, tokenizer.json)
  --tokenizer PATH     the tokenizer.json to store with it (ONNX files carry no tokenizer), a model folder or a run folder
  --heads N            number of attention heads, when the graph does not show it`;

const ORT_HELP = `usage: gptedge generate --onnx model.onnx --tokenizer <tokenizer.json | dir> --prompt "text" [options]

  --onnx FILE          run this exported model through ONNX Runtime instead of a gptedge backend
  --ort R              web (onnxruntime-web, WASM) | node (onnxruntime-node) | auto (default: node if installed, else web)
  --threads N          onnxruntime-web WASM threads (default 1)
  --tokenizer PATH     tokenizer.json, a model folder or a run folder (default: tokenizer.json next to the .onnx file)
  --prompt, --max-tokens, --temperature, --top-k, --top-p, --seed, --stop   as for gptedge generate`;

/** tokenizer.json itself, or the one in a model folder, or in a run folder's latest checkpoint */
async function tokenizerFrom(ctx: CommandContext, path: string): Promise<{ json: string; file: string }> {
  let file = path;
  if (await ctx.fs.exists(join(path, 'tokenizer.json'))) file = join(path, 'tokenizer.json');
  else if (await ctx.fs.exists(join(path, 'latest.json'))) file = join(await resolveModelDir(ctx.fs, path), 'tokenizer.json');
  if (!(await ctx.fs.exists(file))) throw new Error(`--tokenizer ${path}: no such file`);
  const json = await readTextChecked(ctx.fs, file, { maxBytes: FILE_LIMITS.tokenizer, what: 'a tokenizer.json may have' });
  GPTTokenizer.fromJSON(json, file);
  return { json, file };
}

/** An .onnx file within protobuf's 2 GiB limit, refused before reading when it is not a regular file. */
const readOnnxFile = (ctx: CommandContext, file: string) =>
  readFileChecked(ctx.fs, file, {
    maxBytes: FILE_LIMITS.onnx,
    what: "an .onnx file may have (protobuf's limit; larger models keep their weights in external files)",
  });

export async function exportCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const { values: a } = ctx.parse({
    args: argv,
    options: {
      format: { type: 'string', default: 'onnx' },
      model: { type: 'string' },
      out: { type: 'string' },
      graph: { type: 'string', default: 'decode' },
      'with-tokenizer': { type: 'boolean', default: false },
      'no-head': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (a.help) {
    console.log(EXPORT_HELP);
    return 0;
  }
  if (a.format !== 'onnx') throw new Error(`--format ${a.format}: only "onnx" is supported`);
  if (!a.model) throw new Error('--model is required (a model folder written by gptedge)');
  if (!a.out) throw new Error('--out is required (the .onnx file to write)');
  if (a.graph !== 'decode' && a.graph !== 'logits') throw new Error(`--graph must be "decode" or "logits", got "${a.graph}"`);
  const t0 = Date.now();
  const ck = await loadCheckpoint(ctx.fs, a.model);
  const head = a['no-head'] ? null : await readTaskHead(ctx.fs, ck.dir, ck.config);
  // int8 folders export as QDQ (INT8 initializers + DequantizeLinear); int4 ones their dequantized values
  const int8 = ck.quantized?.kind === 'int8' ? ck.quantized : undefined;
  const params = int8 ? ck.weights : dequantizedWeights(ck.config, ck.weights, ck.quantized);
  const bytes = exportOnnxFromParams(ck.config, params, { graph: a.graph as OnnxGraphKind, head: head ?? undefined, quantized: int8 });
  const dir = a.out.includes('/') ? a.out.slice(0, a.out.lastIndexOf('/')) || '/' : '.';
  await ctx.fs.mkdir(dir);
  await ctx.fs.writeFile(a.out, bytes);
  if (a['with-tokenizer']) {
    if (ck.tokenizerJSON) await ctx.fs.writeFile(join(dir, 'tokenizer.json'), ck.tokenizerJSON);
    await ctx.fs.writeFile(join(dir, 'config.json'), await readText(ctx.fs, join(ck.dir, 'config.json')));
  }
  const c = ck.config;
  const headNote =
    (head ? `, ${head.info.family} head` : '') + (int8 ? ', int8 weights as QDQ' : ck.quantized ? `, ${ck.quantized.kind} weights dequantized to float32` : '');
  console.log(
    `wrote ${a.out}: ${(bytes.length / 1e6).toFixed(1)} MB, ${a.graph} graph${headNote}, opset 17, ${c.nLayer} layers, d ${c.nEmbd}, ${c.layout} (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
  );
  return 0;
}

/**
 * The task head of a fine-tuned folder (src/finetune/io.ts: head.safetensors W_y [C,K], b_y [K] and
 * task.json), or null when the folder has neither file (a pretrained model). One without the other,
 * or shapes that do not fit the task and the model, are errors naming the file.
 */
export async function readTaskHead(fs: FileSystem, dir: string, cfg: GPTConfig): Promise<OnnxTaskHead | null> {
  const taskFile = join(dir, TASK_FILE),
    headFile = join(dir, HEAD_FILE);
  const [hasTask, hasHead] = [await fs.exists(taskFile), await fs.exists(headFile)];
  if (!hasTask && !hasHead) return null;
  if (!hasTask) throw new Error(`${taskFile}: missing (${headFile} is there; a fine-tuned folder has both; --no-head exports the transformer alone)`);
  if (!hasHead) throw new Error(`${headFile}: missing (${taskFile} is there; a fine-tuned folder has both; --no-head exports the transformer alone)`);
  const { spec, maxLen } = await readTaskFile(fs, taskFile);
  const { W, b } = await readHeadFile(fs, headFile, spec, cfg.nEmbd);
  return onnxTaskHead(cfg, { W, b, spec, maxLen });
}

export async function importCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const { values: a } = ctx.parse({
    args: argv,
    options: {
      from: { type: 'string' },
      out: { type: 'string' },
      tokenizer: { type: 'string' },
      heads: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (a.help) {
    console.log(IMPORT_HELP);
    return 0;
  }
  if (!a.from) throw new Error('--from is required (an .onnx file)');
  if (!a.out) throw new Error('--out is required (the model folder to write)');
  if (!a.tokenizer) throw new Error('--tokenizer is required: an ONNX file carries no tokenizer (give a tokenizer.json or a folder with one)');
  let nHead: number | undefined;
  if (a.heads !== undefined) {
    nHead = Number(a.heads);
    if (!(Number.isInteger(nHead) && nHead > 0)) throw new Error(`--heads must be a positive integer, got "${a.heads}"`);
  }
  const { json: tokenizerJSON, file: tokFile } = await tokenizerFrom(ctx, a.tokenizer);
  if (!(await ctx.fs.exists(a.from))) throw new Error(`--from ${a.from}: no such file`);
  const imp = importOnnx(await readOnnxFile(ctx, a.from), { file: a.from, nHead });
  checkTokenizerFits(GPTTokenizer.fromJSON(tokenizerJSON, tokFile), imp.config.vocabSize, tokFile, `the vocabulary of ${a.from}`);
  const model = new GPT(await ctx.createBackend('reference'), imp.config);
  model.writeParams(imp.weights);
  await ctx.fs.mkdir(a.out);
  await writeModelFiles(ctx.fs, a.out, model, tokenizerJSON);
  for (const n of imp.notes) console.log(`note: ${n}`);
  const c = imp.config;
  console.log(`wrote ${a.out}: ${c.nLayer} layers, d ${c.nEmbd}, ${c.nHead} heads, vocab ${c.vocabSize}, context ${c.nCtx}, ${c.layout}`);
  return 0;
}

/** Loads onnxruntime-node (native) or onnxruntime-web (WASM) — whichever is asked for / present. */
export async function loadOrt(kind: string, threads = 1): Promise<{ ort: OrtModuleLike; name: string }> {
  if (kind !== 'auto' && kind !== 'web' && kind !== 'node') throw new Error(`--ort must be web, node or auto, got "${kind}"`);
  if (kind !== 'web') {
    try {
      const m = await import('onnxruntime-node');
      return { ort: ((m as { default?: unknown }).default ?? m) as unknown as OrtModuleLike, name: 'onnxruntime-node' };
    } catch (err) {
      if (kind === 'node') throw new Error(`onnxruntime-node is not available here (${err instanceof Error ? err.message : String(err)}); use --ort web`);
    }
  }
  const m = await importOptional<typeof import('onnxruntime-web')>('onnxruntime-web', 'Running ONNX models (--onnx)');
  m.env.wasm.numThreads = threads;
  return { ort: m as unknown as OrtModuleLike, name: 'onnxruntime-web' };
}

/** `gptedge generate --onnx model.onnx ...`: the same generation, run by ONNX Runtime. */
export async function generateOnnxCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const { values: a } = ctx.parse({
    args: argv,
    options: {
      onnx: { type: 'string' },
      ort: { type: 'string', default: 'auto' },
      threads: { type: 'string', default: '1' },
      tokenizer: { type: 'string' },
      ...SAMPLING_OPTIONS,
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (a.help) {
    console.log(ORT_HELP);
    return 0;
  }
  if (!a.onnx) throw new Error('--onnx is required');
  const sampling = samplingFrom(a);
  const dir = a.onnx.includes('/') ? a.onnx.slice(0, a.onnx.lastIndexOf('/')) : '.';
  const tok = await tokenizerFrom(ctx, a.tokenizer ?? dir);
  const tokenizer = GPTTokenizer.fromJSON(tok.json, tok.file);
  const { ort, name } = await loadOrt(a.ort!, numArg('threads', a.threads!));
  const model = await OrtGPT.create(ort, await readOnnxFile(ctx, a.onnx), { file: a.onnx });
  console.error(`[${name}, ${model.hasPast ? 'decode graph with past key/values' : 'logits graph'}]`);
  await printGeneration(a.prompt!, generateStreamOrt(model, tokenizer, a.prompt!, sampling));
  await model.release();
  return 0;
}
