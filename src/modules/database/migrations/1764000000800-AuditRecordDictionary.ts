import type { MigrationInterface, QueryRunner } from 'typeorm';
import { dictionaryEntries } from '../../../audit/record-dictionary.js';

/**
 * Records are stored with the constant parts of an AuditEvent written as tokens (src/audit/record-dictionary.ts).
 * `audit_event_json(content)` gives the AuditEvent itself as jsonb, for the searches evaluated on the event (type,
 * subtype, action, outcome): the stored text with every token replaced by its text. Records stored before hold no
 * token and are cast as they are. When the dictionary grows, a new migration re-creates this function.
 */
export class AuditRecordDictionary1764000000800 implements MigrationInterface {
  name = 'AuditRecordDictionary1764000000800';

  async up(q: QueryRunner): Promise<void> {
    const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;
    let expr = 'content';
    for (const [token, text] of dictionaryEntries()) expr = `replace(${expr}, chr(1) || ${literal(token.slice(1))}, ${literal(text)})`;
    await q.query(`
      CREATE FUNCTION audit_event_json(content text) RETURNS jsonb LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT (CASE WHEN strpos(content, chr(1)) = 0 THEN content ELSE ${expr} END)::jsonb
      $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP FUNCTION audit_event_json(text)');
  }
}
