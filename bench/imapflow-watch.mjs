// SPDX-License-Identifier: MIT
// The peer of bench/peer.sh: a watcher written the way an imapflow user would,
// with imapflow's public API only.  One ImapFlow client per mailbox, each
// logged in as its user, INBOX opened, IDLE (auto-IDLE with autoIdleDelay 0:
// IDLE as soon as the mailbox is open, as imapidled does; imapflow's default
// would wait 15 s first); on 'exists' it spawns the stamp program with the
// mailbox's name, as imapidled runs its hook.
//
//   node bench/imapflow-watch.mjs MODULE_DIR PORT tls|plain CA_FILE FIRST LAST STAMP STAMP_FILE
//
// Users FIRST..LAST: userI / passI, mailbox name "uI" (imapidled's account
// names).  Host 127.0.0.1; tls: implicit TLS verified against CA_FILE.  On
// stdout, whenever the number of clients in IDLE changed (at most every 50 ms,
// and when it reaches all): "<CLOCK_REALTIME ns> STATUS=k/n mailboxes idling",
// the line imapidled sends through sd_notify.  A client is in IDLE once the
// server's "+" continuation came, which imapflow reports to its logger as
// "Initiated IDLE, waiting for server input".  Failures go to stderr; nothing
// is retried.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [moduleDir, port, mode, caFile, first, last, stamp, stampFile] = process.argv.slice(2);
if (!stampFile) {
    process.stderr.write('usage: imapflow-watch.mjs MODULE_DIR PORT tls|plain CA_FILE FIRST LAST STAMP STAMP_FILE\n');
    process.exit(2);
}
// imapflow is installed by bench/peer.sh outside the source tree.
const require = createRequire(join(moduleDir, 'package.json'));
const { ImapFlow } = await import(pathToFileURL(require.resolve('imapflow')).href);

const ca = mode === 'tls' ? readFileSync(caFile) : undefined;
const lo = Number(first), hi = Number(last), total = hi - lo + 1;
let idling = 0, reported = -1, reportTimer = null;

const nowNs = () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
const report = () => {
    reportTimer = null;
    if (idling !== reported) {
        reported = idling;
        process.stdout.write(`${nowNs()} STATUS=${idling}/${total} mailboxes idling\n`);
    }
};
const changed = () => {
    if (idling === total)
        report();
    else if (!reportTimer)
        reportTimer = setTimeout(report, 50);
};

const noop = () => {};
function watch(i) {
    const name = `u${i}`;
    let idle = false;
    // Only the one debug message that says the server accepted IDLE is looked at.
    const logger = {
        trace: noop, info: noop, warn: noop, fatal: noop,
        error: (o) => process.stderr.write(`${name}: ${o && o.msg}${o && o.err ? ': ' + o.err.message : ''}\n`),
        debug: (o) => {
            if (!idle && o && o.msg === 'Initiated IDLE, waiting for server input') {
                idle = true;
                idling++;
                changed();
            }
        },
    };
    const client = new ImapFlow({
        host: '127.0.0.1',
        port: Number(port),
        secure: mode === 'tls',
        tls: ca ? { ca } : undefined,
        doSTARTTLS: mode === 'tls' ? undefined : false,
        auth: { user: `user${i}`, pass: `pass${i}` },
        logger,
        autoIdleDelay: 0,
    });
    client.on('exists', () => {
        const child = spawn(stamp, [stampFile, name], { stdio: 'ignore' });
        child.on('error', (err) => process.stderr.write(`${name}: cannot run ${stamp}: ${err.message}\n`));
    });
    client.on('error', (err) => process.stderr.write(`${name}: ${err.message}\n`));
    client.on('close', () => {
        if (idle) {
            idle = false;
            idling--;
            changed();
        }
    });
    return client.connect()
        .then(() => client.mailboxOpen('INBOX', { readOnly: true }))
        .catch((err) => process.stderr.write(`${name}: ${err.message}\n`));
}

const clients = [];
for (let i = lo; i <= hi; i++)
    clients.push(watch(i));
await Promise.all(clients);
process.on('SIGTERM', () => process.exit(0));
