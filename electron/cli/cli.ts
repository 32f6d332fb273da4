import { existsSync, lstatSync, writeFileSync } from 'node:fs';
import { readBoundedText } from '../core/bounded-file';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { AuditStatus, AuditVerdict } from '../../shared/audit';
import type { CustodianSummary } from '../../shared/custodians';
import { publicKeyFromPem } from '../core/audit/audit-key';
import { parseVerifierKey, readBundle } from '../core/audit/bundle';
import type { NoteKey } from '../core/audit/checkpoint';
import { verifyAuditLog } from '../core/audit/verifier';
import type { VerifyOptions } from '../core/audit/verify-store';
import { errorClass, type Envelope, type ErrorClass, type ErrorCode, type WireError } from '../../shared/errors';
import type { ModuleStatus, TokenMechanisms } from '../../shared/tokens';
import { CustosCore, type CoreOptions } from '../core/custos-core';
import type { Destination, DestinationKind } from '../core/destinations';
import { resolveDataDir } from '../core/data-dir';
import { CustosError, fileError, isCustosError, printable, shown } from '../core/errors';
import QRCode from 'qrcode';
import { CEREMONY_USAGE, ceremonyRequest } from './ceremony-commands';
import { PKI_USAGE, pkiRequest } from './pki-commands';
import { rehearsalProcess, rehearse, SCRIPT_USAGE, scriptRequest } from './script-commands';
import { listTemplates, templateText } from '../core/ceremony/templates';
import { TRANSPORT_USAGE, transportRequest } from './transport-commands';
import {
  renderVerdict,
  REPORT_USAGE,
  reportRequest,
  standaloneReportVerify,
  verifyReportCommand,
} from './report-commands';
import {
  ask,
  call,
  factors,
  readPassphrase,
  str,
  usageFailure,
  type Io,
  type Request,
  type Values,
  whole,
} from './cli-support';
import { actionsHelp, custodianId } from './proposal-words';
export type { Io } from './cli-support';
import { silentLog } from '../core/log';

/** Exit codes are a contract with scripts: see README “CLI”. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  token: 3,
  store: 4,
  invalidInput: 5,
  verification: 6,
  refused: 7,
} as const;

/** The exit code of each error class (shared/errors.ts), as the README documents them. */
const EXIT_OF: Record<ErrorClass, number> = {
  token: EXIT.token,
  store: EXIT.store,
  input: EXIT.invalidInput,
  integrity: EXIT.verification,
  refused: EXIT.refused,
  failure: EXIT.failure,
};

export function exitCodeFor(code: ErrorCode): number {
  return EXIT_OF[errorClass(code)];
}

