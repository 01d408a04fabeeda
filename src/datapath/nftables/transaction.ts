// SPDX-License-Identifier: Apache-2.0
// A builder of `nft -f` transactions in the text knftables writes (sigs.k8s.io/knftables Transaction.String):
// one command per line, all on one table, counting the rules and elements it writes.
import { FAMILY_TABLE } from './chains.ts';

const quote = (s: string) => `"${s.replaceAll('"', '\\"')}"`;

export class Transaction {
  private readonly lines: string[] = [];
  /** "container { key" → value of the elements written so far */
  private readonly written = new Map<string, string>();
  rules = 0;
  elements = 0;

  private cmd(line: string): void {
    this.lines.push(line);
  }

  addTable(comment: string): void {
    this.cmd(`add table ${FAMILY_TABLE} { comment ${quote(comment)} ; }`);
  }

  /** spec is the body between braces, e.g. "type filter hook input priority 0 ;" */
  addChain(name: string, spec?: string): void {
    this.cmd(`add chain ${FAMILY_TABLE} ${name}${spec ? ` { ${spec} }` : ''}`);
  }
  flushChain(name: string): void {
    this.cmd(`flush chain ${FAMILY_TABLE} ${name}`);
  }
  deleteChain(name: string): void {
    this.cmd(`delete chain ${FAMILY_TABLE} ${name}`);
  }

  addSet(kind: 'set' | 'map', name: string, spec: string): void {
    this.cmd(`add ${kind} ${FAMILY_TABLE} ${name} { ${spec} }`);
  }
  flushSet(kind: 'set' | 'map', name: string): void {
    this.cmd(`flush ${kind} ${FAMILY_TABLE} ${name}`);
  }
  deleteSet(name: string): void {
    this.cmd(`delete set ${FAMILY_TABLE} ${name}`);
  }

  rule(chain: string, rule: string, comment?: string): void {
    this.rules++;
    this.cmd(`add rule ${FAMILY_TABLE} ${chain} ${rule}${comment ? ` comment ${quote(comment)}` : ''}`);
  }

  /**
   * key parts are joined with " . "; a map element has a value (a verdict here). Like upstream's
   * nftElementStorage.ensureElem, a key is written once per transaction (a service's cluster IP serves all its
   * ports) and a second value for it replaces the first.
   */
  element(container: string, key: readonly (string | number)[], value?: string, comment?: string): void {
    const k = `${container} { ${key.join(' . ')}`;
    const seen = this.written.get(k);
    if (seen !== undefined) {
      if (seen === (value ?? '')) return;
      this.cmd(`delete element ${FAMILY_TABLE} ${k} }`);
      this.elements--;
    }
    this.written.set(k, value ?? '');
    this.elements++;
    const c = comment ? ` comment ${quote(comment)}` : '';
    this.cmd(`add element ${FAMILY_TABLE} ${k}${c}${value ? ` : ${value}` : ''} }`);
  }

  toString(): string {
    return this.lines.length ? `${this.lines.join('\n')}\n` : '';
  }
}
