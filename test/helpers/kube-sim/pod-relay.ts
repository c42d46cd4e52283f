/**
 * The pod's only way out, run by the pod simulator inside the pod's network namespace
 * (its "network" container, from the runner image, `--network none`): listens on
 * 127.0.0.1:<port> and forwards each connection to the unix socket the simulator
 * serves on the host, which goes to S3 and nowhere else (what the tool pods'
 * NetworkPolicy allows). Mounted read-only from the test tree, never part of an image.
 *
 *   node pod-relay.ts <port> <socket> <ready-file> <lifetime-seconds>
 *
 * It exits after its lifetime, so a test process that dies cannot leave it running.
 */
import { writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';

const [port, socket, ready, lifetime] = process.argv.slice(2);
if (!port || !socket || !ready || !lifetime) {
  process.stderr.write('usage: pod-relay.ts <port> <socket> <ready-file> <lifetime-seconds>\n');
  process.exit(2);
}
const server = createServer((inbound) => {
  const outbound = connect(socket);
  inbound.pipe(outbound).pipe(inbound);
  inbound.on('error', () => outbound.destroy());
  outbound.on('error', () => inbound.destroy());
});
server.listen(Number(port), '127.0.0.1', () => writeFileSync(ready, 'listening\n'));
setTimeout(() => process.exit(0), Number(lifetime) * 1000).unref();
