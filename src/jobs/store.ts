// The jobs folder, through the FileSystem seam (portable):
//   files/<file-id>.json + files/<file-id>.data     uploaded training data
//   <job-id>/job.json                                the job object, its events, its request, its disk reservation
//   <job-id>/data                                    the job's training data
//   <job-id>/run/…                                   pretraining checkpoints (src/io/checkpoint.ts)
//   <job-id>/model/                                  a fine-tuning job's result (a servable model folder)
// job.json is replaced atomically. The disk quota is kept as a ledger: every upload counts its bytes
// and every job reserves, when it is created, the most its files can take (src/jobs/bounds.ts).
import { join, readText, writeAtomic, type FileSystem } from '../io/fs.ts';
import type { FileObject, JobEvent, JobKind, JobObject } from './service.ts';

export interface JobRecord {
  job: JobObject;
  kind: JobKind;
  request: Record<string, unknown>;
  events: JobEvent[];
  /** bytes reserved in the jobs folder (the quota's ledger) */
  diskBytes: number;
}

/** Events kept per job: metrics events beyond this are dropped oldest first (messages stay). */
export const MAX_EVENTS = 10_000;

export class JobStore {
  constructor(
    readonly fs: FileSystem,
    readonly dir: string,
  ) {}

  jobDir = (id: string) => join(this.dir, id);
  runDir = (id: string) => join(this.dir, id, 'run');
  modelDir = (id: string) => join(this.dir, id, 'model');
  private fileData = (id: string) => join(this.dir, 'files', `${id}.data`);

  /** Creates the folder; returns the jobs found in it, and the bytes the ledger holds. */
  async open(): Promise<{ records: JobRecord[]; files: FileObject[] }> {
    await this.fs.mkdir(join(this.dir, 'files'));
    const records: JobRecord[] = [];
    for (const n of (await this.fs.readdir(this.dir)).filter((n) => /^(ftjob|ptjob)-[a-z0-9]+$/.test(n)).sort()) {
      const f = join(this.dir, n, 'job.json');
      if (!(await this.fs.exists(f))) continue;
      try {
        const rec = JSON.parse(await readText(this.fs, f)) as JobRecord;
        rec.diskBytes ??= 0;
        records.push(rec);
      } catch {
        // a half-written job folder (job.json is replaced atomically, so only a crash before its first write)
      }
    }
    const files: FileObject[] = [];
    for (const n of (await this.fs.readdir(join(this.dir, 'files'))).filter((n) => /^file-[a-z0-9]+\.json$/.test(n))) {
      try {
        files.push(JSON.parse(await readText(this.fs, join(this.dir, 'files', n))) as FileObject);
      } catch {
        // a file whose metadata never finished: its data is not counted and cannot be used
      }
    }
    return { records, files };
  }

  /**
   * Writes job.json. Saves of one job run one after another, each serializing the record when its turn
   * comes: a progress save still in flight cannot land after (and undo) a later status change.
   */
  save(rec: JobRecord): Promise<void> {
    const id = rec.job.id;
    const next = (this.saving.get(id) ?? Promise.resolve()).catch(() => undefined).then(() => this.write(rec));
    this.saving.set(id, next);
    const forget = () => {
      if (this.saving.get(id) === next) this.saving.delete(id);
    };
    next.then(forget, forget);
    return next;
  }
  private saving = new Map<string, Promise<void>>();
  /** Resolves when no save is in flight: of job `id`, or of any job (shutdown). */
  async settled(id?: string): Promise<void> {
    const pending = () => (id === undefined ? [...this.saving.values()] : [this.saving.get(id)].filter((p) => p !== undefined));
    for (let p = pending(); p.length; p = pending()) await Promise.allSettled(p);
  }

  private async write(rec: JobRecord): Promise<void> {
    if (rec.events.length > MAX_EVENTS) {
      let drop = rec.events.length - MAX_EVENTS;
      rec.events = rec.events.filter((e) => !(drop > 0 && e.type === 'metrics' && drop--));
    }
    await this.fs.mkdir(this.jobDir(rec.job.id));
    await writeAtomic(this.fs, join(this.jobDir(rec.job.id), 'job.json'), JSON.stringify(rec));
  }

  async writeData(id: string, text: string): Promise<void> {
    await this.fs.mkdir(this.jobDir(id));
    await writeAtomic(this.fs, join(this.jobDir(id), 'data'), text);
  }
  readData = (id: string) => readText(this.fs, join(this.jobDir(id), 'data'));

  async putFile(meta: FileObject, content: string): Promise<void> {
    await writeAtomic(this.fs, this.fileData(meta.id), content);
    await writeAtomic(this.fs, join(this.dir, 'files', `${meta.id}.json`), JSON.stringify(meta));
  }
  /** an uploaded file's text, or null when there is no such file (ids are checked: no path tricks) */
  async fileText(id: string): Promise<string | null> {
    if (!/^file-[a-z0-9]+$/.test(id) || !(await this.fs.exists(join(this.dir, 'files', `${id}.json`)))) return null;
    return readText(this.fs, this.fileData(id));
  }
}
