// SPDX-License-Identifier: Apache-2.0
// The lab churn executor on a real cluster: pods created at runtime get namespaces, veths and a listener, their
// Services become reachable through the ClusterIP (each measured once per incarnation), a deleted namespace takes
// its pods and Services with it, and nothing the churn created outlives it.
import { describe, expect, it } from 'vitest';
import type { KubernetesObject } from '@kubernetes/client-node';
import { buildClusterState } from '../../src/cluster/objects.ts';
import { LabSet } from '../../src/runner/lab-set.ts';
import { newPrefix } from '../../src/runner/run.ts';
import { loadClusterShape } from '../../src/runner/scenario/load.ts';
import { runChurn, type ChurnAction } from '../../src/workload/churn/executor.ts';
import { isRoot, labNetns, rootReason } from '../helpers/host.ts';

const ns = (name: string): KubernetesObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const svc = (namespace: string, name: string): KubernetesObject =>
  ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] } }) as KubernetesObject;
const pod = (namespace: string, name: string, app: string): KubernetesObject =>
  ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels: { app } }, spec: { containers: [{ name: 'web', image: 'x', ports: [{ containerPort: 8080 }] }] } }) as KubernetesObject;

describe.skipIf(!isRoot)(`lab churn executor (${rootReason})`, () => {
  it('programs runtime pods behind their Services, cascades namespace deletion, and cleans up', async () => {
    const prefix = newPrefix();
    {
      await using labs = await LabSet.create({ prefix, datapaths: ['iptables'], shape: loadClusterShape('lab-2node', 'test'), iptablesBackend: 'legacy' });
      await labs.syncAll((p) => buildClusterState(p, { services: 50, backendsPerService: 3 }));
      const actions: ChurnAction[] = [];
      for (let i = 0; i < 4; i++) {
        const n = `churn-${i}`;
        actions.push({ at: i * 100, op: 'create', object: ns(n) }, { at: i * 100 + 10, op: 'create', object: svc(n, 'web') }, { at: i * 100 + 20, op: 'create', object: pod(n, 'web-0', 'web') });
      }
      // namespace churn-0 goes away (with its pod and Service) and comes back
      actions.push({ at: 3000, op: 'delete', object: ns('churn-0') });
      actions.push({ at: 3500, op: 'create', object: ns('churn-0') }, { at: 3510, op: 'create', object: svc('churn-0', 'web') }, { at: 3520, op: 'create', object: pod('churn-0', 'web-0', 'web') });
      const r = await runChurn({ member: labs.member('iptables'), actions, minSyncMs: 200 });
      expect(r.podsCreated).toBe(5);
      expect(r.servicesCreated).toBe(5);
      // every incarnation of every Service answered through its ClusterIP
      expect(r.unreached).toEqual([]);
      expect(r.programmingLatencyMs.map((l) => l.service).sort()).toEqual(['churn-0/web#1', 'churn-0/web#2', 'churn-1/web#1', 'churn-2/web#1', 'churn-3/web#1']);
      expect(r.programmingLatencyMs.every((l) => l.ms > 0)).toBe(true);
      // the cascade deleted churn-0's pod, and the executor removed the rest at the end
      expect(r.podsDeleted).toBe(5);
      expect(r.syncs.length).toBeGreaterThan(0);
      expect(labNetns().filter((n) => n.startsWith(prefix) && /-c\d+$/.test(n))).toEqual([]);
    }
    expect(labNetns().filter((n) => n.startsWith(prefix))).toEqual([]);
  }, 120_000);
});
