// Opening a model folder (or run folder) on a backend, and building a new model, in one place for
// the CLI, the HTTP app and user code.
import type { Backend } from '../backend/backend.ts';
import type { FileSystem } from '../io/fs.ts';
import { loadCheckpoint, type LoadedCheckpoint } from '../io/checkpoint.ts';
import { checkQuantizedTensor, codesOf, dequantizedWeights, isQuantizedKind, quantizedParam, scalesOf, storedShape, WEIGHTS_META } from '../io/quantized.ts';
import { configFromHF } from '../io/hf-config.ts';
import { familyOf, fromHF, toHF } from '../io/hf-names.ts';
import { floatTensors, streamSafetensors, type TensorPiece } from '../io/safetensors.ts';
import { GPTTokenizer } from '../tokenizer/tokenizer.ts';
import { GPT, type GPTOptions } from './gpt.ts';
import type { GPTConfig } from './config.ts';
import { paramSpecs } from './params.ts';

export interface LoadedModel {
  model: GPT;
  tokenizer: GPTTokenizer;
  checkpoint: LoadedCheckpoint;
}

export async function loadModel(fs: FileSystem, path: string, backend: Backend, opts: { withOptimizer?: boolean } & GPTOptions = {}): Promise<LoadedModel> {
  const ck = await loadCheckpoint(fs, path);
  if (!ck.tokenizerJSON) throw new Error(`${ck.dir}/tokenizer.json: missing (a model folder needs its tokenizer)`);
  const tokenizer = openTokenizer(ck.tokenizerJSON, ck.config, ck.dir);
  // weights as the folder stores them unless asked otherwise (a quantized file asked for f32 is dequantized)
  const kind = opts.weights ?? ck.quantized?.kind ?? 'f32';
  const model = new GPT(backend, ck.config, { weights: kind });
  if (ck.quantized?.kind === kind) {
    for (const [name, q] of ck.quantized.tensors) model.writeQuantizedParam(name, q);
    for (const [name, v] of ck.weights) model.writeParam(name, v);
  } else {
    model.writeParams(dequantizedWeights(ck.config, ck.weights, ck.quantized));
  }
  if (opts.withOptimizer && ck.optimizer) model.writeMoments(ck.optimizer.m, ck.optimizer.v, Number(ck.trainState?.optimizerStep ?? ck.trainState?.step ?? 0));
  return { model, tokenizer, checkpoint: ck };
}

function openTokenizer(json: string, config: GPTConfig, dir: string): GPTTokenizer {
  const tokenizer = GPTTokenizer.fromJSON(json);
  if (tokenizer.vocabSize > config.vocabSize) throw new Error(`${dir}: tokenizer.json has ${tokenizer.vocabSize} tokens but the model's vocabulary holds ${config.vocabSize}`);
  return tokenizer;
}

/**
 * A model whose files arrive over the network (a worker's fetch or binding): config.json and
 * tokenizer.json as text, model.safetensors as a stream written into the backend tensor by tensor, so
 * the weights never sit whole in JS memory beside the backend's copy. An f32 file loads into any
 * `weights` (quantized on load); an int8/int4 file loads as stored.
 */