const USAGE = `Usage: custos [--data-dir DIR] [--module PATH] [--json] <command>

Commands:
  status                              Data directory, token module and tokens
  token list                          Slots and tokens with their PIN counters
  token mechanisms [--serial S --label L]
                                      Mechanisms the token supports (default: the selected token)
  token select --serial S --label L   Remember the token to work with
  module set PATH --as WHO [--passphrase-fd N] [--code CODE]
                                      A security officer saves the PKCS#11 library at PATH
  module reset --as WHO [--passphrase-fd N] [--code CODE]
                                      A security officer returns to the embedded SoftHSM2
  custodian list
  custodian enrol --name NAME --role ROLE [--role ROLE] --officer WHO [--officer WHO]
                  [--passphrase-fd N]… [--code CODE]… [--secret-out FILE]
                                      Enrol: each approving security officer's passphrase and code
                                      (two officers for a new security officer once two exist; none
                                      only for the installation's first security officer), the new
                                      custodian's passphrase (asked twice), the authenticator key and
                                      QR, then the first code. --passphrase-fd: the new custodian's
                                      first, then each officer's; --code: each officer's in --officer
                                      order (the new custodian's first code is asked, or read from stdin).
                                      --secret-out FILE: the authenticator key is written to a new 0600
                                      file instead of the screen, then the first code is read
  custodian check --id WHO [--passphrase-fd N] [--code CODE]
  custodian unlock --id WHO --officer WHO [--passphrase-fd N] [--code CODE]
  custodian retire --id WHO --officer WHO [--officer WHO] [--passphrase-fd N]… [--code CODE]…
                                      Retire someone who left: their factors are refused from then
                                      on, their name stays on record. One security officer for a
                                      custodian or auditor (never themselves); two other officers for
                                      a security officer, or the only other one and the leaving
                                      officer (--officer with their own id). Factors in --officer order
${CEREMONY_USAGE}${SCRIPT_USAGE}${TRANSPORT_USAGE}${PKI_USAGE}${REPORT_USAGE}  audit verify [--bundle DIR] [--checkpoint FILE]… [--key PEM]
                                      Check every signature, the Merkle tree and every checkpoint
                                      (of the live log, or of an exported bundle: no database needed)
  audit export --out PATH [--format bundle|csv|cef] [--trail all|key-management]
  audit checkpoint                    Sign a checkpoint of the log now and print it
  audit repair-tree                   Rebuild the stored Merkle tree from the entries (recorded)
  audit key [--verifier]              The audit public key (PEM), or its signed-note verifier key
  audit copy --file PATH | --off      Also keep the latest checkpoint in PATH (removable media)
  audit proof --seq N [--size M]      Inclusion proof of entry N in the log of size M
  audit consistency --from A [--to B] Consistency proof between two log sizes
  data-dir adopt                      This copy of a data directory is its installation from now on
                                      (a copy is refused as DATA_DIR_COPIED while the original exists)

Quorum actions (\`custos proposal actions\`; give each as --param NAME=VALUE):
${actionsHelp()}
WHO is a custodian's id or name (\`custos custodian list\`). Factors: --passphrase-fd N reads a passphrase
from file descriptor N, --code CODE gives a 6-digit code; whatever is not given is asked at the terminal.

Options:
  --data-dir DIR   Data directory (default: CUSTOS_DATA_DIR, else the desktop app's)
  --module PATH    PKCS#11 library for this run only (default: CUSTOS_PKCS11_MODULE, else Settings)
  --json           Machine-readable output: {"ok":true,"value":…} or {"ok":false,"error":{code,message,remedy}}
  --version, --help
`;

