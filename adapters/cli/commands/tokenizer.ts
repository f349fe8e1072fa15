// gptedge tokenizer train: learn a byte-level BPE vocabulary on a corpus and write tokenizer.json.
import { parseArgs } from 'node:util';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SPECIAL_TOKENS } from '../../../src/tokenizer/tokenizer.ts';
import { trainBPE } from '../../../src/tokenizer/train.ts';
import { loadCorpus } from '../corpora.ts';
import { formatDuration } from '../progress.ts';

const HELP = `usage: gptedge tokenizer train --corpus <moby-dick|sotu|file...> [--merges N] [--out tokenizer.json]

  --corpus SRC         moby-dick, sotu, or a text file; repeat (or list after one --corpus) for several
  --encoding E         the text files' encoding (default utf-8; e.g. latin1, utf-16le)
  --merges N           merges to learn (default 40000, GPT-1's); fewer if the corpus runs out of pairs
  --min-frequency N    never merge a pair seen fewer than N times (default 1)
  --out FILE           where to write the Hugging Face tokenizer.json (default tokenizer.json)

The vocabulary: 256 byte tokens (every input round-trips), one token per merge, then the special
tokens ${Object.values(SPECIAL_TOKENS).join(' ')}, which plain text never produces.`;

export async function tokenizerCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    console.log(HELP);
    return;
  }
  if (sub !== 'train') throw new Error(`tokenizer: unknown subcommand "${sub}" (expected "train")\n\n${HELP}`);
  const { values: a, positionals } = parseArgs({
    args: rest,
    allowPositionals: true, // "--corpus a.txt b.txt": the files after the first land here
    options: {
      corpus: { type: 'string', multiple: true },
      merges: { type: 'string', default: '40000' },
      'min-frequency': { type: 'string', default: '1' },
      out: { type: 'string', default: 'tokenizer.json' },
      encoding: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (a.help) {
    console.log(HELP);
    return;
  }
  const merges = Number(a.merges);
  if (!Number.isInteger(merges) || merges < 0) throw new Error(`--merges must be a non-negative integer, got "${a.merges}"`);
  const minFrequency = Number(a['min-frequency']);
  if (!Number.isInteger(minFrequency) || minFrequency < 1) throw new Error(`--min-frequency must be a positive integer, got "${a['min-frequency']}"`);
  const specs = [...(a.corpus ?? []), ...positionals];
  if (specs.length === 0) throw new Error(`tokenizer train: no corpus given\n\n${HELP}`);

  const corpus = await loadCorpus(specs, { encoding: a.encoding });
  const bytes = corpus.texts.reduce((n, t) => n + t.length, 0);
  console.error(`corpus ${corpus.name}: ${corpus.texts.length} documents, ${(bytes / 1e6).toFixed(1)} M characters`);
  const t0 = performance.now();
  const tty = process.stderr.isTTY;
  let lastLine = 0;
  const json = trainBPE(corpus.texts, {
    merges,
    minFrequency,
    onProgress: (done, total) => {
      const sec = (performance.now() - t0) / 1000;
      const line = `merges ${done}/${total} (${total ? Math.floor((100 * done) / total) : 100}%) | ${formatDuration(sec)}`;
      if (tty) process.stderr.write(`\r${line}\x1b[K`);
      else if (performance.now() - lastLine > 2000 || done === total) {
        process.stderr.write(line + '\n');
        lastLine = performance.now();
      }
    },
  });
  if (tty) process.stderr.write('\n');
  const learned = (json.model as { merges: unknown[] }).merges.length;
  if (learned < merges) console.error(`note: the corpus had pairs for only ${learned} merges (asked for ${merges})`);

  const out = a.out!;
  await mkdir(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`; // write then rename: a reader never sees half a file
  await writeFile(tmp, JSON.stringify(json));
  await rename(tmp, out);
  const vocab = Object.keys((json.model as { vocab: object }).vocab).length;
  console.error(`wrote ${out}: ${learned} merges, vocabulary ${vocab} in ${formatDuration((performance.now() - t0) / 1000)}`);
}
