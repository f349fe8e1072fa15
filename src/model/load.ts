// Opening a model folder (or run folder) on a backend, and building a new model, in one place for
// the CLI, the HTTP app and user code. Model, config and tokenizer must agree: every tokenizer id must
// be inside the model's vocabulary. A tokenizer smaller than the vocabulary is fine (GPT-2's padded
// vocabularies are): generation only samples ids the tokenizer can decode (src/infer/generate.ts).
import type { Backend } from '../backend/backend.ts';
import type { FileSystem } from '../io/fs.ts';
import { join, readTextChecked } from '../io/fs.ts';
import { FILE_LIMITS } from '../io/limits.ts';
import { FileFormatError } from '../io/errors.ts';
import { loadCheckpoint, type LoadedCheckpoint, type LoadOptions } from '../io/checkpoint.ts';
import { GPTTokenizer } from '../tokenizer/tokenizer.ts';
import { GPT, type GPTOptions } from './gpt.ts';
import { codesOf, dequantizedWeights, isQuantizedKind, scalesOf, WEIGHTS_META } from '../io/quantized.ts';
import { configFromHF } from '../io/hf-config.ts';
import { parseJSON, quote } from '../io/errors.ts';
import { checkFinite, decodeTensor, LITTLE_ENDIAN, streamSafetensors, type SafetensorsHeader, type TensorPiece } from '../io/safetensors.ts';
import { matchQuantizedWeights, matchWeights } from '../io/checkpoint.ts';
import { tokenizerJSONFromVocabMerges } from '../tokenizer/hf-files.ts';

export interface LoadedModel {
  model: GPT;
  tokenizer: GPTTokenizer;
  checkpoint: LoadedCheckpoint;
}

export interface LoadModelOptions extends GPTOptions, Omit<LoadOptions, 'resume'> {
  /**
   * resume training: also load train_state.json and the Adam moments (required unless resetOptimizer),
   * in checkpoint.optimizer for the optimizer to continue from (AdamW.writeState)
   */
  withOptimizer?: boolean;
}

export async function loadModel(fs: FileSystem, path: string, backend: Backend, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const ck = await loadCheckpoint(fs, path, { resume: opts.withOptimizer, resetOptimizer: opts.resetOptimizer, allowNonFinite: opts.allowNonFinite });
  const older = ck.tokenizerJSON === null ? await olderTokenizerFiles(fs, ck.dir) : null;
  const tokFile = older ? older.file : join(ck.dir, 'tokenizer.json');
  const tokenizer = GPTTokenizer.fromJSON(older ? older.json : ck.tokenizerJSON!, tokFile);
  checkTokenizerFits(tokenizer, ck.config.vocabSize, tokFile, `vocab_size in ${join(ck.dir, 'config.json')}`);
  // weights as the folder stores them unless asked otherwise (a quantized file asked for f32 is dequantized)
  const kind = opts.weights ?? ck.quantized?.kind ?? 'f32';
  const model = new GPT(backend, ck.config, { weights: kind, kvCache: opts.kvCache });
  if (ck.quantized?.kind === kind) {
    for (const [name, q] of ck.quantized.tensors) model.writeQuantizedParam(name, q);
    for (const [name, v] of ck.weights) model.writeParam(name, v);
  } else {
    model.writeParams(dequantizedWeights(ck.config, ck.weights, ck.quantized));
  }
  return { model, tokenizer, checkpoint: ck };
}

/** Every id the tokenizer produces must be a row of the model's embedding; `where` says where vocabSize came from. */
export function checkTokenizerFits(tok: GPTTokenizer, vocabSize: number, tokFile: string, where: string): void {
  if (tok.vocabSize > vocabSize) {
    throw new FileFormatError(
      tokFile,
      `${tokFile.split('/').pop()} has ids up to ${tok.vocabSize - 1}, outside the model's vocabulary of ${vocabSize} (${where})`,
    );
  }
}

