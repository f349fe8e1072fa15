// POST /v1/classify — a fine-tuned classification / entailment / similarity model's label and every
// label's probability, for one input or up to maxItems.
import type { Hono } from 'hono';
import { badRequest } from '../errors.ts';
import type { ClassifyInput } from '../engine.ts';
import { modelField, onlyKeys, readJSON, text, typeName, type Body } from '../validate.ts';
import { compute } from './compute.ts';
import type { RouteContext } from './context.ts';

export function classifyRoute(app: Hono, ctx: RouteContext): void {
  app.post('/v1/classify', async (c) => {
    const b = await readJSON(c),
      L = ctx.limits;
    onlyKeys(b, ['model', 'input', 'user']);
    const model = modelField(b, ctx.engine.defaultModel);
    const raw = b.input;
    if (raw === undefined) throw badRequest(`'input' is required`, 'input', 'missing_required_parameter');
    const items = Array.isArray(raw) ? raw : [raw];
    if (items.length === 0 || items.length > L.maxItems)
      throw badRequest(`'input' must hold 1 to ${L.maxItems} items, got ${items.length}`, 'input', 'invalid_value');
    // each item: a text, or an object of texts (which fields, the model's task decides: the engine checks)
    const inputs: ClassifyInput[] = items.map((x, i) => {
      const param = Array.isArray(raw) ? `input[${i}]` : 'input';
      if (typeof x === 'string') return text(x, param, L.maxPromptChars);
      if (!x || typeof x !== 'object' || Array.isArray(x))
        throw badRequest(`'${param}' must be a string, or an object of strings such as {premise, hypothesis}; got ${typeName(x)}`, param, 'invalid_type');
      return Object.fromEntries(Object.entries(x as Body).map(([k, v]) => [k, text(v, `${param}.${k}`, L.maxPromptChars)]));
    });
    const r = await compute(c, ctx, 'classify', (signal) => ctx.engine.classify({ model, inputs }, signal));
    return c.json({ object: 'list', model, task: r.task, data: r.data });
  });
}
