// SPDX-License-Identifier: Apache-2.0
// The `none` datapath programs nothing: pod→pod traffic with no service machinery, the floor of every comparison.
import type { ClusterState } from '../cluster/state.ts';
import type { AgentInit, DatapathAgent, SyncReport } from './types.ts';

export class NoneAgent implements DatapathAgent {
  private nodeName = '';

  async init(init: AgentInit): Promise<void> {
    this.nodeName = init.node.nodeName;
  }

  async sync(state: ClusterState): Promise<SyncReport> {
    return {
      datapath: 'none',
      node: this.nodeName,
      durationMs: 0,
      renderMs: 0,
      applyMs: 0,
      rules: 0,
      servicePorts: state.services.reduce((n, s) => n + (s.spec?.ports?.length ?? 0), 0),
      endpoints: 0,
      detail: {},
    };
  }

  async cleanup(): Promise<void> {}
}
