// compose/local.yml's create-bucket one-shot (docker-compose.yml uses minio/mc, which is
// not available here): creates S3_BUCKET on the MinIO at S3_ENDPOINT unless it exists,
// with the app image's S3 client. Mounted into the app image at /app, so the import
// resolves from /app/node_modules.
import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';

const { S3_ENDPOINT, S3_BUCKET, MINIO_ROOT_USER, MINIO_ROOT_PASSWORD } = process.env;
const s3 = new S3Client({
  endpoint: S3_ENDPOINT, region: 'us-east-1', forcePathStyle: true,
  credentials: { accessKeyId: MINIO_ROOT_USER ?? '', secretAccessKey: MINIO_ROOT_PASSWORD ?? '' },
});
try {
  await s3.send(new HeadBucketCommand({ Bucket: S3_BUCKET }));
  process.stdout.write(`bucket ${S3_BUCKET}: present\n`);
} catch {
  await s3.send(new CreateBucketCommand({ Bucket: S3_BUCKET }));
  process.stdout.write(`bucket ${S3_BUCKET}: created\n`);
} finally {
  s3.destroy();
}
