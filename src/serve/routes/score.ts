// POST /v1/score — log P(continuation | prompt) under the language model; with `choices`, each one's,
// the softmax over them and the best; a multiple-choice fine-tuned model adds its task head's answer.
import { argmax, softmax } from '../../util/softmax.ts';
import type { Hono } from 'hono';
import { badRequest } from '../errors.ts';
import { modelField, onlyKeys, readJSON, text } from '../validate.ts';
import { compute } from './compute.ts';
import type { RouteContext } from './context.ts';

export function scoreRoute(app: Hono, ctx: RouteContext): void {
  app.post('/v1/score', async (c) => {
    const b = await readJSON(c),
      L = ctx.limits;
    onlyKeys(b, ['model', 'prompt', 'continuation', 'choices', 'user']);
    const model = modelField(b, ctx.engine.defaultModel);
    const prompt = text(b.prompt ?? '', 'prompt', L.maxPromptChars, true);
    const hasCont = b.continuation !== undefined,
      hasChoices = b.choices !== undefined;
    if (hasCont === hasChoices)
      throw badRequest(
        `give exactly one of 'continuation' (a string) and 'choices' (an array of strings)`,
        hasCont ? 'choices' : 'continuation',
        'missing_required_parameter',
      );
    let continuations: string[];
    if (hasCont) continuations = [text(b.continuation, 'continuation', L.maxPromptChars)];
    else {
      if (!Array.isArray(b.choices) || b.choices.length < 1 || b.choices.length > L.maxItems)
        throw badRequest(`'choices' must be an array of 1 to ${L.maxItems} strings`, 'choices', 'invalid_type');
      continuations = b.choices.map((x, i) => text(x, `choices[${i}]`, L.maxPromptChars));
    }
    const r = await compute(c, ctx, 'score', (signal) => ctx.engine.score({ model, prompt, continuations, choices: hasChoices }, signal));
    const out: Record<string, unknown> = { object: 'score', model, prompt_tokens: r.promptTokens, data: r.data };
    if (hasChoices) {
      const logprobs = r.data.map((d) => d.logprob);
      out.probabilities = softmax(logprobs, []);
      out.best = argmax(logprobs);
      if (r.head) out.head = r.head;
    }
    return c.json(out);
  });
}
