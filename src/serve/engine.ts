// The engine: what the routes ask of the models, behind one interface so that the same HTTP app drives
// models in its own thread (LocalEngine: tests, workerd, browsers) or in a worker (RemoteEngine over a
// message port: Node, Deno, Bun keep compute off the thread that serves HTTP).
//
// The routes check a request's shape; the engine checks what needs the model (its tokenizer, context
// window, vocabulary, task) and throws RequestError for what it refuses. Every call that computes takes
// the request's AbortSignal: a client that leaves stops its work at the next step.
import type { FinishReason } from '../infer/generate.ts';
import type { JobService } from '../jobs/service.ts';

export interface ModelInfo {
  id: string;
  contextLength: number;
  vocabSize: number;
  /** a fine-tuned model's task; null for a language model */
  task: { family: string; labels: string[]; choices: number | null } | null;
}

export interface CompletionRequest {
  model: string;
  /** text, or token ids */
  prompt: string | number[];
  maxTokens: number;
  temperature: number;
  topP: number;
  topK: number;
  seed?: number;
  stop: string[];
  /** the 'start' event carries the prompt's text back */
  echo: boolean;
}

export type CompletionEvent =
  | { type: 'start'; promptTokens: number; echo: string }
  | { type: 'text'; text: string }
  | { type: 'end'; finishReason: FinishReason; completionTokens: number };

export interface ScoreRequest {
  model: string;
  prompt: string;
  /** one continuation, or the choices */
  continuations: string[];
  choices: boolean;
}

export interface ScoreResult {
  promptTokens: number;
  data: { index: number; text: string; tokens: number; logprob: number; mean_logprob: number; token_logprobs: number[] }[];
  /** a multiple-choice model's task head over the choices */
  head?: { best: number; probabilities: number[] };
}

export type ClassifyInput = string | Record<string, string>;

export interface ClassifyResult {
  task: string;
  data: { index: number; label: string; probabilities: Record<string, number> }[];
}

export interface Engine {
  /** the model of a request without `model`: fixed when the engine starts (null: `model` is required) */
  readonly defaultModel: string | null;
  /** the served models now (a snapshot; finished jobs add theirs) */
  models(): ModelInfo[];
  /** Events: 'start' (after the request is accepted), 'text'…, then 'end'. */
  complete(r: CompletionRequest, signal: AbortSignal): AsyncIterable<CompletionEvent>;
  score(r: ScoreRequest, signal: AbortSignal): Promise<ScoreResult>;
  classify(r: { model: string; inputs: ClassifyInput[] }, signal: AbortSignal): Promise<ClassifyResult>;
  /** training jobs and files, when the server has a jobs folder */
  readonly jobs: JobService | null;
  /** stops running jobs at their next step (they resume on the next start) and frees the models */
  close(): Promise<void>;
}
