import { detached } from '../modules/database/statement-counter.js';
import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type jose from 'node-jose';
import type { Logger } from 'pino';
import { HUB_CONFIG, type HubConfig } from '../modules/config/hub-config.js';
import { Db } from '../modules/database/db.js';
import { HUB_LOGGER } from '../modules/logging/logger.js';
import { AuditChain } from './audit-chain.js';
import { loadOrCreateSigningKey, signCheckpoint } from './checkpoint-keys.js';

/**
 * Writes a signed checkpoint of the chain head every N appended records or T seconds (when anything is new), and
 * one at shutdown: cutting records off the tail is then detectable up to the last checkpoint.
 */
@Injectable()
export class CheckpointSigner implements OnModuleInit, OnModuleDestroy {
  private key?: jose.JWK.Key;
  private sinceLast = 0;
  private lastSeq = 0;
  private running?: Promise<void>;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly db: Db,
    private readonly chain: AuditChain,
    @Inject(HUB_CONFIG) private readonly config: HubConfig,
    @Inject(HUB_LOGGER) private readonly log: Logger,
  ) {}

  async onModuleInit(): Promise<void> {
    if (!this.config.audit) return;
    this.key = await loadOrCreateSigningKey(this.config.auditKeyFile);
    const res = await this.db.query('SELECT coalesce(max(seq), 0)::text AS seq FROM audit_checkpoint');
    this.lastSeq = Number(res.rows[0].seq);
    this.log.info({ keyFile: this.config.auditKeyFile, kid: this.key.kid, everyRecords: this.config.auditCheckpointRecords, everySeconds: this.config.auditCheckpointSeconds }, 'audit trail on: checkpoints signed');
    this.chain.onAppend((n) => {
      this.sinceLast += n;
      if (this.sinceLast >= this.config.auditCheckpointRecords) void this.checkpoint();
    });
    if (this.config.auditCheckpointSeconds > 0) {
      this.timer = setInterval(() => void this.checkpoint(), this.config.auditCheckpointSeconds * 1000);
      this.timer.unref();
    }
  }

  async onModuleDestroy(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.checkpoint();
  }

  /** Signs the committed head if it moved since the last checkpoint; one at a time. */
  checkpoint(): Promise<void> {
    if (!this.key) return Promise.resolve();
    this.running ??= detached(() => this.write()).finally(() => (this.running = undefined));
    return this.running;
  }

  private async write(): Promise<void> {
    try {
      this.sinceLast = 0;
      const head = await this.db.query(`SELECT seq::text AS seq, encode(hash, 'hex') AS hash FROM audit_chain_head`);
      const seq = Number(head.rows[0].seq);
      if (seq <= this.lastSeq) return;
      const signed = new Date().toISOString();
      const jws = await signCheckpoint(this.key!, { seq, hash: head.rows[0].hash, time: signed });
      await this.db.query(`INSERT INTO audit_checkpoint (seq, hash, signed, jws) VALUES ($1, decode($2, 'hex'), $3, $4)`, [seq, head.rows[0].hash, signed, jws]);
      this.lastSeq = seq;
    } catch (err) {
      this.log.error({ err }, 'audit checkpoint failed');
    }
  }
}
