import net from 'node:net';

/**
 * A TCP port free right now (for a hub or an embedded PostgreSQL a test starts itself), taken below the kernel's
 * ephemeral range (Linux: 32768–60999). A port from that range (`listen(0)`) can be handed to any outgoing
 * connection of another process — a pg client, a fetch — between this check and the test's own bind: CI once saw
 * the lifecycle test's restarted hub fail with EADDRINUSE on such a port. Ports below the range are only ever
 * taken by a listener that asks for them. Falls back to an ephemeral port if none of the tries is free.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if ((await bindable(port, '0.0.0.0')) && (await bindable(port, '127.0.0.1'))) return port;
  }
  return listenOn(0, '127.0.0.1');
}

function bindable(port: number, host: string): Promise<boolean> {
  return listenOn(port, host).then(
    () => true,
    () => false,
  );
}

function listenOn(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(port, host, () => {
      const bound = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(bound));
    });
  });
}
