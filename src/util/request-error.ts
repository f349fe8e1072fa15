// A problem with what a client asked for, raised below the HTTP layer (the serving engine, the job
// manager) and mapped to a status by src/serve/errors.ts. `kind` says what went wrong, not how HTTP
// spells it; `param` names the offending field and `code` is a stable machine-readable reason.
export type RequestErrorKind =
  | 'invalid' // the request is malformed or asks for something impossible
  | 'not_found' // it names something that does not exist
  | 'too_large' // its payload is over a size limit
  | 'busy' // a bounded resource (a queue, model slots) is full: retry later
  | 'quota' // it would exceed a storage quota
  | 'unavailable'; // the server cannot compute now (its engine failed and is being replaced): retry

export class RequestError extends Error {
  constructor(
    readonly kind: RequestErrorKind,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}
