// Opening model folders for serving: a fine-tuned folder (task.json + head) serves classify/score as
// well as completions; a pretrained folder or run folder serves completions and score.
import type { Backend } from '../src/backend/backend.ts';
import { join, type FileSystem } from '../src/io/fs.ts';
import { loadModel } from '../src/model/load.ts';
import type { GPTOptions } from '../src/model/gpt.ts';
import { loadFinetuned, TASK_FILE } from '../src/finetune/index.ts';
import type { ServedModel } from './hono.ts';

/** "id=dir" or "dir" (the id is then the folder's name). */
export function parseModelArg(spec: string): { id: string; dir: string } {
  const eq = spec.indexOf('=');
  if (eq > 0 && !spec.slice(0, eq).includes('/')) return { id: spec.slice(0, eq), dir: spec.slice(eq + 1) };
  const dir = spec.replace(/\/+$/, '');
  return { id: dir.split('/').pop() || dir, dir };
}

export async function loadServedModel(fs: FileSystem, dir: string, backend: Backend, opts: GPTOptions = {}): Promise<ServedModel> {
  if (await fs.exists(join(dir, TASK_FILE))) return loadFinetuned(fs, dir, backend, opts);
  const { model, tokenizer } = await loadModel(fs, dir, backend, opts);
  return { model, tokenizer };
}
