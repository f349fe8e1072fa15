// A fine-tuned model on disk: the model folder that src/io/checkpoint.ts writes (model.safetensors,
// config.json, tokenizer.json — the tokenizer now holding the special tokens) plus two files:
//
//   head.safetensors   "W_y" (C,K), "b_y" (K)
//   task.json          {"format": "gptedge-task", "version": 1, "family", "labels", "choices", "maxLen", "clfPdrop", ...}
//
// The folder is written under a temporary name and renamed into place, like a checkpoint step folder.
import type { Backend } from '../backend/backend.ts';
import { writeModelFiles } from '../io/checkpoint.ts';
import { join, readText, type FileSystem } from '../io/fs.ts';
import { readSafetensors, writeSafetensors, type NamedTensor } from '../io/safetensors.ts';
import { loadModel } from '../model/load.ts';
import type { GPTOptions } from '../model/gpt.ts';
import { TaskHead } from './head.ts';
import { checkMaxLen, type FinetuneModel } from './finetune.ts';
import { checkFamily, headOutputs, validateSpec, type TaskSpec } from './task.ts';
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
    const t = new Map<string, NamedTensor>([['W_y', { data: W, shape: [ft.head.C, ft.head.K] }], ['b_y', { data: b, shape: [ft.head.K] }]]);
    await fs.writeFile(join(tmp, HEAD_FILE), writeSafetensors(t, { producer: 'gptedge' }));
    const task = { format: 'gptedge-task', version: 1, family: ft.spec.family, labels: ft.spec.labels, choices: ft.spec.choices ?? null, maxLen: ft.maxLen, clfPdrop: ft.head.pdrop, ...extra };
    await fs.writeFile(join(tmp, TASK_FILE), JSON.stringify(task, null, 1) + '\n');
    await fs.remove(dir);
    await fs.rename(tmp, dir);
  } catch (err) {
    await fs.remove(tmp).catch(() => undefined);
    throw err;
  }
  return dir;
}

export async function loadFinetuned(fs: FileSystem, dir: string, backend: Backend, opts: GPTOptions = {}): Promise<FinetuneModel & { task: Record<string, unknown> }> {
  const taskFile = join(dir, TASK_FILE), headFile = join(dir, HEAD_FILE);
  if (!(await fs.exists(taskFile))) throw new Error(`${taskFile}: missing (is ${dir} a fine-tuned model? a pretrained one has no task head)`);
  let task: Record<string, unknown>;
  try {
    task = JSON.parse(await readText(fs, taskFile));
  } catch (err) {
    throw new Error(`${taskFile}: not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (task.format !== 'gptedge-task') throw new Error(`${taskFile}: "format" must be "gptedge-task"`);
  const spec: TaskSpec = { family: checkFamily(String(task.family)), labels: (task.labels as string[]) ?? [] };
  if (spec.family === 'multiple-choice') spec.choices = Number(task.choices);
  try {
    validateSpec(spec);
  } catch (err) {
    throw new Error(`${taskFile}: ${(err as Error).message}`);
  }
  const { model, tokenizer } = await loadModel(fs, dir, backend, opts);
  if (!(await fs.exists(headFile))) throw new Error(`${headFile}: missing`);
  const t = readSafetensors(await fs.readFile(headFile), headFile).tensors;
  const K = headOutputs(spec), C = model.cfg.nEmbd;
  const W = t.get('W_y'), b = t.get('b_y');
  if (!W || W.shape.join(',') !== `${C},${K}`) throw new Error(`${headFile}: tensor W_y must have shape [${C},${K}], got ${W ? `[${W.shape}]` : 'none'}`);
  if (!b || b.shape.join(',') !== `${K}`) throw new Error(`${headFile}: tensor b_y must have shape [${K}], got ${b ? `[${b.shape}]` : 'none'}`);
  const head = new TaskHead(backend, C, K, Number(task.clfPdrop ?? 0.1));
  head.write(W.data, b.data);
  let ids;
  try {
    ids = specialIds(tokenizer);
  } catch (err) {
    throw new Error(`${join(dir, 'tokenizer.json')}: ${(err as Error).message}`);
  }
  return { model, tokenizer, spec, head, ids, maxLen: checkMaxLen(task.maxLen === undefined ? undefined : Number(task.maxLen), model.cfg.nCtx), task };
}