export async function runCli(argv: readonly string[], terminal: Io, version: string): Promise<number> {
  // Labels, names and paths in the output came from files, the database or other people: none steers the terminal.
  const io: Io = {
    ...terminal,
    stdout: (text) => terminal.stdout(printable(text, true)),
    stderr: (text) => terminal.stderr(printable(text, true)),
  };
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        'data-dir': { type: 'string' },
        module: { type: 'string' },
        json: { type: 'boolean', default: false },
        serial: { type: 'string' },
        label: { type: 'string' },
        bundle: { type: 'string' },
        checkpoint: { type: 'string', multiple: true },
        key: { type: 'string' },
        verifier: { type: 'boolean', default: false },
        out: { type: 'string' },
        format: { type: 'string' },
        trail: { type: 'string' },
        seq: { type: 'string' },
        size: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        name: { type: 'string' },
        role: { type: 'string', multiple: true },
        id: { type: 'string' },
        officer: { type: 'string', multiple: true },
        code: { type: 'string', multiple: true },
        'passphrase-fd': { type: 'string', multiple: true },
        holder: { type: 'string', multiple: true },
        threshold: { type: 'string' },
        'new-label': { type: 'string' },
        force: { type: 'boolean' },
        'pin-alphabet': { type: 'string' },
        custody: { type: 'string' },
        action: { type: 'string' },
        param: { type: 'string', multiple: true },
        as: { type: 'string', multiple: true },
        fingerprint: { type: 'string' },
        reason: { type: 'string' },
        transition: { type: 'string' },
        'cards-dir': { type: 'string' },
        'card-fd': { type: 'string', multiple: true },
        'secret-out': { type: 'string' },
        set: { type: 'string' },
        file: { type: 'string' },
        'expect-audit-key': { type: 'string' },
        dir: { type: 'string' },
        ceremony: { type: 'string' },
        inventory: { type: 'boolean', default: false },
        revocation: { type: 'string' },
        impact: { type: 'string' },
        'as-of': { type: 'string' },
        standard: { type: 'string' },
        certificate: { type: 'string' },
        profile: { type: 'string' },
        csr: { type: 'string' },
        level: { type: 'string' },
        'module-path': { type: 'string' },
        'require-rehearsal': { type: 'string' },
        package: { type: 'string' },
        off: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
        version: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    io.stderr(`${(error as Error).message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  const { values, positionals } = parsed;
  if (values.help) return (io.stdout(USAGE), EXIT.ok);
  if (values.version) return (io.stdout(`custos ${version}\n`), EXIT.ok);
  const command = positionals.join(' ');
  const json = values.json;
  if (command === 'audit verify' && values.bundle !== undefined) return verifyBundle(values, io);
  const dataDirExists = existsSync(resolveDataDir(values['data-dir'], io.env));
  if (command === 'report verify' && values.key === undefined && !dataDirExists) {
    // Opening a data directory here would create an installation whose new key fails every genuine report.
    const message = 'There is no Custos data directory here to take the audit key from: give --key PEM.';
    const error = new CustosError('IPC_INVALID_PAYLOAD', message, [
      'Give --key the audit-key.pem you trust (an earlier report, a printout), and --bundle DIR if you have one.',
    ]);
    return reportFailure(error, json, io);
  }
  if (standaloneReportVerify(command, values, dataDirExists)) {
    try {
      const shown = renderVerdict((await verifyReportCommand(values, null)).verdict);
      return report(
        shown.ok ? { ok: true, value: shown } : { ok: false, error: shown.error! },
        json,
        io,
        () => shown.text,
      );
    } catch (error) {
      if (!isCustosError(error)) throw error;
      return reportFailure(error, json, io);
    }
  }
  if (command === 'proposal actions') {
    // The catalogue is the same everywhere: no data directory or token needed to read it.
    return report(
      { ok: true, value: actionsHelp() },
      json,
      io,
      ((text: string) => `Quorum actions and their parameters (--param NAME=VALUE):\n${text}`) as (v: never) => string,
    );
  }
  if (command === 'ceremony templates' || (positionals[0] === 'ceremony' && positionals[1] === 'template')) {
    // The shipped templates need no data directory or token, like the action catalogue.
    try {
      if (command === 'ceremony templates') {
        const list = listTemplates();
        return report(
          { ok: true, value: list },
          json,
          io,
          (() =>
            `${list.map((t) => `${t.name.padEnd(24)} ${t.title}`).join('\n')}\n` +
            'Copy one to fill in: custos ceremony template NAME > my-ceremony.yml\n') as (v: never) => string,
        );
      }
      const text = templateText(positionals[2] ?? '');
      return report({ ok: true, value: text }, json, io, (() => text) as (v: never) => string);
    } catch (caught) {
      if (!isCustosError(caught)) throw caught;
      return reportFailure(caught, json, io);
    }
  }
  if (positionals[0] === 'ceremony' && positionals[1] === 'rehearse') {
    const file = positionals[2];
    if (!file) return report(usageFailure('ceremony rehearse needs the script FILE.').envelope, json, io, () => '');
    // The real installation, with its own token library; the rehearsal process uses its embedded SoftHSM2 token.
    let core: CustosCore;
    try {
      core = CustosCore.open({
        dataDir: resolveDataDir(values['data-dir'], io.env),
        version,
        production: true,
        moduleOverride: values.module ?? io.env.CUSTOS_PKCS11_MODULE,
        operator: 'cli',
        log: silentLog,
        spawnRehearsal: io.spawnRehearsal ?? rehearsalProcess(),
        ...(io.clock ? { clock: io.clock } : {}),
      });
    } catch (error) {
      if (!isCustosError(error)) throw error;
      return reportFailure(error, json, io);
    }
    try {
      const result = await rehearse(file, core, values, io);
      return report(result.envelope, json, io, result.render, result.failed);
    } catch (caught) {
      const error = isCustosError(caught) ? caught : fileError(caught);
      if (!error) throw caught;
      return reportFailure(error, json, io);
    } finally {
      core.close();
    }
  }
  const request = requestFor(command, positionals, values, io);
  if (!request) {
    io.stderr(`Unknown command: ${command ? shown(command) : '(none)'}\n\n${USAGE}`);
    return EXIT.usage;
  }

  let core: CustosCore;
  try {
    core = CustosCore.open({
      dataDir: resolveDataDir(values['data-dir'], io.env),
      version,
      production: true,
      moduleOverride: values.module ?? io.env.CUSTOS_PKCS11_MODULE,
      pickModule: () =>
        Promise.resolve(positionals[0] === 'module' && positionals[1] === 'set' ? (positionals[2] ?? null) : null),
      operator: 'cli',
      ...consoleFiles(command, values),
      log: silentLog,
      ...(io.clock ? { clock: io.clock } : {}),
    });
  } catch (error) {
    if (!isCustosError(error)) throw error;
    return reportFailure(error, json, io);
  }
  try {
    const result = await request(core);
    return report(result.envelope, json, io, result.render, result.failed);
  } catch (caught) {
    // Commands that call the core directly (verify, export, proofs) fail with the same codes; a file
    // named on the command line that cannot be used gets its own.
    const error = isCustosError(caught) ? caught : fileError(caught);
    if (!error) throw caught;
    return reportFailure(error, json, io);
  } finally {
    core.close();
  }
}

/**
 * `--secret-out` names a new file: one already there (or a link) is refused before the officers' factors are tried,
 * since their codes would be spent on an enrolment that cannot go on. Writing it with `wx` stays the real guard.
 */
function refuseExistingSecretOut(path: string | undefined): void {
  if (path === undefined) return;
  try {
    lstatSync(resolve(path));
  } catch {
    return;
  }
  throw new CustosError(
    'FILE_EXISTS',
    `${shown(resolve(path))} already exists; nothing was overwritten and nobody's factors were asked.`,
    ['Name a new file for --secret-out, or move the existing one away first.'],
  );
}

