// A fine-tuned model on disk: the model folder that src/io/checkpoint.ts writes (model.safetensors,
// config.json, tokenizer.json — the tokenizer now holding the special tokens) plus two files:
//
//   head.safetensors   "W_y" (C,K), "b_y" (K)
//   task.json          {"format": "gptedge-task", "version": 1, "family", "labels", "choices", "maxLen", "clfPdrop", ...}
//
// The folder is written under a temporary name and renamed into place, like a checkpoint step folder.
import type { Backend } from '../backend/backend.ts';
import { writeModelFiles } from '../io/checkpoint.ts';
import { asFileError, FileFormatError, parseJSONObject, quote } from '../io/errors.ts';
import { join, readFileChecked, readTextChecked, type FileSystem } from '../io/fs.ts';
import { FILE_LIMITS } from '../io/limits.ts';
import { readSafetensors, writeSafetensors, type NamedTensor } from '../io/safetensors.ts';
import { decodeText } from '../io/text.ts';
import { loadModel } from '../model/load.ts';
import type { GPTOptions } from '../model/gpt.ts';
import { TaskHead } from './head.ts';
import { checkMaxLen, type FinetuneModel } from './finetune.ts';
import { familyOf, headDescription, headOutputs, taskSpec, validateSpec, type TaskFamily, type TaskSpec } from './task.ts';
import { DATA_LIMITS, readDataset, type Dataset, type ReadOptions } from './dataset.ts';
import { specialIds } from './transform.ts';

export const TASK_FILE = 'task.json';
export const HEAD_FILE = 'head.safetensors';

export async function saveFinetuned(fs: FileSystem, dir: string, ft: FinetuneModel, extra: Record<string, unknown> = {}): Promise<string> {
  const parent = dir.includes('/') ? dir.slice(0, dir.lastIndexOf('/')) : '.';
  const tmp = join(parent, `.${dir.split('/').pop()}.${Math.random().toString(36).slice(2, 8)}.tmp`);
  await fs.mkdir(tmp);
  try {
    await writeModelFiles(fs, tmp, ft.model, ft.tokenizer.toJSON());
    const { W, b } = await ft.head.read();
    const t = new Map<string, NamedTensor>([
      ['W_y', { data: W, shape: [ft.head.C, ft.head.K] }],
      ['b_y', { data: b, shape: [ft.head.K] }],
    ]);
    await fs.writeFile(join(tmp, HEAD_FILE), writeSafetensors(t, { producer: 'gptedge' }));
    const task = {
      format: 'gptedge-task',
      version: 1,
      family: ft.spec.family,
      labels: ft.spec.labels,
      choices: ft.spec.choices ?? null,
      maxLen: ft.maxLen,
      clfPdrop: ft.head.pdrop,
      ...extra,
    };
    await fs.writeFile(join(tmp, TASK_FILE), JSON.stringify(task, null, 1) + '\n');
    await fs.remove(dir);
    await fs.rename(tmp, dir);
  } catch (err) {
    await fs.remove(tmp).catch(() => undefined);
    throw err;
  }
  return dir;
}

/** task.json, checked: the task it declares and the settings of its head. */
export interface TaskFile {
  spec: TaskSpec;
  maxLen?: number;
  clfPdrop: number;
  task: Record<string, unknown>;
}

