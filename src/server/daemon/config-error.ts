// A setting that does not parse, is out of range, or names a file that cannot be read. `wendy start` prints
// the one-line message and exits with status 2 (docs/configuration.md).
export const CONFIG_ERROR_EXIT_CODE = 2;

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    /** The variable (or flag) the operator has to fix, e.g. WENDY_PORT. */
    readonly variable: string,
    message: string,
  ) {
    super(message.replace(/[\r\n]+/g, " "));
  }
}