function requestFor(
  command: string,
  positionals: string[],
  values: Values & { serial?: string | undefined; label?: string | undefined },
  io: Io,
): Request | null {
  const ref = values.serial !== undefined ? { serial: values.serial, label: values.label ?? '' } : null;
  switch (command) {
    case 'status':
      return call(
        'app.snapshot',
        {},
        (s) =>
          `Data directory: ${s.dataDir}\n${renderStatus(s.tokens)}Selected token: ${s.selectedToken ? `${s.selectedToken.label} (${s.selectedToken.serial})` : 'none'}\n${renderAuditStatus(s.audit)}`,
      );
    case 'token list':
      return call('tokens.status', {}, renderStatus);
    case 'token mechanisms':
      return async (core) => {
        const target = ref ?? core.tokens.selected();
        if (!target) {
          const error: WireError = {
            code: 'TOKEN_NOT_FOUND',
            message: 'No token given and none selected.',
            remedy: ['Pass --serial and --label, or run `custos token select` first.'],
          };
          return { envelope: { ok: false, error }, render: () => '' };
        }
        return call('tokens.mechanisms', target, renderMechanisms)(core);
      };
    case 'token select':
      return call('tokens.select', ref ?? { serial: '', label: '' }, (t) => `Selected ${t.label} (${t.serial}).\n`);
    case 'audit verify':
      return async (core) => {
        const checkpoints = ((values.checkpoint as string[] | undefined) ?? []).flatMap(checkpointsIn);
        const key = typeof values.key === 'string' ? readSmallFile(values.key) : undefined;
        const progress = progressPrinter(io, values.json === true);
        const stop = core.events.subscribe((event, payload) => {
          if (event === 'audit.verifyProgress') {
            const { checked, total } = payload as { checked: number; total: number };
            progress(checked, total);
          }
        });
        try {
          const answer = await core.router.dispatch('audit.verify', {
            ...(checkpoints.length > 0 ? { trustedCheckpoints: checkpoints } : {}),
            ...(key !== undefined ? { key } : {}),
          });
          if (!answer.ok) return { envelope: answer, render: () => '' };
          return verdictResult(answer.value as AuditVerdict);
        } finally {
          stop();
        }
      };
    case 'audit export': {
      const format = str(values.format) ?? 'bundle';
      const trail = str(values.trail) ?? 'all';
      if (!str(values.out)) return async () => usageFailure('audit export needs --out PATH.');
      return call(
        'audit.export',
        { format: format as 'bundle', trail: trail as 'all' },
        (r) =>
          `Exported ${r.entries} entries to ${r.path}\nClosing checkpoint (keep it somewhere else):\n${r.checkpoint.note}`,
      );
    }
    case 'audit checkpoint':
      return call('audit.checkpoint', {}, (c) => c.note);
    case 'audit repair-tree':
      return call(
        'audit.repairTree',
        {},
        (r) =>
          `Rebuilt the audit tree from its ${r.size} entries: ${r.rewritten} stored nodes rewritten. ` +
          `The repair is recorded in the log.\nRoot: ${r.root}\n`,
      );
    case 'audit key':
      return call('audit.publicKey', {}, (k) => (values.verifier ? `${k.verifierKey}\n` : k.pem));
    case 'audit copy': {
      if ((str(values.file) === undefined) === !values.off)
        return async () => usageFailure('audit copy needs --file PATH (an absolute path) or --off.');
      return call('audit.anchorCopy', { keep: values.off !== true }, (v) =>
        v.path
          ? `The latest checkpoint is now also kept in ${v.path}.\n`
          : 'The latest checkpoint is kept in the audit token only.\n',
      );
    }
    case 'audit proof':
      return call(
        'audit.proof',
        {
          seq: whole(values.seq),
          ...(values.size === undefined ? {} : { size: whole(values.size) }),
        },
        (v) => `${JSON.stringify(v, null, 2)}\n`,
      );
    case 'audit consistency':
      return call(
        'audit.consistency',
        {
          from: whole(values.from),
          ...(values.to === undefined ? {} : { to: whole(values.to) }),
        },
        (v) => `${JSON.stringify(v, null, 2)}\n`,
      );
    case 'custodian list':
      return call('custodians.list', {}, (list) =>
        list.length === 0
          ? 'No custodians are enrolled.\n'
          : list.map((c) => `${c.id}  ${c.name.padEnd(24)} ${c.roles.join(', ').padEnd(34)} ${standing(c)}\n`).join(''),
      );
    case 'custodian enrol':
      return async (core) => {
        const officerIds = ((values.officer as string[] | undefined) ?? []).map((who) => custodianId(core, who));
        refuseExistingSecretOut(str(values['secret-out']));
        const passphrase = await readPassphrase(values, io, true);
        const fds = (values['passphrase-fd'] as string[] | undefined) ?? [];
        const codes = (values.code as string[] | undefined) ?? [];
        const officers = [];
        for (const [i, id] of officerIds.entries()) {
          const who = core.custodians.list().find((c) => c.id === id)?.name ?? `Security officer ${id}`;
          // The new custodian's passphrase is the first fd; each officer's code is the i-th --code.
          officers.push(await factors(id, who, { 'passphrase-fd': fds.slice(1), code: codes }, io, i));
        }
        const roles = (values.role as string[] | undefined) ?? ['custodian'];
        const begun = await core.router.dispatch('custodians.enrolBegin', {
          name: str(values.name) ?? '',
          roles,
          passphrase,
          ...(officers.length ? { officers } : {}),
        });
        if (!begun.ok) return { envelope: begun, render: () => '' };
        const challenge = begun.value as { enrolmentId: string; secret: string; uri: string; expiresAt: string };
        const secretOut = str(values['secret-out']);
        if (secretOut) {
          // For a script: the key goes to a new 0600 file, never to the screen; the code is read next (--code or
          // stdin).
          writeFileSync(resolve(secretOut), `${challenge.secret}\n${challenge.uri}\n`, { mode: 0o600, flag: 'wx' });
          io.stderr(
            `The authenticator key is in ${resolve(secretOut)} until ${challenge.expiresAt}; delete it once the authenticator holds it.\n`,
          );
        } else {
          io.stderr(
            `\nAdd this key to the authenticator app (shown only now):\n  ${challenge.secret.match(/.{1,4}/g)!.join(' ')}\n  ${challenge.uri}\n${await QRCode.toString(challenge.uri, { type: 'terminal', small: true })}\n`,
          );
        }
        const code = codes[officerIds.length] ?? (await ask(io, '6-digit code from the authenticator: ', false));
        const confirmed = await core.router.dispatch('custodians.enrolConfirm', {
          enrolmentId: challenge.enrolmentId,
          code,
        });
        return {
          envelope: confirmed,
          render: ((c: { id: string; name: string }) => `${c.name} is enrolled (id ${c.id}).\n`) as (
            v: never,
          ) => string,
        };
      };
    case 'custodian check':
      return async (core) => {
        const id = custodianId(core, str(values.id) ?? '');
        const passphrase = await readPassphrase(values, io, false);
        const code = str(values.code) ?? (await ask(io, '6-digit code: ', false));
        return call(
          'custodians.check',
          { custodianId: id, passphrase, code },
          () => 'Both factors are correct.\n',
        )(core);
      };
    case 'custodian unlock':
      return async (core) => {
        const [id, officerId] = [custodianId(core, str(values.id) ?? ''), custodianId(core, str(values.officer) ?? '')];
        const passphrase = await readPassphrase(values, io, false);
        const code = str(values.code) ?? (await ask(io, 'Security officer’s 6-digit code: ', false));
        return call(
          'custodians.unlock',
          { custodianId: id, officerId, passphrase, code },
          (c) => `${c.name} is unlocked.\n`,
        )(core);
      };
    case 'custodian retire':
      return async (core) => {
        const id = custodianId(core, str(values.id) ?? '');
        const officerIds = ((values.officer as string[] | undefined) ?? []).map((who) => custodianId(core, who));
        const names = new Map(core.custodians.list().map((c) => [c.id, c.name]));
        const officers = [];
        for (const [i, officerId] of officerIds.entries())
          officers.push(await factors(officerId, names.get(officerId) ?? officerId, values, io, i));
        return call(
          'custodians.retire',
          { custodianId: id, officers },
          (c) => `${c.name} is retired: their passphrase and codes approve nothing from now on.\n`,
        )(core);
      };
    case 'data-dir adopt':
      return call('app.adoptCopy', {}, (v) =>
        v.adopted
          ? `This data directory is now installation ${v.installation}, recorded in its audit log. ` +
            `Never start the original at ${v.from} again.\n`
          : 'This data directory is not a copy of an installation in use elsewhere: nothing to confirm.\n',
      );
    case 'module reset':
      return async (core) =>
        call(
          'settings.setModule',
          { source: 'built-in', officer: await officerFactors(core, values, io) },
          renderStatus,
        )(core);
    default:
      {
        const ceremony =
          ceremonyRequest(command, values, io) ??
          scriptRequest(command, positionals, values, io) ??
          transportRequest(command, values, io) ??
          reportRequest(command, values, io) ??
          pkiRequest(command, values);
        if (ceremony) return ceremony;
      }
      if (positionals[0] === 'module' && positionals[1] === 'set' && positionals.length === 3) {
        // The path reaches the core through its picker (see runCli), never inside the request.
        return async (core) =>
          call(
            'settings.setModule',
            { source: 'picked', officer: await officerFactors(core, values, io) },
            renderStatus,
          )(core);
      }
      return null;
  }
}