export async function loadModelStream(
  files: { config: string; tokenizer: string; weights: ReadableStream<Uint8Array> }, backend: Backend,
  opts: GPTOptions & {
    dir?: string;
    /** bytes read from the stream at a time (default 1 MiB) */
    pieceBytes?: number;
    /** awaited after each piece: a server passes a macrotask yield so that other requests (and an inspector) run during a long load */
    between?: () => Promise<void>;
  } = {},
): Promise<{ model: GPT; tokenizer: GPTTokenizer }> {
  const dir = opts.dir ?? 'model', file = `${dir}/model.safetensors`;
  let cfgJSON: Record<string, unknown>;
  try {
    cfgJSON = JSON.parse(files.config);
  } catch (err) {
    throw new Error(`${dir}/config.json: not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const config = configFromHF(cfgJSON, `${dir}/config.json`);
  const tokenizer = openTokenizer(files.tokenizer, config, dir);
  const st = await streamSafetensors(files.weights, file, opts.pieceBytes);
  const kind = st.metadata[WEIGHTS_META];
  if (kind !== undefined && !isQuantizedKind(kind)) throw new Error(`${file}: metadata ${WEIGHTS_META} is ${JSON.stringify(kind)}; int8 and int4 are known`);
  const weights = opts.weights ?? kind ?? 'f32';
  if (kind && weights !== kind) throw new Error(`${file}: holds ${kind} weights; streamed, they load as stored (loadModel converts a whole file)`);
  const model = new GPT(backend, config, { weights });
  try {
    const fam = familyOf(config), specs = new Map(paramSpecs(config).map((s) => [s.name, s]));
    const parts = new Map<string, Uint8Array>(); // tensors being assembled from their pieces
    const scales = new Map<string, Float32Array>(); // a quantized matrix's scales, until its codes are in
    const carry = new Map<string, { rows: number; rest: Uint8Array; have: number }>(); // codes streamed row by row
    const done = new Set<string>();
    const assemble = (p: TensorPiece): Uint8Array | null => {
      const buf = parts.get(p.name) ?? new Uint8Array(p.total);
      buf.set(p.bytes, p.offset);
      if (p.offset + p.bytes.length < p.total) {
        parts.set(p.name, buf);
        return null;
      }
      parts.delete(p.name);
      return buf;
    };
    for await (const p of st.tensors) {
      if (opts.between) await opts.between();
      const isScale = kind !== undefined && p.name.endsWith('_scale'), param = fromHF(isScale ? p.name.slice(0, -6) : p.name);
      const spec = specs.get(param);
      if (!spec) continue; // HF buffers, a tied lm_head: as loadCheckpoint ignores them
      if (!(kind && quantizedParam(param))) {
        const b = assemble(p);
        if (!b) continue;
        const v = floatTensors(new Map([[p.name, { dtype: p.dtype, shape: p.shape, bytes: b }]]), file).get(p.name)!;
        if (v.shape.join(',') !== spec.shape.join(',')) throw new Error(`${file}: tensor ${p.name} has shape [${v.shape}], the config needs [${spec.shape}]`);
        model.writeParam(param, v.data);
        done.add(param);
        continue;
      }
      const [N, K] = storedShape(spec), hf = toHF(param, fam);
      if (p.offset === 0) checkQuantizedTensor(kind, isScale ? 'scale' : '', p, N, K, hf, file);
      if (isScale) {
        const b = assemble(p);
        if (!b) continue;
        const s = scalesOf(kind, b), codes = parts.get(`${p.name.slice(0, -6)}:done`);
        if (codes) {
          // the codes came first (a file in another data order): written whole
          parts.delete(`${p.name.slice(0, -6)}:done`);
          model.writeQuantizedParam(param, { codes: codesOf(kind, codes), scales: s });
          done.add(param);
        } else scales.set(param, s);
        continue;
      }
      const s = scales.get(param);
      if (!s) {
        const b = assemble(p); // scales still to come: keep the codes
        if (b) parts.set(`${p.name}:done`, b);
        continue;
      }
      // scales in hand: whole rows are written as they arrive, straight from the piece; a row split
      // between pieces waits in a one-row buffer (no piece-sized copies: they would be garbage to collect)
      const rowBytes = p.total / N, sc = s.length / N;
      const c = carry.get(param) ?? { rows: 0, rest: new Uint8Array(rowBytes), have: 0 };
      const write = (bytes: Uint8Array, n: number) => {
        model.writeQuantizedParam(param, { codes: codesOf(kind, bytes), scales: s.subarray(c.rows * sc, (c.rows + n) * sc) }, c.rows);
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
      carry.set(param, c);
      if (c.rows === N) {
        carry.delete(param);
        scales.delete(param);
        done.add(param);
      }
    }
    for (const sp of specs.values()) {
      if (done.has(sp.name)) continue;
      const hf = toHF(sp.name, fam);
      throw new Error(`${file}: tensor ${parts.has(`${hf}:done`) ? `${hf}_scale` : hf} is missing`); // codes without scales, or nothing
    }
  } catch (err) {
    model.free();
    throw err;
  }
  return { model, tokenizer };
}