/** A folder without tokenizer.json may hold Hugging Face's older pair, vocab.json + merges.txt. */
async function olderTokenizerFiles(fs: FileSystem, dir: string): Promise<{ json: Record<string, unknown>; file: string }> {
  const vocab = join(dir, 'vocab.json'),
    merges = join(dir, 'merges.txt');
  if (!(await fs.exists(vocab)) || !(await fs.exists(merges))) {
    throw new FileFormatError(join(dir, 'tokenizer.json'), 'missing (a model folder needs its tokenizer: tokenizer.json, or vocab.json + merges.txt)');
  }
  const text = (f: string) => readTextChecked(fs, f, { maxBytes: FILE_LIMITS.tokenizer, what: `${f.split('/').pop()} may have` });
  return { json: tokenizerJSONFromVocabMerges(await text(vocab), await text(merges), vocab), file: vocab };
}

export async function loadModelStream(
  files: { config: string; tokenizer: string; weights: ReadableStream<Uint8Array> },
  backend: Backend,
  opts: GPTOptions & {
    dir?: string;
    /** bytes read from the stream at a time (default 1 MiB) */
    pieceBytes?: number;
    /** awaited after each piece: a server passes a macrotask yield so that other requests (and an inspector) run during a long load */
    between?: () => Promise<void>;
  } = {},
): Promise<{ model: GPT; tokenizer: GPTTokenizer }> {
  const dir = opts.dir ?? 'model',
    cfgFile = join(dir, 'config.json'),
    file = join(dir, 'model.safetensors'),
    tokFile = join(dir, 'tokenizer.json');
  const config = configFromHF(parseJSON(files.config, cfgFile), cfgFile);
  const tokenizer = GPTTokenizer.fromJSON(files.tokenizer, tokFile);
  checkTokenizerFits(tokenizer, config.vocabSize, tokFile, `vocab_size in ${cfgFile}`);
  const { header, pieces } = await streamSafetensors(files.weights, file, opts.pieceBytes);
  const kind = header.metadata[WEIGHTS_META];
  if (kind !== undefined && !isQuantizedKind(kind))
    throw new FileFormatError(file, `metadata ${WEIGHTS_META} is ${quote(kind)}; int8 and int4 are known`, { field: WEIGHTS_META });
  const weights = opts.weights ?? kind ?? 'f32';
  if (kind && weights !== kind) throw new Error(`${file}: holds ${kind} weights; streamed, they load as stored (loadModel converts a whole file)`);
  // the header is checked against the config before a byte of data is read
  const f32 = new Map<string, string>(),
    codes = new Map<string, { param: string; N: number }>(),
    scaleOf = new Map<string, string>();
  if (kind) {
    const m = matchQuantizedWeights(header, config, kind, cfgFile, file);
    for (const [name, e] of m.f32) f32.set(e.name, name);
    for (const [name, q] of m.quantized) {
      codes.set(q.codes.name, { param: name, N: q.N });
      scaleOf.set(q.scale.name, name);
    }
  } else for (const [name, e] of matchWeights(header, config, cfgFile, file)) f32.set(e.name, name);
  const model = new GPT(backend, config, { weights, kvCache: opts.kvCache });
  try {
    const parts = new Map<string, Uint8Array>(); // tensors being assembled from their pieces
    const scales = new Map<string, Float32Array>(); // a quantized matrix's scales, until its codes are in
    const waiting = new Map<string, Uint8Array>(); // codes that came before their scales (a file in another order)
    const carry = new Map<string, { rows: number; rest: Uint8Array; have: number }>(); // codes streamed row by row
    // Garbage is what an edge isolate pays for at its peak (its limit counts V8's heap, array buffers and WASM
    // memory together, collected or not): f32 tensors go to the backend piece by piece, and the scales of the
    // matrix being streamed are decoded into one reused array.
    let scaleScratch = new Float32Array(0),
      scratchHeldBy: string | null = null; // whose scales scaleScratch holds until its codes are in
    const decodeScales = (name: string, b: Uint8Array): Float32Array => {
      const n = b.length / (kind === 'int8' ? 4 : 2);
      if (scratchHeldBy !== null) return scalesOf(kind!, b); // a file with two matrices' scales before their codes
      if (scaleScratch.length < n) scaleScratch = new Float32Array(n);
      scratchHeldBy = name;
      return scalesOf(kind!, b, scaleScratch);
    };
    // a tensor in one piece needs no assembly (its bytes are valid until the next piece is read)
    const inOnePiece = (p: TensorPiece) => p.offset === 0 && p.bytes.length === p.total;
    const assemble = (p: TensorPiece): Uint8Array | null => {
      if (inOnePiece(p)) return p.bytes;
      const buf = parts.get(p.name) ?? new Uint8Array(p.total);
      buf.set(p.bytes, p.offset);
      if (p.offset + p.bytes.length < p.total) {
        parts.set(p.name, buf);
        return null;
      }
      parts.delete(p.name);
      return buf;
    };
    const whole = (e: { name: string; dtype: string; shape: number[] }, bytes: Uint8Array): Float32Array => {
      const h: SafetensorsHeader = { ...header, dataStart: 0 };
      return decodeTensor(
        bytes,
        h,
        { name: e.name, dtype: e.dtype, shape: e.shape, numel: e.shape.reduce((a, b) => a * b, 1), begin: 0, end: bytes.length },
        file,
      );
    };
    for await (const p of pieces) {
      if (opts.between) await opts.between();
      const fp = f32.get(p.name),
        cp = codes.get(p.name),
        sp = scaleOf.get(p.name);
      if (fp) {
        if (p.dtype === 'F32' && LITTLE_ENDIAN && !model.storedTransposed(fp) && (p.bytes.byteOffset | p.offset | p.bytes.length) % 4 === 0) {
          const v = new Float32Array(p.bytes.buffer, p.bytes.byteOffset, p.bytes.length / 4);
          checkFinite(v, file, p.name, p.offset / 4);
          model.writeParamPart(fp, v, p.offset / 4);
          continue;
        }
        const b = assemble(p);
        if (b) model.writeParam(fp, whole(p, b));
      } else if (sp) {
        const b = assemble(p);
        if (!b) continue;
        const early = waiting.get(sp),
          s = early ? scalesOf(kind!, b) : decodeScales(sp, b);
        for (let i = 0; i < s.length; i++)
          if (!Number.isFinite(s[i])) throw new FileFormatError(file, `tensor ${p.name} holds a non-finite scale (${s[i]}) at index ${i}`, { field: p.name });
        if (early) {
          waiting.delete(sp);
          model.writeQuantizedParam(sp, { codes: codesOf(kind!, early), scales: s });
        } else scales.set(sp, s);
      } else if (cp) {
        const s = scales.get(cp.param);
        if (!s) {
          const b = assemble(p); // scales still to come: keep the codes (a copy: a piece is reused)
          if (b) waiting.set(cp.param, inOnePiece(p) ? b.slice() : b);
          continue;
        }
        // scales in hand: whole rows are written as they arrive, straight from the piece; a row split
        // between pieces waits in a one-row buffer (no piece-sized copies: they would be garbage to collect)
        const rowBytes = p.total / cp.N,
          sc = s.length / cp.N;
        const c = carry.get(cp.param) ?? { rows: 0, rest: new Uint8Array(rowBytes), have: 0 };
        const write = (bytes: Uint8Array, n: number) => {
          model.writeQuantizedParam(cp.param, { codes: codesOf(kind!, bytes), scales: s.subarray(c.rows * sc, (c.rows + n) * sc) }, c.rows);
          c.rows += n;
        };
        let at = 0;
        if (c.have > 0) {
          at = Math.min(rowBytes - c.have, p.bytes.length);
          c.rest.set(p.bytes.subarray(0, at), c.have);
          c.have += at;
          if (c.have === rowBytes) {
            write(c.rest, 1);
            c.have = 0;
          }
        }
        const n = Math.floor((p.bytes.length - at) / rowBytes);
        if (n > 0) write(p.bytes.subarray(at, at + n * rowBytes), n);
        at += n * rowBytes;
        if (at < p.bytes.length) {
          c.rest.set(p.bytes.subarray(at), c.have);
          c.have += p.bytes.length - at;
        }
        carry.set(cp.param, c);
        if (c.rows === cp.N) {
          carry.delete(cp.param);
          scales.delete(cp.param);
          if (scratchHeldBy === cp.param) scratchHeldBy = null;
        }
      }
      // anything else: HF buffers, a tied lm_head (matchWeights let them through)
    }
  } catch (err) {
    model.free();
    throw err;
  }
  return { model, tokenizer };
}