/**
 * Reads the CLI answers itself rather than through the router are recorded like every request:
 * after they answer, and refusals too (with their code).
 */
/** A person's standing in `custodian list`: retired, locked out, failed tries, or ready. */
function standing(c: CustodianSummary): string {
  if (c.retiredAt) return `RETIRED ${c.retiredAt.slice(0, 10)}`;
  return c.locked ? 'LOCKED' : c.failures ? `${c.failures} failed` : 'ready';
}

/** The security officer (--as ID) proving both factors: choosing the token module is their decision. */
function officerFactors(core: CustosCore, values: Values, io: Io) {
  const id = custodianId(core, str(values.as) ?? '');
  return factors(id, 'The security officer', values, io);
}

function verifyOptions(values: Values, io: Io): VerifyOptions {
  const checkpoints = (values.checkpoint as string[] | undefined) ?? [];
  return {
    trustedCheckpoints: checkpoints.flatMap(checkpointsIn),
    ...(typeof values.key === 'string' ? { key: keyFromPem(values.key, values) } : {}),
    onProgress: progressPrinter(io, values.json === true),
  };
}

/** A checkpoint or a key named on the command line: a few hundred bytes, never a device or a huge file. */
function readSmallFile(path: string): string {
  const limit = { bytes: 65_536, code: 'IPC_INVALID_PAYLOAD', what: 'a checkpoint or public key file' } as const;
  return readBoundedText(path, limit);
}

