/**
 * The S3 requests of the workspace module, in one class: read (whole, a range, or
 * as a stream), stat, list, write, delete. Keys come from `s3Keys`
 * (src/shared/names.ts) or from a checked workspace path (`keyUnder`); none is
 * built here from an unchecked string. A missing object is an answer
 * (`undefined`), handled here once, never an error the caller must recognise.
 *
 * Conditional writes — the rules, in one place:
 * - `{ ifAbsent: true }` sends `If-None-Match: *`: the write lands only if no object is at the key;
 * - `{ ifMatch: etag }` sends `If-Match: <etag>`: it lands only on that version of the object;
 * - a refused condition (412, also from a multipart upload's completion) is an answer too:
 *   `put` returns `{ written: false }`, and the caller decides whether what is there now
 *   is its own earlier write (a retry) or a newer writer's (a conflict; the newer content stays);
 * - `delete` takes `ifMatch` as well. S3 honours If-Match on DELETE, MinIO ignores it, so
 *   `delete` looks at the object first and refuses a version other than the one named.
 */
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { GetObjectCommandOutput, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { isNotFound, isPreconditionFailed } from '../infra/s3.ts';
import { InvalidCursorError } from './errors.ts';

/** Part size of multipart uploads; bodies up to one part go in a single PUT. */
export const UPLOAD_PART_BYTES = 8 * 1024 * 1024;

export type WriteCondition = { ifAbsent: true } | { ifMatch: string };
export type PutResult = { written: true; etag: string } | { written: false };

/**
 * What the writes through a journaled view (`ObjectStore.journaled`) left under `prefix`:
 * each file's version (null: the bucket keeps none), or false once deleted. A step's
 * changes to its workspace, noted from the writes' own answers: no listing needed.
 */
export interface WriteJournal { prefix: string; files: Map<string, string | null | false> }

const versionOf = (v: string | undefined) => (v && v !== 'null' ? v : null);

export interface PutOptions {
  contentType?: string;
  /** Object metadata (S3 lower-cases the names). */
  metadata?: Record<string, string>;
  condition?: WriteCondition;
}

export interface ObjectInfo {
  key: string;
  /** The object's whole size, also when only a range of it was fetched. */
  bytes: number;
  etag?: string;
  /** The S3 version id (null when the bucket keeps no versions); from head only. */
  version?: string | null;
  contentType?: string;
  lastModified?: Date;
  metadata?: Record<string, string>;
}

/** An object opened for reading: its description and its body, to be read, streamed or discarded exactly once. */
export interface OpenedObject {
  info: ObjectInfo;
  read(): Promise<Buffer>;
  stream(): Readable;
  discard(): void;
}

export interface ListPage { objects: ObjectInfo[]; prefixes: string[]; nextCursor?: string }

function conditionHeaders(c: WriteCondition | undefined): { IfNoneMatch?: string; IfMatch?: string } {
  if (!c) return {};
  return 'ifAbsent' in c ? { IfNoneMatch: '*' } : { IfMatch: c.ifMatch };
}

const httpStatus = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;

function opened(key: string, res: GetObjectCommandOutput): OpenedObject {
  const total = /\/(\d+)$/.exec(res.ContentRange ?? '')?.[1];
  const body = res.Body;
  return {
    info: {
      key, bytes: total === undefined ? (res.ContentLength ?? 0) : Number(total),
      etag: res.ETag, contentType: res.ContentType, lastModified: res.LastModified, metadata: res.Metadata,
    },
    read: async () => Buffer.from((await body?.transformToByteArray()) ?? new Uint8Array()),
    stream: () => body as Readable,
    discard: () => (body as { destroy?: () => void } | undefined)?.destroy?.(),
  };
}

export interface ObjectStoreOptions { s3: S3Client; bucket: string }

export class ObjectStore {
  protected readonly s3: S3Client;
  readonly bucket: string;
  /** Set on a journaled view only. */
  protected journal?: WriteJournal;

  constructor(opts: ObjectStoreOptions) {
    this.s3 = opts.s3;
    this.bucket = opts.bucket;
  }

  /**
   * A view of this store that notes in `journal` the version every write and delete under
   * its prefix leaves (see WriteJournal). Everything else is this store's.
   */
  journaled(journal: WriteJournal): this {
    const view = Object.create(this) as this;
    view.journal = journal;
    return view;
  }

  /** Notes a version of `key` (false: deleted) found otherwise than by writing it (a retry finding its own earlier write). */
  noteVersion(key: string, version: string | null | false): void {
    if (this.journal && key.startsWith(this.journal.prefix)) this.journal.files.set(key.slice(this.journal.prefix.length), version);
  }

  /** The object at `key` (or bytes `range` of it), or undefined when there is none. */
  async open(key: string, range?: { first: number; last: number }): Promise<OpenedObject | undefined> {
    try {
      return opened(key, await this.s3.send(new GetObjectCommand({
        Bucket: this.bucket, Key: key, Range: range ? `bytes=${range.first}-${range.last}` : undefined,
      })));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      // An empty object has no byte 0: S3 answers 416 to any range.
      if (range && httpStatus(err) === 416) {
        const info = await this.head(key);
        if (!info) return undefined;
        const empty = Buffer.alloc(0);
        return { info, read: async () => empty, stream: () => { throw new Error(`${key} is empty: nothing to stream`); }, discard: () => undefined };
      }
      throw err;
    }
  }

  async getBytes(key: string): Promise<Buffer | undefined> {
    return (await this.open(key))?.read();
  }

  async getText(key: string): Promise<string | undefined> {
    return (await this.getBytes(key))?.toString('utf8');
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    const text = await this.getText(key);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  /** Size, version, type and metadata of the object at `key`, or undefined when there is none. */
  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const h = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { key, bytes: h.ContentLength ?? 0, etag: h.ETag, version: versionOf(h.VersionId), contentType: h.ContentType, lastModified: h.LastModified, metadata: h.Metadata };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.head(key)) !== undefined;
  }

  /** Writes `body` under `condition` (see the module comment); large buffers go as a multipart upload. */
  async put(key: string, body: Buffer | string, opts: PutOptions = {}): Promise<PutResult> {
    const params = {
      Bucket: this.bucket, Key: key, Body: body, ContentType: opts.contentType, Metadata: opts.metadata,
      ...(Buffer.isBuffer(body) ? { ContentLength: body.length } : {}), ...conditionHeaders(opts.condition),
    };
    try {
      if (Buffer.isBuffer(body) && body.length > UPLOAD_PART_BYTES) {
        const out = await new Upload({ client: this.s3, partSize: UPLOAD_PART_BYTES, queueSize: 4, params }).done();
        this.noteVersion(key, versionOf('VersionId' in out ? out.VersionId : undefined));
        return { written: true, etag: out.ETag ?? '' };
      }
      const out = await this.s3.send(new PutObjectCommand(params));
      this.noteVersion(key, versionOf(out.VersionId));
      return { written: true, etag: out.ETag ?? '' };
    } catch (err) {
      if (opts.condition && isPreconditionFailed(err)) return { written: false };
      throw err;
    }
  }

  /** Writes a JSON record; false when `condition` was refused. */
  async putJson(key: string, value: unknown, condition?: WriteCondition): Promise<boolean> {
    return (await this.put(key, JSON.stringify(value), { contentType: 'application/json', condition })).written;
  }

  /**
   * Deletes the object at `key` (only the version `ifMatch` names, when given). Deleting what is
   * not there succeeds (`absent`); `refused` means another version is there now and it stays.
   */
  async delete(key: string, condition?: { ifMatch: string }): Promise<'deleted' | 'absent' | 'refused'> {
    const outcome = await this.deleteObject(key, condition);
    if (outcome !== 'refused') this.noteVersion(key, false);
    return outcome;
  }

  private async deleteObject(key: string, condition?: { ifMatch: string }): Promise<'deleted' | 'absent' | 'refused'> {
    const now = await this.head(key);
    if (condition && now === undefined) return 'absent';
    if (condition && now?.etag !== condition.ifMatch) return 'refused';
    try {
      await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key, IfMatch: condition?.ifMatch }));
    } catch (err) {
      if (condition && isPreconditionFailed(err)) return 'refused';
      if (!isNotFound(err)) throw err;
      return 'absent';
    }
    return now === undefined ? 'absent' : 'deleted';
  }

  /** One page of the objects (and, with a delimiter, the common prefixes) under `prefix`, in key order. */
  async listPage(prefix: string, opts: { cursor?: string; limit?: number; delimiter?: string } = {}): Promise<ListPage> {
    try {
      const page = await this.s3.send(new ListObjectsV2Command({
        Bucket: this.bucket, Prefix: prefix, ContinuationToken: opts.cursor, MaxKeys: opts.limit, Delimiter: opts.delimiter,
      }));
      return {
        objects: (page.Contents ?? []).filter((o) => o.Key).map((o) => ({ key: o.Key!, bytes: o.Size ?? 0, etag: o.ETag, lastModified: o.LastModified })),
        prefixes: (page.CommonPrefixes ?? []).map((p) => p.Prefix!).filter(Boolean),
        nextCursor: page.IsTruncated ? page.NextContinuationToken : undefined,
      };
    } catch (err) {
      if (opts.cursor !== undefined && (err as { name?: string }).name === 'InvalidArgument') throw new InvalidCursorError(opts.cursor, { cause: err });
      throw err;
    }
  }

  /** Every page under `prefix`. */
  async *pages(prefix: string, delimiter?: string): AsyncGenerator<ListPage> {
    let cursor: string | undefined;
    do {
      const page = await this.listPage(prefix, { cursor, delimiter });
      yield page;
      cursor = page.nextCursor;
    } while (cursor);
  }

  /** The "directories" directly under `prefix` (each ends in `/`). */
  async childPrefixes(prefix: string): Promise<string[]> {
    const out: string[] = [];
    for await (const page of this.pages(prefix, '/')) out.push(...page.prefixes);
    return out;
  }

  async hasAny(prefix: string): Promise<boolean> {
    return (await this.listPage(prefix, { limit: 1 })).objects.length > 0;
  }

  /** Deletes every object under `prefix`, a thousand per request. Returns how many. */
  async deletePrefix(prefix: string): Promise<number> {
    let n = 0;
    // Listing restarts after each batch: deleting while paging would skip keys on some servers.
    for (;;) {
      const keys = (await this.listPage(prefix, { limit: 1000 })).objects.map((o) => o.key);
      if (keys.length === 0) return n;
      const res = await this.s3.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }));
      if (res.Errors?.length) throw new Error(`could not delete ${res.Errors.length} object(s) under ${prefix}: ${res.Errors[0]?.Code ?? ''} ${res.Errors[0]?.Message ?? ''}`.trim());
      n += keys.length;
    }
  }
}
