import { describe, expect, it } from 'vitest';
import { TOPICS, topicNames } from '../../../../../services/shared/kafka/topics.ts';

describe('topic definitions', () => {
  it('prefixes every topic name and keeps names Kafka-legal', () => {
    const names = topicNames('acme.');
    expect(names.transactions).toBe('acme.transactions');
    expect(names.terminalStatus).toBe('acme.terminal-status');
    for (const n of Object.values(names)) expect(n).toMatch(/^[A-Za-z0-9._-]{1,249}$/);
    expect(new Set(Object.values(names)).size).toBe(Object.keys(TOPICS).length);
  });

  it('compacts the status topic and deletes by age everywhere else', () => {
    for (const [key, spec] of Object.entries(TOPICS)) {
      const policy = spec.config['cleanup.policy'];
      if (key === 'terminalStatus') expect(policy).toBe('compact');
      else {
        expect(policy).toBe('delete');
        expect(Number((spec.config as Record<string, string>)['retention.ms'])).toBeGreaterThan(0);
      }
    }
  });

  it('names the Avro record of every event topic', () => {
    expect(TOPICS.transactions.schema).toBe('TransactionEvent');
    expect(TOPICS.heartbeats.schema).toBe('TerminalHeartbeat');
    expect(TOPICS.kpiUpdates.schema).toBe('KpiUpdate');
    expect(TOPICS.alerts.schema).toBe('Alert');
  });
});
