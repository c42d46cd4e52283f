// compose/local.yml's create-bucket one-shot (docker-compose.yml uses minio/mc, which is
// not available here): prepares S3_BUCKET on the MinIO at S3_ENDPOINT with the app's own
// code (src/infra/bucket.ts: created unless present, versioned, old versions expiring).
// Mounted into the app image at /app, so the imports resolve from /app.
import { S3Client } from '@aws-sdk/client-s3';
import { prepareWorkspaceBucket } from '/app/src/infra/bucket.ts';

const { S3_ENDPOINT, S3_BUCKET, MINIO_ROOT_USER, MINIO_ROOT_PASSWORD } = process.env;
const s3 = new S3Client({
  endpoint: S3_ENDPOINT, region: 'us-east-1', forcePathStyle: true,
  credentials: { accessKeyId: MINIO_ROOT_USER ?? '', secretAccessKey: MINIO_ROOT_PASSWORD ?? '' },
});
try {
  process.stdout.write(`bucket ${S3_BUCKET}: ${await prepareWorkspaceBucket(s3, S3_BUCKET)}, versioned\n`);
} finally {
  s3.destroy();
}