/** Read and check a fine-tuned folder's task.json (errors name the file and the field). */
export async function readTaskFile(fs: FileSystem, file: string): Promise<TaskFile> {
  const task = parseJSONObject(await readTextChecked(fs, file, { maxBytes: FILE_LIMITS.config, what: 'a task.json may have' }), file);
  const fail = (detail: string, field: string): never => {
    throw new FileFormatError(file, detail, { field });
  };
  if (task.format !== 'gptedge-task') fail('"format" must be "gptedge-task"', 'format');
  const labels = task.labels ?? [];
  if (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string')) fail(`"labels" must be an array of strings, got ${quote(labels)}`, 'labels');
  let spec: TaskSpec;
  try {
    spec = validateSpec(taskSpec(String(task.family), labels as string[], task.choices as number | null));
  } catch (err) {
    throw asFileError(file, err, { field: 'family' });
  }
  if ((spec.choices ?? 0) > DATA_LIMITS.choices) fail(`"choices" ${spec.choices} is more than the limit of ${DATA_LIMITS.choices}`, 'choices');
  const maxLen = task.maxLen ?? undefined;
  if (maxLen !== undefined && !Number.isSafeInteger(maxLen)) fail(`"maxLen" must be an integer, got ${quote(maxLen)}`, 'maxLen');
  const clfPdrop = task.clfPdrop ?? 0.1;
  if (!(typeof clfPdrop === 'number' && clfPdrop >= 0 && clfPdrop < 1)) fail(`"clfPdrop" must be in [0, 1), got ${quote(clfPdrop)}`, 'clfPdrop');
  return { spec: spec!, maxLen: maxLen as number | undefined, clfPdrop: clfPdrop as number, task };
}

/** Read head.safetensors: W_y [C, K] and b_y [K] for the task (errors name the file, the tensor and the expected shape). */
export async function readHeadFile(fs: FileSystem, file: string, spec: TaskSpec, C: number): Promise<{ W: Float32Array; b: Float32Array }> {
  const t = readSafetensors(await readFileChecked(fs, file, { maxBytes: FILE_LIMITS.safetensors, what: 'a head.safetensors may have' }), file).tensors;
  const K = headOutputs(spec),
    W = t.get('W_y'),
    b = t.get('b_y');
  const what = familyOf(spec).classes === 'labels' ? `${headDescription(spec)} in ${TASK_FILE}` : headDescription(spec);
  if (!W || W.shape.join(',') !== `${C},${K}`)
    throw new FileFormatError(file, `tensor W_y must have shape [${C},${K}] (d_model ${C}, ${spec.family}: ${what}), got ${W ? `[${W.shape}]` : 'none'}`, {
      field: 'W_y',
    });
  if (!b || b.shape.join(',') !== `${K}`)
    throw new FileFormatError(file, `tensor b_y must have shape [${K}] (${spec.family}: ${what}), got ${b ? `[${b.shape}]` : 'none'}`, { field: 'b_y' });
  return { W: W.data, b: b.data };
}

/** A labelled data file (JSONL or CSV): a regular file within FILE_LIMITS.taskData, valid UTF-8, every example checked. */
export async function readDatasetFile(fs: FileSystem, file: string, family: TaskFamily, opts: ReadOptions = {}): Promise<Dataset> {
  return readDataset(decodeText(await readFileChecked(fs, file, { maxBytes: FILE_LIMITS.taskData, what: 'a data file may have' }), file), family, file, opts);
}

export async function loadFinetuned(
  fs: FileSystem,
  dir: string,
  backend: Backend,
  opts: GPTOptions = {},
): Promise<FinetuneModel & { task: Record<string, unknown> }> {
  const taskFile = join(dir, TASK_FILE),
    headFile = join(dir, HEAD_FILE);
  if (!(await fs.exists(taskFile))) throw new FileFormatError(taskFile, `missing (is ${dir} a fine-tuned model? a pretrained one has no task head)`);
  const { spec, maxLen, clfPdrop, task } = await readTaskFile(fs, taskFile);
  const { model, tokenizer } = await loadModel(fs, dir, backend, opts);
  if (!(await fs.exists(headFile))) throw new FileFormatError(headFile, 'missing');
  const { W, b } = await readHeadFile(fs, headFile, spec, model.cfg.nEmbd);
  const head = new TaskHead(backend, model.cfg.nEmbd, headOutputs(spec), clfPdrop);
  head.write(W, b);
  let ids;
  try {
    ids = specialIds(tokenizer);
  } catch (err) {
    throw asFileError(join(dir, 'tokenizer.json'), err);
  }
  return { model, tokenizer, spec, head, ids, maxLen: checkMaxLen(maxLen, model.cfg.nCtx), task };
}
