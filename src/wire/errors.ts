// The one error type the wire layer throws for bad input; the runtime maps it to INVALID_ARGUMENT.

export class WireFormatError extends Error {
  override readonly name = "WireFormatError";

  /** `field` is the dotted path of the offending field (e.g. "message.origin.id"), for logs and replies. */
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}