/**
 * The checkpoints a file holds. Someone who keeps every closing checkpoint in one file (each export's, appended) gave
 * several signed notes, which were read as one and said to be forged. A note ends with its signature lines (“— name
 * signature”) after a blank line; the next line that is not one begins the next note.
 */
function checkpointsIn(path: string): string[] {
  const text = readSmallFile(path);
  const notes: string[][] = [];
  let note: string[] = [];
  let signed = false;
  for (const line of text.split('\n')) {
    if (signed && !line.startsWith('— ')) {
      notes.push(note);
      [note, signed] = [[], false];
    }
    if (note.length === 0 && line.trim() === '') continue;
    note.push(line);
    if (line.startsWith('— ') && note.includes('')) signed = true;
  }
  if (note.length > 0) notes.push(note);
  return notes.length > 1 ? notes.map((lines) => `${lines.join('\n')}\n`) : [text];
}

function keyFromPem(path: string, values: Values): NoteKey {
  const text = readSmallFile(path);
  // A signed-note verifier key carries its name; a bare PEM takes the name from the bundle or log.
  if (!text.includes('BEGIN')) return parseVerifierKey(text.trim());
  return { name: String(values.origin ?? ''), publicKey: publicKeyFromPem(text) };
}

/** Prints progress on stderr for large logs, at most every tenth of the way. */
function progressPrinter(io: Io, quiet: boolean) {
  let shown = 0;
  return (checked: number, total: number | undefined) => {
    if (quiet || !total || total < 50_000) return;
    const tenth = Math.floor((checked / total) * 10);
    if (tenth > shown) {
      shown = tenth;
      io.stderr(`Verifying… ${checked.toLocaleString('en')} of ${total.toLocaleString('en')} entries\n`);
    }
  };
}

