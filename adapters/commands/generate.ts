// gptedge generate: stream text from a trained model folder.
import type { CommandContext } from '../cli.ts';
import { loadModel } from '../../src/model/load.ts';
import { generateStream } from '../../src/infer/generate.ts';

const HELP = `usage: gptedge generate --model <dir> --prompt "text" [options]

  --model DIR          a run folder (its latest checkpoint) or a step folder
  --prompt TEXT        the text to continue (default: start from <|endoftext|>)
  --max-tokens N       tokens to generate (default 100)
  --temperature X      0 = greedy (default 0.8)
  --top-k N            sample among the N most likely tokens (default 40; 0 = all)
  --top-p X            nucleus sampling threshold (default 1)
  --seed N             sampling seed (default 0)
  --stop S             stop before this string; repeatable
  --backend B          auto | wasm | webgpu | reference (default auto)`;

export async function generateCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const { values: a } = ctx.parse({
    args: argv,
    options: {
      model: { type: 'string' }, prompt: { type: 'string', default: '' }, 'max-tokens': { type: 'string', default: '100' },
      temperature: { type: 'string', default: '0.8' }, 'top-k': { type: 'string', default: '40' }, 'top-p': { type: 'string', default: '1' },
      seed: { type: 'string', default: '0' }, stop: { type: 'string', multiple: true }, backend: { type: 'string', default: 'auto' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (a.help) {
    console.log(HELP);
    return 0;
  }
  if (!a.model) throw new Error('--model is required (a folder written by gptedge pretrain)');
  const num = (name: string, v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got "${v}"`);
    return n;
  };
  const { model, tokenizer } = await loadModel(ctx.fs, a.model, await ctx.createBackend(a.backend!));
  process.stdout.write(a.prompt!);
  for await (const c of generateStream(model, tokenizer, a.prompt!, {
    maxTokens: num('max-tokens', a['max-tokens']!), temperature: num('temperature', a.temperature!), topK: num('top-k', a['top-k']!),
    topP: num('top-p', a['top-p']!), seed: num('seed', a.seed!), stop: a.stop,
  })) {
    process.stdout.write(c.text);
    if (c.done) process.stdout.write(`\n[${c.finishReason}]\n`);
  }
  return 0;
}
