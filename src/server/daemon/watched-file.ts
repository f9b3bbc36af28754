// Re-reads a file when it changes on disk and hands on its new contents. Kubernetes updates a mounted
// Secret by writing a new hidden directory and swapping the `..data` symlink the visible names point
// through, so no event names the file itself and its inode never changes: the directory is watched
// (any event in it means "look again"), the file is read through its path and its contents compared, and
// a poll at `intervalMs` catches what fs.watch misses (network file systems, overlays without inotify).
// chokidar and the like track paths and inodes, which is what a symlink swap defeats; this needs only
// "read again, compare", so it stays here, a few lines long.
import { watch, type FSWatcher } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname } from "node:path";

/** Changes arriving within this long are read once (a Secret update touches several entries). */
const DEBOUNCE_MS = 100;

export class WatchedFile {
  private watcher: FSWatcher | undefined;
  private readonly poll: NodeJS.Timeout;
  private debounce: NodeJS.Timeout | undefined;
  private reading = false;
  private again = false;
  private closed = false;

  /**
   * `current`: the contents already in use (read at start). `onChange` gets each new contents once;
   * `onError` a read that failed (the file may be mid-swap: the next event or poll reads it again).
   */
  constructor(
    readonly path: string,
    private current: Buffer,
    intervalMs: number,
    private readonly onChange: (contents: Buffer) => void,
    private readonly onError: (error: Error) => void = () => undefined,
  ) {
    try {
      this.watcher = watch(dirname(path), { persistent: false }, () => this.soon());
      this.watcher.on("error", () => {
        // The directory went away (an unmounted volume): the poll goes on alone.
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      this.watcher = undefined;
    }
    this.poll = setInterval(() => void this.check(), Math.max(intervalMs, DEBOUNCE_MS));
    this.poll.unref();
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    clearInterval(this.poll);
    clearTimeout(this.debounce);
  }

  private soon(): void {
    if (this.closed) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.check(), DEBOUNCE_MS);
    this.debounce.unref();
  }

  private async check(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    try {
      const contents = await readFile(this.path);
      if (!this.closed && !contents.equals(this.current)) {
        this.current = contents;
        this.onChange(contents);
      }
    } catch (error) {
      if (!this.closed) this.onError(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.reading = false;
      if (this.again) {
        this.again = false;
        this.soon();
      }
    }
  }
}