const keySources: Record<AuditVerdict['keySource'], string> = {
  pinned: 'the key you gave',
  token: 'the key the audit token proved it holds',
  record: 'the first key on record in the database',
  bundle: 'the key inside the bundle itself',
};

function trustLine(v: AuditVerdict): string {
  const line = `Trusted key (${keySources[v.keySource]}): ${v.trustedKey}\n`;
  if (v.anchored) return line;
  return `${line}WARNING: nothing from outside vouches for that key, so this shows only that the log is consistent with it.\n  Pass --key with the audit key from a source you trust (a ceremony report, a printout), or --checkpoint, to prove it is your Custos log.\n`;
}

/**
 * The files a command names on its command line, handed to the core as the person at the console's choice: the
 * same requests as the app's, and each command can write only where its own option says.
 */
function consoleFiles(command: string, values: Values): Pick<CoreOptions, 'chooseDestination' | 'pickBackupFile'> {
  const out = str(values.out);
  const file = str(values.file);
  const chosen: Partial<Record<DestinationKind, Destination>> = {
    ...(command === 'backup export' && out ? { 'backup-file': { path: resolve(out), replace: true } } : {}),
    ...(command === 'audit export' && out ? { 'audit-export': { path: resolve(out), replace: false } } : {}),
    ...((command === 'report create' || command === 'compliance report') && out
      ? { 'report-folder': { path: resolve(out), replace: values.force === true } }
      : {}),
    ...(command === 'compliance practice-statement' && out
      ? { 'practice-statement': { path: resolve(out), replace: values.force === true } }
      : {}),
    ...(command === 'audit copy' && file ? { 'anchor-copy': { path: resolve(file), replace: true } } : {}),
    ...(command === 'transport write' && out
      ? { 'transport-package': { path: resolve(out), replace: values.force === true } }
      : {}),
  };
  return {
    chooseDestination: (kind) => chosen[kind] ?? null,
    ...(command === 'backup import' && file ? { pickBackupFile: () => Promise.resolve(resolve(file)) } : {}),
  };
}

function verdictResult(verdict: AuditVerdict) {
  const render = ((v: AuditVerdict) =>
    v.ok
      ? `Audit log verified: ${v.entries} entries, ${v.checkpoints} checkpoints, every signature and checkpoint good.\nRoot (size ${v.treeSize}): ${v.root}\n${trustLine(v)}`
      : '') as (v: never) => string;
  if (verdict.ok) return { envelope: { ok: true as const, value: verdict }, render };
  const first = verdict.first!;
  const where = first.seq === null ? '' : ` at entry ${first.seq}`;
  const error: WireError = {
    code: 'AUDIT_VERIFY_FAILED',
    message: `The audit log FAILED verification${where} (${first.kind}): ${first.message}`,
    remedy: [
      `Checked against ${keySources[verdict.keySource]}: ${verdict.trustedKey}`,
      ...verdict.problems.slice(1, 10).map((p) => `also: ${p.message}`),
      'Keep this machine as it is and tell your security officer and auditor.',
    ],
  };
  return { envelope: { ok: false as const, error }, render };
}

