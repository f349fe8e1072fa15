// gptedge/hono: the portable HTTP app (Fetch API only), for any runtime's server or an edge handler.
export { createApp, DEFAULT_LIMITS, ApiError, type AppOptions, type Limits, type ServedModel, type AppStats } from '../../adapters/hono.ts';
