// A directory updated the way Kubernetes updates a mounted Secret or a cert-manager csi-driver volume: each
// version is written to a new hidden directory, a `..data` symlink is swapped to it in one rename, and the
// visible names point through `..data`. No event ever names the visible files and their inodes never
// change, which is what a reloading daemon must cope with.
import { existsSync, mkdirSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export class SecretVolume {
  private version = 0;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** The path a daemon is given for `name`. */
  path(name: string): string {
    return join(this.dir, name);
  }

  /** Publishes a whole new version holding exactly `files`, atomically. */
  publish(files: Readonly<Record<string, string | Buffer>>): void {
    const version = `..v${++this.version}`;
    mkdirSync(join(this.dir, version));
    for (const [name, contents] of Object.entries(files))
      writeFileSync(join(this.dir, version, name), contents);
    symlinkSync(version, join(this.dir, "..data_tmp"));
    renameSync(join(this.dir, "..data_tmp"), join(this.dir, "..data"));
    for (const name of Object.keys(files))
      if (!existsSync(join(this.dir, name))) symlinkSync(join("..data", name), join(this.dir, name));
  }
}