async function verifyBundle(values: Values, io: Io): Promise<number> {
  try {
    const bundle = readBundle(resolve(String(values.bundle)));
    const options = verifyOptions({ ...values, origin: bundle.key.name }, io);
    const verdict = await verifyAuditLog({
      ...bundle,
      key: options.key ?? bundle.key,
      keySource: options.key ? 'pinned' : 'bundle',
      trustedCheckpoints: options.trustedCheckpoints ?? [],
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    const { envelope, render } = verdictResult(verdict);
    return report(envelope, values.json === true, io, render);
  } catch (error) {
    if (!isCustosError(error)) throw error;
    return report(
      { ok: false, error: { code: error.code, message: error.message, remedy: [...error.remedy] } },
      values.json === true,
      io,
      () => '',
    );
  }
}

/** A refusal or failure the core raised, printed as any other (its code decides the exit code). */
function reportFailure(error: { code: ErrorCode; message: string; remedy: readonly string[] }, json: boolean, io: Io) {
  return report(
    { ok: false, error: { code: error.code, message: error.message, remedy: [...error.remedy] } },
    json,
    io,
    () => '',
  );
}

function report(
  envelope: Envelope<unknown>,
  json: boolean,
  io: Io,
  render: (value: never) => string,
  failed?: WireError,
): number {
  const error = envelope.ok ? failed : envelope.error;
  if (json) {
    // A failure set off by a request that went through keeps the request's answer beside the error.
    const shown = envelope.ok && failed ? { ok: false, error: failed, value: envelope.value } : envelope;
    io.stdout(`${JSON.stringify(shown, null, 2)}\n`);
  } else {
    if (envelope.ok) io.stdout(render(envelope.value as never));
    if (error)
      io.stderr(`Error ${error.code}: ${error.message}\n${error.remedy.map((step) => `  → ${step}\n`).join('')}`);
  }
  return error ? exitCodeFor(error.code) : EXIT.ok;
}

function renderStatus(status: ModuleStatus): string {
  if (status.state === 'unavailable') return `Token module unavailable (${status.code}): ${status.message}\n`;
  const m = status.module;
  const lines = [
    `Module: ${m.path} — ${m.manufacturer} ${m.libraryDescription} ${m.libraryVersion}${m.kind === 'embedded-softhsm' ? ' [embedded]' : ''}`,
  ];
  if (m.notice) lines.push(`  ! ${m.notice}`);
  for (const slot of status.slots) {
    const t = slot.token;
    if (!t) lines.push(`  Slot “${slot.description}”: no token`);
    else if (!t.initialized) lines.push(`  Slot “${slot.description}”: blank token (${t.model})`);
    else
      lines.push(
        `  Token “${t.label}”  serial ${t.serial}  ${t.manufacturer} ${t.model}  PIN length ${t.minPinLength}–${t.maxPinLength}${t.software.software ? '  [software token]' : ''}`,
      );
    for (const warning of t?.warnings ?? []) if (t?.initialized) lines.push(`    ! ${warning}`);
  }
  return `${lines.join('\n')}\n`;
}

function renderAuditStatus(status: AuditStatus): string {
  if (status.state === 'ready')
    return `Audit log: ready, ${status.size} entries, key ${status.keyId.slice(0, 16)} in token ${status.token.label} (${status.token.serial})\n`;
  return `Audit log UNAVAILABLE (${status.code}): ${status.message}\n${status.remedy.map((step) => `  → ${step}\n`).join('')}`;
}

function renderMechanisms({ token, mechanisms }: TokenMechanisms): string {
  const rows = mechanisms.map(
    (m) =>
      `  ${m.name.padEnd(34)} 0x${m.type.toString(16).padStart(4, '0')}  ${`${m.minKeySize}–${m.maxKeySize}`.padEnd(12)} ${m.functions.join(', ')}`,
  );
  return `Mechanisms of “${token.label}” (${token.serial}): ${mechanisms.length}\n${rows.join('\n')}\n`;
}
