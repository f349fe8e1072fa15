// gptedge quantize: a model folder's matrices as int8 (per output channel) or int4 (Q4_0 groups of 32),
// in a new folder that generate, serve and the API load as they would any other (docs/quantization.md).
import type { CommandContext } from '../context.ts';
import { quantizeModelFolder } from '../../../src/io/checkpoint.ts';
import { isQuantizedKind } from '../../../src/io/quantized.ts';

const HELP = `usage: gptedge quantize --model <dir> --to int8|int4 --out <dir>

  --model DIR    a model folder or run folder (its latest checkpoint); a fine-tuned folder keeps its task head
  --to KIND      int8: int8 codes, one f32 scale per output channel
                 int4: groups of 32 inputs, 4-bit codes and an f16 scale each (llama.cpp's Q4_0 layout)
  --out DIR      the new folder (must not exist)

The token embedding (also the LM head) and the attention and MLP weights are quantized; position
embeddings, biases and LayerNorm stay f32. Quantized models are for inference: generate and serve
load them as stored (--weights overrides), the WASM backend multiplies them with integer dot products.`;

export async function quantizeCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const { values: a } = ctx.parse({
    args: argv,
    options: { model: { type: 'string' }, to: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (a.help) {
    console.log(HELP);
    return 0;
  }
  if (!a.model || !a.to || !a.out) throw new Error(`quantize: --model, --to and --out are required\n\n${HELP}`);
  if (!isQuantizedKind(a.to)) throw new Error(`quantize: --to must be int8 or int4, got "${a.to}"`);
  const t0 = Date.now();
  const r = await quantizeModelFolder(ctx.fs, a.model, a.out, a.to);
  const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  console.log(`quantized ${a.model} to ${a.to}: ${r.dir}/model.safetensors ${mb(r.from)} -> ${mb(r.to)} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  return 0;
}
