// gptedge generate: stream text from a trained model folder.
import type { CommandContext } from '../context.ts';
import { loadModel } from '../../../src/model/load.ts';
import { generateStream } from '../../../src/infer/generate.ts';
import {
  KV_CACHE_HELP,
  KV_CACHE_OPTION,
  kvCacheFrom,
  printGeneration,
  SAMPLING_HELP,
  SAMPLING_OPTIONS,
  samplingFrom,
  WEIGHTS_HELP,
  WEIGHTS_OPTION,
  weightsFrom,
} from '../args.ts';

const HELP = `usage: gptedge generate --model <dir> --prompt "text" [options]

  --model DIR          a run folder (its latest checkpoint) or a step folder
${SAMPLING_HELP}
  --backend B          auto | wasm | webgpu | reference (default auto)
${WEIGHTS_HELP}
${KV_CACHE_HELP}
  --allow-non-finite   load weights holding NaN or Inf (to look at a diverged run; refused by default)
  --onnx FILE          run an exported model through ONNX Runtime instead (gptedge generate --onnx --help)`;

export async function generateCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const { values: a } = ctx.parse({
    args: argv,
    options: {
      model: { type: 'string' },
      ...SAMPLING_OPTIONS,
      ...WEIGHTS_OPTION,
      ...KV_CACHE_OPTION,
      backend: { type: 'string', default: 'auto' },
      'allow-non-finite': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (a.help) {
    console.log(HELP);
    return 0;
  }
  if (!a.model) throw new Error('--model is required (a folder written by gptedge pretrain)');
  const sampling = samplingFrom(a);
  const weights = weightsFrom(a),
    kvCache = kvCacheFrom(a);
  const { model, tokenizer } = await loadModel(ctx.fs, a.model, await ctx.createBackend(a.backend!), {
    weights,
    kvCache,
    allowNonFinite: a['allow-non-finite'],
  });
  await printGeneration(a.prompt!, generateStream(model, tokenizer, a.prompt!, sampling));
  return 0;
}
