// A server stream as an async iterator that survives the local node restarting: when the connection is
// lost (or the node ends the stream while shutting down) it opens the stream again, with backoff, for up to
// `reconnectWindowMs`. Errors that retrying cannot fix (bad request, bad token, too slow) end the iteration.
import { status, type ClientDuplexStream, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { clientErrorFrom, UnavailableError, type WendyClientError } from "./errors.js";

/** Codes that mean "the node went away", not "the request is wrong". */
const RETRYABLE = new Set<status>([status.UNAVAILABLE, status.CANCELLED, status.INTERNAL, status.UNKNOWN]);
const FIRST_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 1000;
/** Items buffered before the stream is paused (so a slow consumer pushes back on the node). */
const HIGH_WATER = 64;

export interface ResumingStreamOptions {
  readonly reconnectWindowMs: number;
  /** Called once when the stream fails for good (the iterator then rejects with the same error). */
  readonly onFailure?: (error: WendyClientError) => void;
}

/** What a stream is read from: a server stream, or the reading side of a two-way stream. */
type Readable<Raw> = ClientReadableStream<Raw> | ClientDuplexStream<unknown, Raw>;

export class ResumingStream<Raw, T> implements AsyncIterableIterator<T> {
  private readonly queue: T[] = [];
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: Error) => void } | undefined;
  private current: Readable<Raw> | undefined;
  private failure: WendyClientError | undefined;
  private done = false;
  private failingSince: number | undefined;
  private backoffMs = FIRST_BACKOFF_MS;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly open: () => Readable<Raw>,
    /**
     * Each response as its items: usually one, several for a batch, none for a response that carries no
     * item (e.g. a ready signal).
     */
    private readonly map: (raw: Raw) => readonly T[],
    private readonly options: ResumingStreamOptions,
  ) {
    this.connect();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    const item = this.queue.shift();
    if (item !== undefined) {
      if (this.queue.length < HIGH_WATER / 2) this.current?.resume();
      return Promise.resolve({ value: item, done: false });
    }
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  return(): Promise<IteratorResult<T>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Stops the stream; a pending `next()` finishes with done. */
  close(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.retryTimer);
    this.current?.cancel();
    this.current = undefined;
    this.wake();
  }

  private connect(): void {
    if (this.done) return;
    const stream = this.open();
    this.current = stream;
    stream.on("data", (raw: Raw) => {
      this.failingSince = undefined;
      this.backoffMs = FIRST_BACKOFF_MS;
      let items: readonly T[];
      try {
        items = this.map(raw);
      } catch (error) {
        this.fail(clientErrorFrom(error));
        return;
      }
      for (const item of items) {
        if (this.waiter !== undefined) {
          const w = this.waiter;
          this.waiter = undefined;
          w.resolve({ value: item, done: false });
          continue;
        }
        this.queue.push(item);
      }
      if (this.queue.length >= HIGH_WATER) stream.pause();
    });
    stream.on("metadata", () => {
      // Headers arrived: the node accepted the stream, so the connection is good again.
      this.failingSince = undefined;
      this.backoffMs = FIRST_BACKOFF_MS;
    });
    stream.on("error", (error: ServiceError) => {
      if (this.current !== stream || this.done) return;
      if (RETRYABLE.has(error.code)) this.retry(error);
      else this.fail(clientErrorFrom(error));
    });
    stream.on("end", () => {
      // A clean end from the node: it is shutting its service down; wait for it to come back.
      if (this.current === stream && !this.done) this.retry(undefined);
    });
  }

  private retry(error: ServiceError | undefined): void {
    this.current = undefined;
    const now = Date.now();
    this.failingSince ??= now;
    if (now - this.failingSince > this.options.reconnectWindowMs) {
      const why = error ? `: ${error.details || error.message}` : "";
      this.fail(
        new UnavailableError(
          `lost the stream and could not reopen it within ${this.options.reconnectWindowMs} ms${why}`,
          status.UNAVAILABLE,
        ),
      );
      return;
    }
    this.retryTimer = setTimeout(() => this.connect(), this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
  }

  private fail(error: WendyClientError): void {
    if (this.done) return;
    this.failure = error;
    this.done = true;
    this.options.onFailure?.(error);
    this.current?.cancel();
    this.current = undefined;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    if (w === undefined || this.queue.length > 0) return;
    this.waiter = undefined;
    if (this.failure !== undefined) w.reject(this.failure);
    else w.resolve({ value: undefined, done: true });
  }
}
