// gptedge/hono: HTTP serving, portable (Fetch API only): the app, its engine, and the pieces to assemble
// your own. Runtime servers (sockets, workers) live in adapters/.
export { createApp, type App, type AppOptions } from './app.ts';
export { DEFAULT_LIMITS, type Limits } from './routes/context.ts';
export { ApiError } from './errors.ts';
export { apiKeys, bearerToken, parseApiKeys, type Authenticate } from './auth.ts';
export { normalizeOrigin } from './cors.ts';
export type { Engine, ModelInfo, CompletionRequest, CompletionEvent, ScoreRequest, ScoreResult, ClassifyResult } from './engine.ts';
export type { ServeStats } from './gate.ts';
export { LocalEngine, type LocalEngineOptions } from './local-engine.ts';
export { ModelRegistry, loadServedModel, parseModelArg, modelInfo, type ServedModel, type RegistryOptions } from './models.ts';
export { Scheduler } from './scheduler.ts';
export { SupervisedEngine, type FailingEngine, type SupervisorOptions } from './supervisor.ts';
