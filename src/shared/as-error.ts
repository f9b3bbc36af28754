// Whatever was thrown or rejected, as an Error: a non-Error value (a string, an object) becomes the message
// of a new Error, so that callers and error handlers always get a message and a stack.
export function asError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(String(thrown));
}
