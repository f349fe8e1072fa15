// `gptedge` — the command line: pretrain | generate | tokenizer (and the commands later issues add).
import { parseArgs } from 'node:util';
import { createBackend } from './backends.ts';
import { NodeFileSystem } from './node-fs.ts';
import { pretrainCommand } from './commands/pretrain.ts';
import { generateCommand } from './commands/generate.ts';
import { exportCommand, importCommand, generateOnnxCommand } from './commands/onnx.ts';
import { finetuneCommand, evalCommand } from './commands/finetune.ts';
import { serveCommand } from './commands/serve.ts';
import { quantizeCommand } from './commands/quantize.ts';

const USAGE = `gptedge — GPT (Radford et al. 2018): pretrain, fine-tune and serve anywhere JavaScript runs

usage: gptedge <command> [options]

commands:
  pretrain    pretrain a model on text (L1, next-token prediction)
  generate    generate text from a trained model
  finetune    fine-tune a pretrained model on labelled data (L3 = L2 + λ·L1)
  eval        accuracy, F1 and confusion matrix of a fine-tuned model
  tokenizer   train a byte-level BPE tokenizer (gptedge tokenizer train --help)
  serve       serve models over HTTP: OpenAI-compatible /v1/completions (SSE), /v1/classify, /v1/score, training jobs (--jobs DIR)
  export      export a model as ONNX (gptedge export --format onnx --model <dir> --out model.onnx)
  import      import ONNX GPT-2/openai-gpt weights (gptedge import --from model.onnx --out <dir> --tokenizer <tokenizer.json>)
  quantize    int8 / int4 weights for inference (gptedge quantize --model <dir> --to int8|int4 --out <dir>)

run 'gptedge <command> --help' for a command's options`;

export interface CommandContext {
  fs: NodeFileSystem;
  createBackend: typeof createBackend;
  parse: typeof parseArgs;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const ctx: CommandContext = { fs: new NodeFileSystem(), createBackend, parse: parseArgs };
  switch (cmd) {
    case 'pretrain':
      return pretrainCommand(rest, ctx);
    case 'generate':
      return rest.includes('--onnx') ? generateOnnxCommand(rest, ctx) : generateCommand(rest, ctx);
    case 'finetune':
      return finetuneCommand(rest, ctx);
    case 'eval':
      return evalCommand(rest, ctx);
    case 'serve':
      return serveCommand(rest, ctx);
    case 'export':
      return exportCommand(rest, ctx);
    case 'import':
      return importCommand(rest, ctx);
    case 'quantize':
      return quantizeCommand(rest, ctx);
    case 'tokenizer': {
      const { tokenizerCommand } = await import('./commands/tokenizer.ts');
      await tokenizerCommand(rest);
      return 0;
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      console.log(USAGE);
      return cmd === undefined ? 1 : 0;
    default:
      console.error(`gptedge: unknown command "${cmd}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`gptedge: ${err instanceof Error ? err.message : String(err)}`);
    if (process.env.GPTEDGE_DEBUG) console.error(err);
    process.exit(1);
  },
);
